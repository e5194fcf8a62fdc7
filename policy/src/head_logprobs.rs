//! The output head and the log-probabilities of chosen tokens as one differentiable op:
//! `log_softmax(hidden · weightᵀ)[target]`.
//!
//! Composed from candle ops, a training step keeps the `(rows, vocab)` logits, writes their
//! gradient, and for each node between them candle sums that gradient into a fresh zero-filled
//! buffer: with a 151,936-token vocabulary and 2,040 rows, several 1.24 GB buffers per step. The
//! fused op writes the logits once and keeps them inside the op; backward turns them into their
//! gradient in place and runs the two products from there. The three products are the calls
//! candle's CPU matmul makes for the composed path, and the per-row arithmetic is
//! [`crate::ops::target_logprobs`]'s, so values and gradients are bit-identical to
//! `target_logprobs(&hidden.matmul(&weight.t())?, targets)` (candle without its `mkl` or
//! `accelerate` features, which use other products). An input that is neither a variable nor
//! computed from one gets no gradient product: `HfModel::freeze` on the embedding (tied) or the
//! head skips the largest product of a training step.

use std::sync::{Arc, Mutex, PoisonError};

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};

use crate::error::{PolicyError, Result};
use crate::ops::{check_targets, contiguous_f32, exp_nonpositive, for_row_blocks, row_log_sum_exp};
use crate::skinny::{matmul_transposed, SKINNY_MAX_ROWS};

/// `log_softmax(hidden · weightᵀ)[r, targets[r]]` for hidden `(rows, d)` and weight `(vocab, d)`
/// → `(rows,)`, differentiable with respect to both. f32 CPU inputs with more than
/// [`SKINNY_MAX_ROWS`] rows take the fused op; others (few rows, half precision, other devices)
/// take [`matmul_transposed`] then [`crate::ops::target_logprobs`].
pub fn head_target_logprobs(hidden: &Tensor, weight: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let (rows, d) = hidden.dims2()?;
    let (vocab, weight_d) = weight.dims2()?;
    if d != weight_d {
        return Err(PolicyError::InvalidInput(format!(
            "head_target_logprobs: hidden size {d} does not match the head's {weight_d} columns"
        )));
    }
    // Checked before either path runs its product.
    check_targets("head_target_logprobs", rows, vocab, targets)?;
    if !takes_fused_op(hidden, weight)? {
        return crate::ops::target_logprobs(&matmul_transposed(hidden, weight)?, targets);
    }
    let op = HeadTargetLogprobs {
        targets: targets.to_vec(),
        keep_logits: hidden.track_op() || weight.track_op(),
        saved_logits: Arc::default(),
    };
    Ok(hidden
        .contiguous()?
        .apply_op2_arc(&weight.contiguous()?, Arc::new(Box::new(op)))?)
}

/// Whether [`head_target_logprobs`] takes the fused op: f32 on the CPU, more rows than the
/// skinny product takes, a non-empty vocabulary.
fn takes_fused_op(hidden: &Tensor, weight: &Tensor) -> Result<bool> {
    let (rows, _) = hidden.dims2()?;
    let (vocab, _) = weight.dims2()?;
    Ok(rows > SKINNY_MAX_ROWS
        && vocab > 0
        && hidden.device().is_cpu()
        && weight.device().is_cpu()
        && hidden.dtype() == DType::F32
        && weight.dtype() == DType::F32)
}

/// The fused op. Forward keeps its logits for backward when an input needs a gradient.
struct HeadTargetLogprobs {
    targets: Vec<u32>,
    keep_logits: bool,
    saved_logits: Arc<Mutex<Option<Vec<f32>>>>,
}

/// A matrix operand in a flat slice: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
struct Operand<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl Operand<'_> {
    /// Whether every element of a `rows × cols` matrix lies inside the slice (and every offset
    /// fits an `isize`).
    fn holds(&self, rows: usize, cols: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let last = (rows - 1)
            .checked_mul(self.row_stride)
            .zip((cols - 1).checked_mul(self.col_stride))
            .and_then(|(down, across)| down.checked_add(across));
        last.is_some_and(|last| last < self.data.len() && self.data.len() <= isize::MAX as usize)
    }
}

/// `dst (m × n, contiguous) = lhs (m × k) · rhs (k × n)` through `gemm`, called as candle's CPU
/// matmul calls it (same strides, same parallelism), so results match candle's bit for bit.
fn product(
    dst: &mut [f32],
    (m, n, k): (usize, usize, usize),
    lhs: Operand,
    rhs: Operand,
) -> candle_core::Result<()> {
    if m.checked_mul(n) != Some(dst.len())
        || n > isize::MAX as usize
        || !lhs.holds(m, k)
        || !rhs.holds(k, n)
    {
        candle_core::bail!("head-target-logprobs: product operands do not match ({m}, {n}, {k})");
    }
    let threads = candle_core::utils::get_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `dst` holds exactly m × n elements written with row stride n, and `holds` checked
    // that every element gemm reads from `lhs` (m × k) and `rhs` (k × n) lies inside its slice.
    // `read_dst` is false, so dst's prior contents are never read.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(())
}

/// Logits `(rows, vocab)` of hidden `(rows, d)` against weight `(vocab, d)`: `hidden · weightᵀ`.
fn head_logits(
    hidden: &[f32],
    weight: &[f32],
    rows: usize,
    d: usize,
    vocab: usize,
) -> candle_core::Result<Vec<f32>> {
    let mut logits = vec![0f32; rows * vocab];
    product(
        &mut logits,
        (rows, vocab, d),
        Operand {
            data: hidden,
            row_stride: d,
            col_stride: 1,
        },
        Operand {
            data: weight,
            row_stride: 1,
            col_stride: d,
        },
    )?;
    Ok(logits)
}

impl CustomOp2 for HeadTargetLogprobs {
    fn name(&self) -> &'static str {
        "head-target-logprobs"
    }

    fn cpu_fwd(
        &self,
        hidden_storage: &CpuStorage,
        hidden_layout: &Layout,
        weight_storage: &CpuStorage,
        weight_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, d) = hidden_layout.shape().dims2()?;
        let (vocab, _) = weight_layout.shape().dims2()?;
        let hidden = contiguous_f32(hidden_storage, hidden_layout)?;
        let weight = contiguous_f32(weight_storage, weight_layout)?;
        let logits = head_logits(hidden, weight, rows, d, vocab)?;
        let mut out = vec![0f32; rows];
        for_row_blocks(&mut out, 1, |first, block| {
            for (offset, slot) in block.iter_mut().enumerate() {
                let row = first + offset;
                let values = &logits[row * vocab..(row + 1) * vocab];
                *slot = values[self.targets[row] as usize] - row_log_sum_exp(values);
            }
        });
        if self.keep_logits {
            *self
                .saved_logits
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(logits);
        }
        Ok((CpuStorage::F32(out), Shape::from(rows)))
    }

    fn bwd(
        &self,
        hidden: &Tensor,
        weight: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (rows, d) = hidden.dims2()?;
        let (vocab, _) = weight.dims2()?;
        let result: Vec<f32> = res.to_dtype(DType::F32)?.to_vec1()?;
        let upstream: Vec<f32> = grad_res.to_dtype(DType::F32)?.to_vec1()?;
        let (hidden_guard, hidden_layout) = hidden.storage_and_layout();
        let (weight_guard, weight_layout) = weight.storage_and_layout();
        let (candle_core::Storage::Cpu(hidden_storage), candle_core::Storage::Cpu(weight_storage)) =
            (&*hidden_guard, &*weight_guard)
        else {
            candle_core::bail!("head-target-logprobs backward expects CPU tensors");
        };
        let hidden_data = contiguous_f32(hidden_storage, hidden_layout)?;
        let weight_data = contiguous_f32(weight_storage, weight_layout)?;
        let saved = self
            .saved_logits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // A second backward through the same graph finds the logits gone and computes them again
        // (from the inputs' current values: change no variable between the two).
        let mut grad = match saved {
            Some(logits) => logits,
            None => head_logits(hidden_data, weight_data, rows, d, vocab)?,
        };
        // The logits become `g · (onehot − softmax)` in place, row by row, as target_logprobs does.
        for_row_blocks(&mut grad, vocab, |first, block| {
            for (offset, row_values) in block.chunks_exact_mut(vocab).enumerate() {
                let row = first + offset;
                let target = self.targets[row] as usize;
                let g = upstream[row];
                if g == 0.0 {
                    row_values.fill(0.0);
                    continue;
                }
                // log_softmax at the target is `x_t − lse`, so `lse = x_t − result`.
                let mut lse = row_values[target] - result[row];
                if !lse.is_finite() {
                    lse = row_log_sum_exp(row_values);
                }
                for slot in row_values.iter_mut() {
                    *slot = -g * exp_nonpositive(*slot - lse);
                }
                row_values[target] += g;
            }
        });
        let grad_operand = Operand {
            data: &grad,
            row_stride: vocab,
            col_stride: 1,
        };
        let hidden_grad = if hidden.track_op() {
            let mut out = vec![0f32; rows * d];
            let weight_operand = Operand {
                data: weight_data,
                row_stride: d,
                col_stride: 1,
            };
            product(&mut out, (rows, d, vocab), grad_operand, weight_operand)?;
            Some(Tensor::from_vec(out, (rows, d), hidden.device())?)
        } else {
            None
        };
        let weight_grad = if weight.track_op() {
            // As candle does: (d, vocab) = hiddenᵀ · grad, handed back transposed.
            let mut out = vec![0f32; d * vocab];
            let hidden_transposed = Operand {
                data: hidden_data,
                row_stride: 1,
                col_stride: d,
            };
            product(&mut out, (d, vocab, rows), hidden_transposed, grad_operand)?;
            Some(Tensor::from_vec(out, (d, vocab), weight.device())?.t()?)
        } else {
            None
        };
        Ok((hidden_grad, weight_grad))
    }
}

#[cfg(test)]
mod tests;
