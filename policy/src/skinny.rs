//! `x · Wᵀ` for few rows of `x` (decoding), streaming the `(out, in)` weight once without packing.
//!
//! A general matrix product repacks the whole weight on every call, which for a batch of one to
//! a few dozen rows costs as much as the arithmetic. Here each block of four weight rows is read
//! once (prefetched a few blocks ahead) and multiplied with every input row while it sits in L1.
//! Each output is one dot product summed in a fixed order with fused multiply-adds, which round
//! exactly on every processor, so the portable and the AVX2 builds give the same bits, and a row's
//! result does not depend on the other rows of the batch. Backward uses ordinary matrix products.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, PoisonError};

use crate::error::Result;

/// Largest number of input rows the skinny product handles; more rows go to the general product.
pub const SKINNY_MAX_ROWS: usize = 64;
/// Smallest weight (elements) the skinny product handles: smaller weights sit in cache, where
/// the general product's packing costs little.
pub const SKINNY_MIN_WEIGHT_ELEMENTS: usize = 1 << 16;
/// Most weight rows one parallel task computes.
const MAX_ROWS_PER_TASK: usize = 512;
/// Tasks per worker thread when a weight has fewer rows than that, so that threads finish together.
const TASKS_PER_THREAD: usize = 4;
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
    let mut result = vec![0f32; rows * out];
    if rows == 0 || out == 0 || inner == 0 {
        return result;
    }
    if out * inner < PARALLEL_MIN_ELEMENTS {
        let mut dst: Vec<&mut [f32]> = result.chunks_mut(out).collect();
        (kernel.run)(x, rows, w, inner, &mut dst);
        return result;
    }
    // candle's barrier pool runs the tasks with the calling thread taking part, and its workers
    // spin briefly before sleeping: a decode step makes ~170 of these calls in a row, and waking
    // threads (and then the caller) for each cost more than the work of the small ones.
    let pool = candle_core::utils::barrier_pool();
    let per_task = rows_per_task(out, pool.n_workers() + 1);
    // Each task owns the same column range of every output row, so it writes in place.
    let mut tasks: Vec<Vec<&mut [f32]>> = (0..out.div_ceil(per_task))
        .map(|_| Vec::with_capacity(rows))
        .collect();
    for row in result.chunks_mut(out) {
        for (task, columns) in tasks.iter_mut().zip(row.chunks_mut(per_task)) {
            task.push(columns);
        }
    }
    let tasks: Vec<Mutex<Vec<&mut [f32]>>> = tasks.into_iter().map(Mutex::new).collect();
    let weights: Vec<&[f32]> = w.chunks(per_task * inner).collect();
    // A panic inside the pool would poison candle's pool lock for the rest of the process: it is
    // caught in the task and raised again here, in the caller, once the pool is done.
    let first_panic: Mutex<Option<Box<dyn Any + Send>>> = Mutex::new(None);
    pool.execute_chunked(tasks.len(), |range| {
        for (task, weights) in tasks[range.clone()].iter().zip(&weights[range]) {
            // The pool hands each task to exactly one thread, so the lock is never contended.
            let mut dst = task.lock().unwrap_or_else(PoisonError::into_inner);
            let run = AssertUnwindSafe(|| (kernel.run)(x, rows, weights, inner, &mut dst));
            if let Err(payload) = panic::catch_unwind(run) {
                let mut first = first_panic.lock().unwrap_or_else(PoisonError::into_inner);
                first.get_or_insert(payload);
            }
        }
    });
    if let Some(payload) = first_panic
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        panic::resume_unwind(payload);
    }
    result
}

/// Weight rows per parallel task: at most [`MAX_ROWS_PER_TASK`], and few enough that every thread
/// gets [`TASKS_PER_THREAD`] tasks; a multiple of four, the kernel's group of weight rows.
fn rows_per_task(weight_rows: usize, threads: usize) -> usize {
    let even = weight_rows.div_ceil(threads.max(1) * TASKS_PER_THREAD);
    even.next_multiple_of(4).clamp(4, MAX_ROWS_PER_TASK)
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
                    acc_wx[lane] = wv[lane].mul_add(xv[lane], acc_wx[lane]);
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
fn run_body(x: &[f32], rows: usize, w: &[f32], inner: usize, dst: &mut [&mut [f32]]) {
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
                dst[r][n + i] = pair[0];
                dst[r + 1][n + i] = pair[1];
            }
            r += 2;
        }
        if r < rows {
            let sums = block::<4, 1>(ws, [input(r)]);
            for (i, single) in sums.iter().enumerate() {
                dst[r][n + i] = single[0];
            }
        }
        n += 4;
    }
    while n < weight_rows {
        for (r, out_row) in dst.iter_mut().enumerate().take(rows) {
            out_row[n] = block::<1, 1>([weight(n)], [input(r)])[0][0];
        }
        n += 1;
    }
}

/// A row kernel: `(x, rows, w, inner, dst)` fills one output slice per input row.
type RunFn = fn(&[f32], usize, &[f32], usize, &mut [&mut [f32]]);

/// The row kernel bound to the best instruction set available.
#[derive(Clone, Copy)]
struct RowKernel {
    run: RunFn,
}

impl RowKernel {
    /// AVX2 with FMA when the processor has them, the portable build otherwise.
    fn detect() -> Self {
        accelerated::kernel().unwrap_or(Self { run: run_body })
    }
}

#[cfg(target_arch = "x86_64")]
mod accelerated {
    //! The row kernel with explicit AVX2 loads and fused multiply-adds: the same operations in the
    //! same order as the portable build, eight lanes at a time. Four weight rows are reduced
    //! together: a 4×4 transpose lines up their partial sums so that one vector holds the four
    //! dot products, summed in [`reduce`](super::reduce)'s order.

    use std::arch::x86_64::{
        __m128, __m256, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_fmadd_ps,
        _mm256_loadu_ps, _mm256_setzero_ps, _mm_add_ps, _mm_movehl_ps, _mm_movelh_ps, _mm_prefetch,
        _mm_setzero_ps, _mm_storeu_ps, _mm_unpackhi_ps, _mm_unpacklo_ps, _MM_HINT_T0,
    };

    use super::{block, RowKernel, LANES};

    /// Weight rows reduced together.
    const GROUP: usize = 4;
    /// f32 values per 64-byte cache line.
    const LINE_VALUES: usize = 16;
    /// Weight rows between the group being computed and the group being prefetched.
    const PREFETCH_AHEAD: usize = 16;

    /// For each of `RX` input rows, the dot products with four weight rows as one vector: each
    /// lane sums its eight partial sums as [`reduce`](super::reduce) does; the caller adds the
    /// scalar tail. Each cache line's worth of columns also prefetches the same columns of the
    /// `ahead` rows, so the next groups' memory traffic is spread evenly over this one's.
    #[target_feature(enable = "avx2,fma")]
    fn block4<const RX: usize>(
        weights: [&[f32]; GROUP],
        ahead: &[f32],
        inputs: [&[f32]; RX],
    ) -> [__m128; RX] {
        let inner = inputs[0].len();
        let full = inner - inner % LANES;
        let mut acc = [[_mm256_setzero_ps(); RX]; GROUP];
        let mut k = 0;
        while k < full {
            if k % LINE_VALUES == 0 {
                // `ahead` holds whole rows of `inner` values: the same columns of each.
                let mut at = k;
                while at < ahead.len() {
                    // SAFETY: `at < ahead.len()`; a prefetch is a hint that never faults.
                    _mm_prefetch::<_MM_HINT_T0>(unsafe { ahead.as_ptr().add(at) }.cast());
                    at += inner;
                }
            }
            // SAFETY: every row holds `inner >= k + LANES` values, so each 8-wide load is in bounds.
            unsafe {
                let mut xv = [_mm256_setzero_ps(); RX];
                for (slot, x) in xv.iter_mut().zip(&inputs) {
                    *slot = _mm256_loadu_ps(x.as_ptr().add(k));
                }
                for (acc_w, w) in acc.iter_mut().zip(&weights) {
                    let wv = _mm256_loadu_ps(w.as_ptr().add(k));
                    for (slot, &x) in acc_w.iter_mut().zip(&xv) {
                        *slot = _mm256_fmadd_ps(wv, x, *slot);
                    }
                }
            }
            k += LANES;
        }
        let mut sums = [_mm_setzero_ps(); RX];
        for (r, slot) in sums.iter_mut().enumerate() {
            *slot = reduce4([acc[0][r], acc[1][r], acc[2][r], acc[3][r]]);
        }
        sums
    }

    /// Lane `i` of the result is `(p0 + p2) + (p1 + p3)` with `pj = v[i][j] + v[i][j + 4]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn reduce4(v: [__m256; GROUP]) -> __m128 {
        let mut pairs = [_mm_setzero_ps(); GROUP];
        for (pair, &lanes) in pairs.iter_mut().zip(&v) {
            *pair = _mm_add_ps(
                _mm256_castps256_ps128(lanes),
                _mm256_extractf128_ps::<1>(lanes),
            );
        }
        let t0 = _mm_unpacklo_ps(pairs[0], pairs[1]);
        let t1 = _mm_unpackhi_ps(pairs[0], pairs[1]);
        let t2 = _mm_unpacklo_ps(pairs[2], pairs[3]);
        let t3 = _mm_unpackhi_ps(pairs[2], pairs[3]);
        let column0 = _mm_movelh_ps(t0, t2);
        let column1 = _mm_movehl_ps(t2, t0);
        let column2 = _mm_movelh_ps(t1, t3);
        let column3 = _mm_movehl_ps(t3, t1);
        _mm_add_ps(_mm_add_ps(column0, column2), _mm_add_ps(column1, column3))
    }

    /// Writes four dot products to `dst[at..at + 4]`, adding the scalar tail past `full`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn store4(sums: __m128, weights: [&[f32]; GROUP], input: &[f32], full: usize, dst: &mut [f32]) {
        let out = &mut dst[..GROUP];
        // SAFETY: `out` holds exactly four f32 values.
        unsafe { _mm_storeu_ps(out.as_mut_ptr(), sums) };
        for (total, w) in out.iter_mut().zip(&weights) {
            for (kk, &x) in input.iter().enumerate().skip(full) {
                *total += w[kk] * x;
            }
        }
    }

    /// Dot products of four weight rows (from column `n`) with `RX` input rows, written to the
    /// first `RX` output rows.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn rows_block<const RX: usize>(
        weights: [&[f32]; GROUP],
        ahead: &[f32],
        inputs: [&[f32]; RX],
        full: usize,
        dst: &mut [&mut [f32]],
        n: usize,
    ) {
        let sums = block4::<RX>(weights, ahead, inputs);
        for ((&lanes, input), out_row) in sums.iter().zip(inputs).zip(dst.iter_mut()) {
            store4(lanes, weights, input, full, &mut out_row[n..]);
        }
    }

    /// [`run_body`](super::run_body) with intrinsics, three input rows per weight group.
    #[target_feature(enable = "avx2,fma")]
    fn run_avx2(x: &[f32], rows: usize, w: &[f32], inner: usize, dst: &mut [&mut [f32]]) {
        let input = |r: usize| &x[r * inner..(r + 1) * inner];
        let weight = |n: usize| &w[n * inner..(n + 1) * inner];
        let weight_rows = w.len().checked_div(inner).unwrap_or(0);
        let full = inner - inner % LANES;
        let mut n = 0;
        while n + GROUP <= weight_rows {
            let ws = [weight(n), weight(n + 1), weight(n + 2), weight(n + 3)];
            // The group PREFETCH_AHEAD rows on (fewer rows near the end), prefetched during this
            // group's first row block.
            let ahead_start = ((n + PREFETCH_AHEAD) * inner).min(w.len());
            let ahead_end = ((n + PREFETCH_AHEAD + GROUP) * inner).min(w.len());
            let mut ahead: &[f32] = &w[ahead_start..ahead_end];
            let mut r = 0;
            while r + 3 <= rows {
                rows_block(
                    ws,
                    ahead,
                    [input(r), input(r + 1), input(r + 2)],
                    full,
                    &mut dst[r..],
                    n,
                );
                ahead = &[];
                r += 3;
            }
            if r + 2 <= rows {
                rows_block(ws, ahead, [input(r), input(r + 1)], full, &mut dst[r..], n);
            } else if r < rows {
                rows_block(ws, ahead, [input(r)], full, &mut dst[r..], n);
            }
            n += GROUP;
        }
        while n < weight_rows {
            for (r, out_row) in dst.iter_mut().enumerate().take(rows) {
                out_row[n] = block::<1, 1>([weight(n)], [input(r)])[0][0];
            }
            n += 1;
        }
    }

    fn run(x: &[f32], rows: usize, w: &[f32], inner: usize, dst: &mut [&mut [f32]]) {
        // SAFETY: `kernel` hands this out only after detecting AVX2 and FMA on the running processor.
        unsafe { run_avx2(x, rows, w, inner, dst) }
    }

    /// The AVX2 kernel, when the processor has AVX2 and FMA.
    pub(super) fn kernel() -> Option<RowKernel> {
        (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
            .then_some(RowKernel { run })
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
mod tests;
