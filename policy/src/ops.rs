//! Fused, differentiable log-probabilities of chosen tokens: `log_softmax(logits)[target]`.
//!
//! The composed form (`log_softmax` then `gather`) materialises several `(rows, vocab)` tensors
//! forward and backward; with a 151,936-token vocabulary that dominates a training step. The
//! fused CPU op reads each row twice forward (max, then the sum of exponentials) and writes the
//! gradient `g · (onehot − softmax)` in one pass backward. Other devices and f64 logits take the
//! composed path, which gives the same values.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor, D};

use crate::error::{PolicyError, Result};

/// Rows handed to one worker thread at a time.
const ROWS_PER_TASK: usize = 16;

/// The dtype log-probabilities of `dtype` logits come in: f32 for half precision, else the same.
pub(crate) fn logprob_dtype(dtype: DType) -> DType {
    match dtype {
        DType::BF16 | DType::F16 => DType::F32,
        other => other,
    }
}

/// `log_softmax(logits)[r, targets[r]]` for logits `(rows, vocab)` → `(rows,)`, differentiable
/// with respect to `logits`. Half-precision logits are computed in f32.
pub fn target_logprobs(logits: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let (rows, vocab) = logits.dims2()?;
    check_targets("target_logprobs", rows, vocab, targets)?;
    let logits = logits.to_dtype(logprob_dtype(logits.dtype()))?;
    if logits.device().is_cpu() && logits.dtype() == DType::F32 && vocab > 0 {
        let op = TargetLogprobs {
            targets: targets.to_vec(),
        };
        return Ok(logits
            .contiguous()?
            .apply_op1_arc(std::sync::Arc::new(Box::new(op)))?);
    }
    composed_target_logprobs(&logits, targets)
}

/// One target per row, each inside the vocabulary; `caller` names the function in the error.
pub(crate) fn check_targets(
    caller: &str,
    rows: usize,
    vocab: usize,
    targets: &[u32],
) -> Result<()> {
    if targets.len() != rows {
        return Err(PolicyError::InvalidInput(format!(
            "{caller} got {} targets for {rows} rows",
            targets.len()
        )));
    }
    if let Some(bad) = targets.iter().find(|&&t| t as usize >= vocab) {
        return Err(PolicyError::InvalidInput(format!(
            "target token {bad} is out of range for vocabulary size {vocab}"
        )));
    }
    Ok(())
}

/// The reference form: `log_softmax` over the last dimension, then `gather`.
pub fn composed_target_logprobs(logits: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let rows = targets.len();
    let index = Tensor::from_vec(targets.to_vec(), (rows, 1), logits.device())?;
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    Ok(log_probs.gather(&index, 1)?.squeeze(1)?)
}

/// The fused op; it keeps the targets so backward can form the one-hot term.
struct TargetLogprobs {
    targets: Vec<u32>,
}

/// `exp(x)` for `x <= 0` from a range reduction and a degree-6 polynomial (relative error below
/// 2e-7), written without branches so the row loops vectorise.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HIGH: f32 = 0.693_145_75;
    const LN2_LOW: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0;
    let x = if x < -87.0 { -87.0 } else { x };
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let exponent = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let p = 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    p * f32::from_bits(exponent.wrapping_add(127) << 23)
}

/// Largest value of a row (−inf for an empty or all −inf row; NaN propagates as the sum does).
fn row_max(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane = if value > *lane { value } else { *lane };
        }
    }
    tail.iter()
        .chain(lanes.iter())
        .fold(f32::NEG_INFINITY, |max, &v| if v > max { v } else { max })
}

/// `ln Σ exp(x)` of a row.
pub(crate) fn row_log_sum_exp(row: &[f32]) -> f32 {
    let max = row_max(row);
    if !max.is_finite() {
        // All −inf (or +inf / NaN): let ordinary arithmetic give −inf / NaN as log_softmax does.
        return max + row.iter().map(|&x| (x - max).exp()).sum::<f32>().ln();
    }
    let mut lanes = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane += exp_nonpositive(value - max);
        }
    }
    let total: f32 =
        lanes.iter().sum::<f32>() + tail.iter().map(|&v| exp_nonpositive(v - max)).sum::<f32>();
    max + total.ln()
}

/// Runs `work(first_row, rows_chunk)` over `out` split into row blocks on all available cores.
pub(crate) fn for_row_blocks<T: Send>(
    out: &mut [T],
    row_len: usize,
    work: impl Fn(usize, &mut [T]) + Sync,
) {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let block = ROWS_PER_TASK * row_len.max(1);
    if threads <= 1 || out.len() <= block {
        work(0, out);
        return;
    }
    let per_thread = out.len().div_ceil(threads).div_ceil(block) * block;
    std::thread::scope(|scope| {
        for (index, chunk) in out.chunks_mut(per_thread).enumerate() {
            let work = &work;
            scope.spawn(move || work(index * per_thread / row_len.max(1), chunk));
        }
    });
}

/// The f32 data of a contiguous tensor laid out as `layout`.
pub(crate) fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("a fused log-prob op expects contiguous f32 data"),
    }
}

impl CustomOp1 for TargetLogprobs {
    fn name(&self) -> &'static str {
        "target-logprobs"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, vocab) = layout.shape().dims2()?;
        let data = contiguous_f32(storage, layout)?;
        let mut out = vec![0f32; rows];
        for_row_blocks(&mut out, 1, |first, block| {
            for (offset, slot) in block.iter_mut().enumerate() {
                let row = first + offset;
                let values = &data[row * vocab..(row + 1) * vocab];
                *slot = values[self.targets[row] as usize] - row_log_sum_exp(values);
            }
        });
        Ok((CpuStorage::F32(out), Shape::from(rows)))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let (rows, vocab) = arg.dims2()?;
        let result: Vec<f32> = res.to_dtype(DType::F32)?.to_vec1()?;
        let upstream: Vec<f32> = grad_res.to_dtype(DType::F32)?.to_vec1()?;
        let (storage, layout) = arg.storage_and_layout();
        let candle_core::Storage::Cpu(storage) = &*storage else {
            candle_core::bail!("target-logprobs backward expects CPU logits");
        };
        let data = contiguous_f32(storage, layout)?;
        let mut grad = vec![0f32; rows * vocab];
        for_row_blocks(&mut grad, vocab, |first, block| {
            for (offset, out_row) in block.chunks_exact_mut(vocab).enumerate() {
                let row = first + offset;
                let values = &data[row * vocab..(row + 1) * vocab];
                let target = self.targets[row] as usize;
                // log_softmax at the target is `x_t − lse`, so `lse = x_t − result`.
                let mut lse = values[target] - result[row];
                if !lse.is_finite() {
                    lse = row_log_sum_exp(values);
                }
                let g = upstream[row];
                if g == 0.0 {
                    continue;
                }
                for (slot, &x) in out_row.iter_mut().zip(values) {
                    *slot = -g * exp_nonpositive(x - lse);
                }
                out_row[target] += g;
            }
        });
        Ok(Some(Tensor::from_vec(grad, (rows, vocab), arg.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn logits(rows: usize, vocab: usize, seed: u64) -> Tensor {
        let values: Vec<f32> = (0..rows * vocab)
            .map(|i| {
                let h = (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                (h % 20_000) as f32 / 1_000.0 - 10.0
            })
            .collect();
        Tensor::from_vec(values, (rows, vocab), &Device::Cpu).expect("tensor")
    }

    #[test]
    fn fused_matches_composed_forward_and_backward() {
        for (rows, vocab) in [(1, 1), (3, 7), (37, 1000), (40, 33)] {
            let var = Var::from_tensor(&logits(rows, vocab, rows as u64)).expect("var");
            let targets: Vec<u32> = (0..rows).map(|r| ((r * 31) % vocab) as u32).collect();
            let weights = Tensor::from_vec(
                (0..rows).map(|r| r as f32 * 0.25 - 1.0).collect::<Vec<_>>(),
                rows,
                &Device::Cpu,
            )
            .expect("weights");
            let fused = target_logprobs(var.as_tensor(), &targets).expect("fused");
            let composed = composed_target_logprobs(var.as_tensor(), &targets).expect("composed");
            let a: Vec<f32> = fused.to_vec1().expect("a");
            let b: Vec<f32> = composed.to_vec1().expect("b");
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
            }
            let grad_fused = (fused * &weights)
                .expect("mul")
                .sum_all()
                .expect("sum")
                .backward()
                .expect("bwd");
            let grad_composed = (composed * &weights)
                .expect("mul")
                .sum_all()
                .expect("sum")
                .backward()
                .expect("bwd");
            let gf: Vec<Vec<f32>> = grad_fused
                .get(var.as_tensor())
                .expect("gf")
                .to_vec2()
                .expect("v");
            let gc: Vec<Vec<f32>> = grad_composed
                .get(var.as_tensor())
                .expect("gc")
                .to_vec2()
                .expect("v");
            for (rf, rc) in gf.iter().zip(&gc) {
                for (x, y) in rf.iter().zip(rc) {
                    assert!((x - y).abs() <= 1e-6 + 1e-5 * y.abs(), "{x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn strided_half_and_masked_inputs() {
        let base = logits(6, 10, 9);
        let strided = base.t().expect("t");
        let targets = [0u32, 5, 1, 2, 3, 4, 5, 0, 1, 2];
        let fused: Vec<f32> = target_logprobs(&strided, &targets)
            .expect("fused")
            .to_vec1()
            .expect("v");
        let composed: Vec<f32> =
            composed_target_logprobs(&strided.contiguous().expect("c"), &targets)
                .expect("composed")
                .to_vec1()
                .expect("v");
        for (x, y) in fused.iter().zip(&composed) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()));
        }
        let half = base.to_dtype(DType::BF16).expect("bf16");
        assert_eq!(
            target_logprobs(&half, &[0; 6]).expect("bf16").dtype(),
            DType::F32
        );
        let masked =
            Tensor::from_vec(vec![f32::NEG_INFINITY, 0.0, 1.0], (1, 3), &Device::Cpu).expect("t");
        let value: Vec<f32> = target_logprobs(&masked, &[0])
            .expect("masked")
            .to_vec1()
            .expect("v");
        assert_eq!(value[0], f32::NEG_INFINITY);
    }

    #[test]
    fn bad_targets_are_errors() {
        let base = logits(2, 4, 1);
        assert!(target_logprobs(&base, &[0]).is_err());
        assert!(target_logprobs(&base, &[0, 4]).is_err());
    }

    #[test]
    fn polynomial_exp_is_accurate() {
        for i in 0..100_000 {
            let x = -(i as f32) * 0.001;
            let exact = (x as f64).exp();
            let approx = f64::from(exp_nonpositive(x));
            assert!(
                (approx - exact).abs() <= 3e-7 * exact + 1e-37,
                "{x}: {approx} vs {exact}"
            );
        }
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), exp_nonpositive(-87.0));
    }
}
