//! `x · Wᵀ` for few rows of `x` (decoding), streaming the `(out, in)` weight once without packing.
//!
//! A general matrix product repacks the whole weight on every call, which for a batch of one to
//! a few dozen rows costs as much as the arithmetic. Here each block of four weight rows is read
//! once and multiplied with every input row while it sits in L1. The arithmetic is plain
//! multiply-then-add in a fixed order (no fused multiply-add), so the portable and the AVX2 builds
//! give the same bits on every processor. Backward uses ordinary matrix products.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::error::Result;

/// Largest number of input rows the skinny product handles; more rows go to the general product.
pub const SKINNY_MAX_ROWS: usize = 8;
/// Smallest weight (elements) the skinny product handles: smaller weights sit in cache, where
/// the general product's packing costs little.
pub const SKINNY_MIN_WEIGHT_ELEMENTS: usize = 1 << 16;
/// Weight rows one parallel task computes.
const ROWS_PER_TASK: usize = 512;
/// Weights below this many elements run on the calling thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 18;
/// Vector width of the inner loop.
const LANES: usize = 8;

/// `x (rows, in) · wᵀ` for `w (out, in)` → `(rows, out)`, differentiable in both arguments.
pub fn matmul_transposed(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if takes_skinny(x, w)? {
        return Ok(x.contiguous()?.apply_op2(w, SkinnyMatmul)?);
    }
    Ok(x.matmul(&w.t()?)?)
}

/// Whether [`matmul_transposed`] takes the skinny op: few rows, a large contiguous weight, f32 on
/// the CPU.
fn takes_skinny(x: &Tensor, w: &Tensor) -> Result<bool> {
    let (rows, _) = x.dims2()?;
    Ok(rows <= SKINNY_MAX_ROWS
        && w.elem_count() >= SKINNY_MIN_WEIGHT_ELEMENTS
        && x.device().is_cpu()
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32
        && w.is_contiguous())
}

/// The custom op: forward streams the weight, backward uses general products.
struct SkinnyMatmul;

impl CustomOp2 for SkinnyMatmul {
    fn name(&self) -> &'static str {
        "skinny-matmul"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        w: &CpuStorage,
        w_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, inner) = x_layout.shape().dims2()?;
        let (out, w_inner) = w_layout.shape().dims2()?;
        if inner != w_inner {
            candle_core::bail!("skinny-matmul: x has {inner} columns, w has {w_inner}");
        }
        let (Some((x0, x1)), Some((w0, w1))) =
            (x_layout.contiguous_offsets(), w_layout.contiguous_offsets())
        else {
            candle_core::bail!("skinny-matmul expects contiguous inputs");
        };
        let x = &x.as_slice::<f32>()?[x0..x1];
        let w = &w.as_slice::<f32>()?[w0..w1];
        Ok((
            CpuStorage::F32(product(x, rows, w, out, inner)),
            Shape::from((rows, out)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_x = grad.matmul(w)?;
        let grad_w = grad.t()?.matmul(x)?;
        Ok((Some(grad_x), Some(grad_w)))
    }
}

/// `(rows, out)` product of row-major `x (rows, inner)` and `w (out, inner)`.
fn product(x: &[f32], rows: usize, w: &[f32], out: usize, inner: usize) -> Vec<f32> {
    let kernel = RowKernel::detect();
    if out * inner < PARALLEL_MIN_ELEMENTS || rows == 0 || inner == 0 {
        let mut result = vec![0f32; rows * out];
        (kernel.run)(x, rows, w, inner, &mut result);
        return result;
    }
    let blocks: Vec<Vec<f32>> = w
        .par_chunks(ROWS_PER_TASK * inner)
        .map(|weights| {
            let mut block = vec![0f32; rows * (weights.len() / inner)];
            (kernel.run)(x, rows, weights, inner, &mut block);
            block
        })
        .collect();
    let mut result = vec![0f32; rows * out];
    let mut first_column = 0;
    for block in &blocks {
        let columns = block.len() / rows;
        for (r, segment) in block.chunks_exact(columns).enumerate() {
            let start = r * out + first_column;
            result[start..start + columns].copy_from_slice(segment);
        }
        first_column += columns;
    }
    result
}

/// The fixed-order horizontal sum of eight lanes, shared by the portable and AVX2 builds.
#[inline(always)]
fn reduce(lanes: [f32; LANES]) -> f32 {
    let pairs = [
        lanes[0] + lanes[4],
        lanes[1] + lanes[5],
        lanes[2] + lanes[6],
        lanes[3] + lanes[7],
    ];
    (pairs[0] + pairs[2]) + (pairs[1] + pairs[3])
}

/// Dot products of `NW` weight rows with `RX` input rows, lane-wise then reduced in a fixed order.
#[inline(always)]
fn block<const NW: usize, const RX: usize>(
    weights: [&[f32]; NW],
    inputs: [&[f32]; RX],
) -> [[f32; RX]; NW] {
    let inner = inputs[0].len();
    let full = inner - inner % LANES;
    let mut acc = [[[0f32; LANES]; RX]; NW];
    let mut k = 0;
    while k < full {
        for (acc_w, w) in acc.iter_mut().zip(&weights) {
            let wv: &[f32; LANES] = w[k..k + LANES].try_into().unwrap_or(&[0.0; LANES]);
            for (acc_wx, x) in acc_w.iter_mut().zip(&inputs) {
                let xv: &[f32; LANES] = x[k..k + LANES].try_into().unwrap_or(&[0.0; LANES]);
                for lane in 0..LANES {
                    acc_wx[lane] += wv[lane] * xv[lane];
                }
            }
        }
        k += LANES;
    }
    let mut sums = [[0f32; RX]; NW];
    for (n, acc_w) in acc.iter().enumerate() {
        for (r, &lanes) in acc_w.iter().enumerate() {
            let mut total = reduce(lanes);
            for kk in full..inner {
                total += weights[n][kk] * inputs[r][kk];
            }
            sums[n][r] = total;
        }
    }
    sums
}

/// Fills `dst (rows, weight rows)` with dot products of each weight row and each input row.
#[inline(always)]
fn run_body(x: &[f32], rows: usize, w: &[f32], inner: usize, dst: &mut [f32]) {
    let input = |r: usize| &x[r * inner..(r + 1) * inner];
    let weight = |n: usize| &w[n * inner..(n + 1) * inner];
    let weight_rows = w.len().checked_div(inner).unwrap_or(0);
    let mut n = 0;
    while n + 4 <= weight_rows {
        let ws = [weight(n), weight(n + 1), weight(n + 2), weight(n + 3)];
        let mut r = 0;
        while r + 2 <= rows {
            let sums = block::<4, 2>(ws, [input(r), input(r + 1)]);
            for (i, pair) in sums.iter().enumerate() {
                dst[r * weight_rows + n + i] = pair[0];
                dst[(r + 1) * weight_rows + n + i] = pair[1];
            }
            r += 2;
        }
        if r < rows {
            let sums = block::<4, 1>(ws, [input(r)]);
            for (i, single) in sums.iter().enumerate() {
                dst[r * weight_rows + n + i] = single[0];
            }
        }
        n += 4;
    }
    while n < weight_rows {
        for r in 0..rows {
            dst[r * weight_rows + n] = block::<1, 1>([weight(n)], [input(r)])[0][0];
        }
        n += 1;
    }
}

/// The row kernel bound to the best instruction set available.
#[derive(Clone, Copy)]
struct RowKernel {
    run: fn(&[f32], usize, &[f32], usize, &mut [f32]),
}

impl RowKernel {
    /// AVX2 when the processor has it, the portable build otherwise.
    fn detect() -> Self {
        accelerated::kernel().unwrap_or(Self { run: run_body })
    }
}

#[cfg(target_arch = "x86_64")]
mod accelerated {
    //! The row kernel with explicit AVX2 loads, multiplies and adds: the same operations in the
    //! same order as the portable build, eight lanes at a time.

    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };

    use super::{reduce, RowKernel, LANES};

    /// Stores a vector to lanes.
    #[target_feature(enable = "avx2")]
    fn lanes(v: __m256) -> [f32; LANES] {
        let mut out = [0f32; LANES];
        // SAFETY: `out` holds exactly eight f32 values.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
        out
    }

    /// Dot products of `NW` weight rows with `RX` input rows (full vectors, then the scalar tail).
    #[target_feature(enable = "avx2")]
    fn block<const NW: usize, const RX: usize>(
        weights: [&[f32]; NW],
        inputs: [&[f32]; RX],
    ) -> [[f32; RX]; NW] {
        let inner = inputs[0].len();
        let full = inner - inner % LANES;
        let mut acc = [[_mm256_setzero_ps(); RX]; NW];
        let mut k = 0;
        while k < full {
            // SAFETY: every row holds `inner >= k + LANES` values, so each 8-wide load is in bounds.
            unsafe {
                let mut xv = [_mm256_setzero_ps(); RX];
                for (slot, x) in xv.iter_mut().zip(&inputs) {
                    *slot = _mm256_loadu_ps(x.as_ptr().add(k));
                }
                for (acc_w, w) in acc.iter_mut().zip(&weights) {
                    let wv = _mm256_loadu_ps(w.as_ptr().add(k));
                    for (slot, &x) in acc_w.iter_mut().zip(&xv) {
                        *slot = _mm256_add_ps(*slot, _mm256_mul_ps(wv, x));
                    }
                }
            }
            k += LANES;
        }
        let mut sums = [[0f32; RX]; NW];
        for n in 0..NW {
            for r in 0..RX {
                let mut total = reduce(lanes(acc[n][r]));
                for kk in full..inner {
                    total += weights[n][kk] * inputs[r][kk];
                }
                sums[n][r] = total;
            }
        }
        sums
    }

    #[target_feature(enable = "avx2")]
    fn run_avx2(x: &[f32], rows: usize, w: &[f32], inner: usize, dst: &mut [f32]) {
        let input = |r: usize| &x[r * inner..(r + 1) * inner];
        let weight = |n: usize| &w[n * inner..(n + 1) * inner];
        let weight_rows = w.len().checked_div(inner).unwrap_or(0);
        let mut n = 0;
        while n + 4 <= weight_rows {
            let ws = [weight(n), weight(n + 1), weight(n + 2), weight(n + 3)];
            let mut r = 0;
            while r + 2 <= rows {
                let sums = block::<4, 2>(ws, [input(r), input(r + 1)]);
                for (i, pair) in sums.iter().enumerate() {
                    dst[r * weight_rows + n + i] = pair[0];
                    dst[(r + 1) * weight_rows + n + i] = pair[1];
                }
                r += 2;
            }
            if r < rows {
                let sums = block::<4, 1>(ws, [input(r)]);
                for (i, single) in sums.iter().enumerate() {
                    dst[r * weight_rows + n + i] = single[0];
                }
            }
            n += 4;
        }
        while n < weight_rows {
            for r in 0..rows {
                dst[r * weight_rows + n] = block::<1, 1>([weight(n)], [input(r)])[0][0];
            }
            n += 1;
        }
    }

    fn run(x: &[f32], rows: usize, w: &[f32], inner: usize, dst: &mut [f32]) {
        // SAFETY: `kernel` hands this out only after detecting AVX2 on the running processor.
        unsafe { run_avx2(x, rows, w, inner, dst) }
    }

    /// The AVX2 kernel, when available.
    pub(super) fn kernel() -> Option<RowKernel> {
        std::arch::is_x86_feature_detected!("avx2").then_some(RowKernel { run })
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod accelerated {
    //! No accelerated build on this architecture.

    use super::RowKernel;

    /// None: the portable kernel is used.
    pub(super) fn kernel() -> Option<RowKernel> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn matrix(rows: usize, cols: usize, seed: u32) -> Tensor {
        let values: Vec<f32> = (0..(rows * cols) as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 2000) as f32 / 1000.0 - 1.0)
            .collect();
        Tensor::from_vec(values, (rows, cols), &Device::Cpu).expect("matrix")
    }

    /// The skinny op itself, whatever the size gates of [`matmul_transposed`] would choose.
    fn skinny(x: &Tensor, w: &Tensor) -> Tensor {
        x.apply_op2(w, SkinnyMatmul).expect("skinny")
    }

    #[test]
    fn gates_send_only_small_batches_of_large_weights_to_the_skinny_op() {
        let large = matrix(1024, 64, 1);
        let rows = |n| matrix(n, 64, 3);
        assert!(takes_skinny(&rows(1), &large).expect("gate"));
        assert!(takes_skinny(&rows(SKINNY_MAX_ROWS), &large).expect("gate"));
        assert!(!takes_skinny(&rows(SKINNY_MAX_ROWS + 1), &large).expect("gate"));
        assert!(!takes_skinny(&rows(1), &matrix(64, 64, 2)).expect("gate"));
        let half = large.to_dtype(DType::BF16).expect("bf16");
        assert!(!takes_skinny(&rows(1).to_dtype(DType::BF16).expect("bf16"), &half).expect("gate"));
        let strided = matrix(64, 1024, 4).t().expect("t");
        assert!(!takes_skinny(&rows(1), &strided).expect("gate"));
    }

    #[test]
    fn matches_general_product_on_odd_shapes() {
        for (rows, out, inner) in [
            (1, 1, 1),
            (1, 7, 9),
            (2, 5, 16),
            (3, 9, 17),
            (32, 600, 300),
            (5, 1100, 256),
        ] {
            let x = matrix(rows, inner, 1);
            let w = matrix(out, inner, 2);
            let fast: Vec<Vec<f32>> = skinny(&x, &w).to_vec2().expect("v");
            let slow: Vec<Vec<f32>> = x
                .matmul(&w.t().expect("t"))
                .expect("slow")
                .to_vec2()
                .expect("v");
            for (a, b) in fast.iter().flatten().zip(slow.iter().flatten()) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{a} vs {b} at {rows}x{out}x{inner}"
                );
            }
        }
    }

    #[test]
    fn portable_and_accelerated_kernels_agree_bitwise() {
        let (rows, out, inner) = (5, 13, 37);
        let x: Vec<f32> = matrix(rows, inner, 3)
            .flatten_all()
            .expect("f")
            .to_vec1()
            .expect("v");
        let w: Vec<f32> = matrix(out, inner, 4)
            .flatten_all()
            .expect("f")
            .to_vec1()
            .expect("v");
        let mut portable = vec![0f32; rows * out];
        let mut detected = vec![0f32; rows * out];
        run_body(&x, rows, &w, inner, &mut portable);
        (RowKernel::detect().run)(&x, rows, &w, inner, &mut detected);
        assert_eq!(portable, detected);
    }

    #[test]
    fn gradients_match_general_product() {
        let x = Var::from_tensor(&matrix(3, 20, 5)).expect("x");
        let w = Var::from_tensor(&matrix(11, 20, 6)).expect("w");
        let weights = matrix(3, 11, 7);
        let fast = (skinny(x.as_tensor(), w.as_tensor()) * &weights)
            .expect("mul")
            .sum_all()
            .expect("sum")
            .backward()
            .expect("bwd");
        let slow = (x
            .as_tensor()
            .matmul(&w.as_tensor().t().expect("t"))
            .expect("slow")
            * &weights)
            .expect("mul")
            .sum_all()
            .expect("sum")
            .backward()
            .expect("bwd");
        for var in [&x, &w] {
            let a: Vec<f32> = fast
                .get(var.as_tensor())
                .expect("a")
                .flatten_all()
                .expect("f")
                .to_vec1()
                .expect("v");
            let b: Vec<f32> = slow
                .get(var.as_tensor())
                .expect("b")
                .flatten_all()
                .expect("f")
                .to_vec1()
                .expect("v");
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()));
            }
        }
    }
}
