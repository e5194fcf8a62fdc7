//! The row kernel with AVX-512 fused multiply-adds in the portable build's eight-lane order:
//! each 16-lane vector holds the same eight columns of two weight rows (two 8-wide loads), and
//! each input row's eight columns are broadcast to both halves, so every lane runs exactly the
//! multiply-add sequence of the AVX2 and portable builds, with twice the lanes per instruction;
//! four input rows per weight group.

use std::arch::x86_64::{
    __m128, __m256, _mm256_loadu_ps, _mm512_broadcast_f32x8, _mm512_castps256_ps512,
    _mm512_castps512_ps256, _mm512_extractf32x8_ps, _mm512_fmadd_ps, _mm512_insertf32x8,
    _mm512_setzero_ps, _mm_prefetch, _mm_setzero_ps, _MM_HINT_T0,
};

use super::avx2::{reduce4, store4, GROUP, LINE_VALUES, PREFETCH_AHEAD};
use super::{block, RowKernel, LANES};

/// Vectors holding the four weight rows of a group, two rows each.
const PAIRS: usize = GROUP / 2;

/// For each of `RX` input rows, the dot products with four weight rows as one vector, summed in
/// [`reduce`](super::reduce)'s order; the caller adds the scalar tail. Each cache line's worth of
/// columns also prefetches the same columns of the `ahead` rows, as the AVX2 build does.
///
/// # Safety
/// The processor has AVX-512 F and DQ, AVX2 and FMA, and every weight and input row holds at
/// least `inputs[0].len()` values.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn block4<const RX: usize>(
    weights: [&[f32]; GROUP],
    ahead: &[f32],
    inputs: [&[f32]; RX],
) -> [__m128; RX] {
    let inner = inputs[0].len();
    let full = inner - inner % LANES;
    let mut acc = [[_mm512_setzero_ps(); RX]; PAIRS];
    let mut k = 0;
    while k < full {
        if k % LINE_VALUES == 0 {
            // `ahead` holds whole rows of `inner` values: the same columns of each.
            let mut at = k;
            while at < ahead.len() {
                // `at < ahead.len()`; a prefetch is a hint that never faults.
                _mm_prefetch::<_MM_HINT_T0>(ahead.as_ptr().add(at).cast());
                at += inner;
            }
        }
        // Every row holds `inner >= k + LANES` values (the caller's promise), so each 8-wide
        // load is in bounds.
        let mut xv = [_mm512_setzero_ps(); RX];
        for (slot, x) in xv.iter_mut().zip(&inputs) {
            *slot = _mm512_broadcast_f32x8(_mm256_loadu_ps(x.as_ptr().add(k)));
        }
        for (pair, acc_pair) in acc.iter_mut().enumerate() {
            let first = _mm256_loadu_ps(weights[2 * pair].as_ptr().add(k));
            let second = _mm256_loadu_ps(weights[2 * pair + 1].as_ptr().add(k));
            let wv = _mm512_insertf32x8::<1>(_mm512_castps256_ps512(first), second);
            for (slot, &x) in acc_pair.iter_mut().zip(&xv) {
                *slot = _mm512_fmadd_ps(wv, x, *slot);
            }
        }
        k += LANES;
    }
    let mut sums = [_mm_setzero_ps(); RX];
    for (r, slot) in sums.iter_mut().enumerate() {
        let rows: [__m256; GROUP] = [
            _mm512_castps512_ps256(acc[0][r]),
            _mm512_extractf32x8_ps::<1>(acc[0][r]),
            _mm512_castps512_ps256(acc[1][r]),
            _mm512_extractf32x8_ps::<1>(acc[1][r]),
        ];
        *slot = reduce4(rows);
    }
    sums
}

/// Dot products of four weight rows (from column `n`) with `RX` input rows, written to the
/// first `RX` output rows.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
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

/// [`run_body`](super::run_body) with intrinsics, four input rows per weight group.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
fn run_avx512(x: &[f32], rows: usize, w: &[f32], inner: usize, dst: &mut [&mut [f32]]) {
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
        while r + 4 <= rows {
            let inputs = [input(r), input(r + 1), input(r + 2), input(r + 3)];
            rows_block(ws, ahead, inputs, full, &mut dst[r..], n);
            ahead = &[];
            r += 4;
        }
        match rows - r {
            3 => rows_block(
                ws,
                ahead,
                [input(r), input(r + 1), input(r + 2)],
                full,
                &mut dst[r..],
                n,
            ),
            2 => rows_block(ws, ahead, [input(r), input(r + 1)], full, &mut dst[r..], n),
            1 => rows_block(ws, ahead, [input(r)], full, &mut dst[r..], n),
            _ => {}
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
    // SAFETY: `kernel` hands this out only after detecting every feature `run_avx512` enables.
    unsafe { run_avx512(x, rows, w, inner, dst) }
}

/// The AVX-512 kernel, when the processor has AVX-512 F and DQ, AVX2 and FMA.
pub(super) fn kernel() -> Option<RowKernel> {
    (std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma"))
    .then_some(RowKernel { run })
}
