//! The row kernel with AVX-512 loads and fused multiply-adds: the portable build's sixteen lanes
//! in one vector, so the operations and their order are the portable build's (and the AVX2
//! build's); four input rows per weight group, as twice the vector width leaves the registers
//! for them.

use std::arch::x86_64::{
    __m128, __m256, __m512, _mm256_add_ps, _mm512_castps512_ps256, _mm512_extractf32x8_ps,
    _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_setzero_ps, _mm_setzero_ps,
};

use super::avx2::{prefetch_columns, reduce4, store4, GROUP, LINE_VALUES, PREFETCH_AHEAD};
use super::{block, RowKernel, LANES};

/// For each of `RX` input rows, the dot products with four weight rows as one vector, summed in
/// [`reduce`](super::reduce)'s order; the caller adds the scalar tail. Prefetches as the AVX2
/// build does.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
fn block4<const RX: usize>(
    weights: [&[f32]; GROUP],
    ahead: &[f32],
    inputs: [&[f32]; RX],
) -> [__m128; RX] {
    let inner = inputs[0].len();
    let full = inner - inner % LANES;
    let mut acc = [[_mm512_setzero_ps(); RX]; GROUP];
    let mut k = 0;
    while k < full {
        if k % LINE_VALUES == 0 {
            prefetch_columns(ahead, k, inner);
        }
        // SAFETY: every row holds `inner >= k + LANES` values, so each 16-wide load is in bounds.
        unsafe {
            let mut xv = [_mm512_setzero_ps(); RX];
            for (slot, x) in xv.iter_mut().zip(&inputs) {
                *slot = _mm512_loadu_ps(x.as_ptr().add(k));
            }
            for (acc_w, w) in acc.iter_mut().zip(&weights) {
                let wv = _mm512_loadu_ps(w.as_ptr().add(k));
                for (slot, &x) in acc_w.iter_mut().zip(&xv) {
                    *slot = _mm512_fmadd_ps(wv, x, *slot);
                }
            }
        }
        k += LANES;
    }
    let mut sums = [_mm_setzero_ps(); RX];
    for (r, slot) in sums.iter_mut().enumerate() {
        // Lane i and lane i + 8 first, as `reduce` pairs them.
        let folded: [__m256; GROUP] = std::array::from_fn(|n| fold(acc[n][r]));
        *slot = reduce4(folded);
    }
    sums
}

/// Lanes `i` and `i + 8` added, for `i` in 0..8.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
fn fold(lanes: __m512) -> __m256 {
    _mm256_add_ps(
        _mm512_castps512_ps256(lanes),
        _mm512_extractf32x8_ps::<1>(lanes),
    )
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
    let sums = block4::<RX>(weights, ahead, inputs);
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
