//! `x · Wᵀ` for few rows of `x` (decoding), streaming the `(out, in)` weight once without packing.
//!
//! A general matrix product repacks the whole weight on every call, which for a batch of one to
//! a few dozen rows costs as much as the arithmetic. Here each block of four weight rows (eight in
//! the AVX-512 build from eight input rows up) is read once (prefetched a few blocks ahead) and
//! multiplied with every input row while it sits in L1.
//! Each output is one dot product summed in a fixed order with fused multiply-adds, which round
//! exactly on every processor, so the portable, AVX2 and AVX-512 builds give the same bits, and a row's
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
/// gets [`TASKS_PER_THREAD`] tasks; a multiple of four, the kernels' smallest group of weight rows
/// (the AVX-512 build's groups of eight end with one of four where a task's rows are not a
/// multiple of eight).
fn rows_per_task(weight_rows: usize, threads: usize) -> usize {
    let even = weight_rows.div_ceil(threads.max(1) * TASKS_PER_THREAD);
    even.next_multiple_of(4).clamp(4, MAX_ROWS_PER_TASK)
}

/// The fixed-order horizontal sum of eight lanes, shared by every build.
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
    /// AVX-512, else AVX2 with FMA, when the processor has them; the portable build otherwise.
    fn detect() -> Self {
        accelerated_kernel().unwrap_or(Self { run: run_body })
    }

    /// Every accelerated build this processor runs, by name (for tests).
    #[cfg(test)]
    fn accelerated_builds() -> Vec<(&'static str, Self)> {
        accelerated_builds()
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

/// The fastest accelerated kernel this processor runs.
#[cfg(target_arch = "x86_64")]
fn accelerated_kernel() -> Option<RowKernel> {
    avx512::kernel().or_else(avx2::kernel)
}

/// Every accelerated kernel this processor runs, by name.
#[cfg(all(test, target_arch = "x86_64"))]
fn accelerated_builds() -> Vec<(&'static str, RowKernel)> {
    [("avx512", avx512::kernel()), ("avx2", avx2::kernel())]
        .into_iter()
        .filter_map(|(name, kernel)| kernel.map(|kernel| (name, kernel)))
        .collect()
}

/// No accelerated build on this architecture.
#[cfg(not(target_arch = "x86_64"))]
fn accelerated_kernel() -> Option<RowKernel> {
    None
}

/// No accelerated build on this architecture.
#[cfg(all(test, not(target_arch = "x86_64")))]
fn accelerated_builds() -> Vec<(&'static str, RowKernel)> {
    Vec::new()
}

#[cfg(test)]
mod tests;
