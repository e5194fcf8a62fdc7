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
pub(super) const GROUP: usize = 4;
/// f32 values per 64-byte cache line.
pub(super) const LINE_VALUES: usize = 16;
/// Weight rows between the group being computed and the group being prefetched.
pub(super) const PREFETCH_AHEAD: usize = 16;

/// Prefetches column `k` of every row of `ahead`, which holds whole rows of `inner` values.
#[inline(always)]
pub(super) fn prefetch_columns(ahead: &[f32], k: usize, inner: usize) {
    let mut at = k;
    while at < ahead.len() {
        // SAFETY: `at < ahead.len()`, and a prefetch is a hint that never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.as_ptr().add(at).cast()) };
        at += inner;
    }
}

/// For each of `RX` input rows, the dot products with four weight rows as one vector: each
/// lane sums its eight partial sums as [`reduce`](super::reduce) does; the caller adds the
/// scalar tail. Each cache line's worth of columns also prefetches the same columns of the
/// `ahead` rows, so the next groups' memory traffic is spread evenly over this one's.
///
/// # Safety
/// The processor has AVX2 and FMA, and every weight and input row holds at least
/// `inputs[0].len()` values.
#[target_feature(enable = "avx2,fma")]
unsafe fn block4<const RX: usize>(
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
            prefetch_columns(ahead, k, inner);
        }
        // Every row holds `inner >= k + LANES` values (the caller's promise), so each 8-wide
        // load is in bounds.
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
pub(super) fn reduce4(v: [__m256; GROUP]) -> __m128 {
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
pub(super) fn store4(
    sums: __m128,
    weights: [&[f32]; GROUP],
    input: &[f32],
    full: usize,
    dst: &mut [f32],
) {
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
    let inner = inputs[0].len();
    assert!(
        weights.iter().chain(&inputs).all(|row| row.len() == inner),
        "skinny-matmul: rows of unequal length"
    );
    // SAFETY: this function's features are enabled, and every row holds `inner` values.
    let sums = unsafe { block4::<RX>(weights, ahead, inputs) };
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
