//! The row kernel with AVX-512 fused multiply-adds in the portable build's eight-lane order:
//! each 16-lane vector holds the same eight columns of two weight rows (two 8-wide loads), and
//! each input row's eight columns are broadcast to both halves, so every lane runs exactly the
//! multiply-add sequence of the AVX2 and portable builds, with twice the lanes per instruction;
//! four input rows per weight group. Prefill-sized batches take eight weight rows per group, so
//! each input row read from cache feeds twice the multiply-adds (a 64-token prefill of the
//! Qwen2.5-0.5B shape: 0.36–0.38 s against 0.40–0.41 s with four, side by side).

use std::arch::x86_64::{
    __m128, __m512, _mm256_loadu_ps, _mm512_broadcast_f32x8, _mm512_castps256_ps512,
    _mm512_castps512_ps256, _mm512_extractf32x8_ps, _mm512_fmadd_ps, _mm512_insertf32x8,
    _mm512_setzero_ps,
};

use super::avx2::{prefetch_columns, reduce4, store4, GROUP, LINE_VALUES, PREFETCH_AHEAD};
use super::{block, RowKernel, LANES};

/// Fewest input rows for which eight weight rows are multiplied at a time.
const WIDE_MIN_ROWS: usize = 8;

/// For each of `P` pairs of weight rows and each of `RX` input rows, the sixteen lane sums (the
/// pair's two rows side by side, eight lanes each), to be reduced in [`reduce`](super::reduce)'s
/// order by [`reduce_pairs`]; the caller adds the scalar tail. Each cache line's worth of
/// columns also prefetches the same columns of the `ahead` rows, as the AVX2 build does.
///
/// # Safety
/// The processor has AVX-512 F and DQ, AVX2 and FMA, and every weight and input row holds at
/// least `inputs[0].len()` values.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn block_pairs<const P: usize, const RX: usize>(
    weights: [[&[f32]; 2]; P],
    ahead: &[f32],
    inputs: [&[f32]; RX],
) -> [[__m512; RX]; P] {
    let inner = inputs[0].len();
    let full = inner - inner % LANES;
    let mut acc = [[_mm512_setzero_ps(); RX]; P];
    let mut k = 0;
    while k < full {
        if k % LINE_VALUES == 0 {
            prefetch_columns(ahead, k, inner);
        }
        // Every row holds `inner >= k + LANES` values (the caller's promise), so each 8-wide
        // load is in bounds.
        let mut xv = [_mm512_setzero_ps(); RX];
        for (slot, x) in xv.iter_mut().zip(&inputs) {
            *slot = _mm512_broadcast_f32x8(_mm256_loadu_ps(x.as_ptr().add(k)));
        }
        for (pair, acc_pair) in weights.iter().zip(acc.iter_mut()) {
            let first = _mm256_loadu_ps(pair[0].as_ptr().add(k));
            let second = _mm256_loadu_ps(pair[1].as_ptr().add(k));
            let wv = _mm512_insertf32x8::<1>(_mm512_castps256_ps512(first), second);
            for (slot, &x) in acc_pair.iter_mut().zip(&xv) {
                *slot = _mm512_fmadd_ps(wv, x, *slot);
            }
        }
        k += LANES;
    }
    acc
}

/// The four dot products of two pairs of weight rows with one input row, from their lane sums.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
fn reduce_pairs(first: __m512, second: __m512) -> __m128 {
    reduce4([
        _mm512_castps512_ps256(first),
        _mm512_extractf32x8_ps::<1>(first),
        _mm512_castps512_ps256(second),
        _mm512_extractf32x8_ps::<1>(second),
    ])
}

/// Dot products of `2 * P` weight rows (from column `n`; `P` even) with `RX` input rows,
/// written to the first `RX` output rows.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
fn rows_block<const P: usize, const RX: usize>(
    weights: [[&[f32]; 2]; P],
    ahead: &[f32],
    inputs: [&[f32]; RX],
    full: usize,
    dst: &mut [&mut [f32]],
    n: usize,
) {
    const {
        assert!(
            P.is_multiple_of(2),
            "pairs come in whole groups of four weight rows"
        )
    };
    let inner = inputs[0].len();
    assert!(
        weights
            .iter()
            .flatten()
            .chain(&inputs)
            .all(|row| row.len() == inner),
        "skinny-matmul: rows of unequal length"
    );
    // SAFETY: this function's features are enabled, and every row holds `inner` values.
    let acc = unsafe { block_pairs::<P, RX>(weights, ahead, inputs) };
    for (group, (sums, pairs)) in acc.chunks_exact(2).zip(weights.chunks_exact(2)).enumerate() {
        let group_rows = [pairs[0][0], pairs[0][1], pairs[1][0], pairs[1][1]];
        for (r, (input, out_row)) in inputs.iter().zip(dst.iter_mut()).enumerate() {
            let lanes = reduce_pairs(sums[0][r], sums[1][r]);
            store4(
                lanes,
                group_rows,
                input,
                full,
                &mut out_row[n + GROUP * group..],
            );
        }
    }
}

/// Every input row against `2 * P` weight rows from column `n`, four input rows at a time; the
/// `ahead` rows are prefetched during the first block.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
fn all_rows<const P: usize>(
    weights: [[&[f32]; 2]; P],
    mut ahead: &[f32],
    x: &[f32],
    rows: usize,
    dst: &mut [&mut [f32]],
    n: usize,
) {
    let inner = weights[0][0].len();
    let input = |r: usize| &x[r * inner..(r + 1) * inner];
    let full = inner - inner % LANES;
    let mut r = 0;
    while r + 4 <= rows {
        let inputs = [input(r), input(r + 1), input(r + 2), input(r + 3)];
        rows_block(weights, ahead, inputs, full, &mut dst[r..], n);
        ahead = &[];
        r += 4;
    }
    match rows - r {
        3 => rows_block(
            weights,
            ahead,
            [input(r), input(r + 1), input(r + 2)],
            full,
            &mut dst[r..],
            n,
        ),
        2 => rows_block(
            weights,
            ahead,
            [input(r), input(r + 1)],
            full,
            &mut dst[r..],
            n,
        ),
        1 => rows_block(weights, ahead, [input(r)], full, &mut dst[r..], n),
        _ => {}
    }
}

/// [`run_body`](super::run_body) with intrinsics: eight weight rows at a time when there are
/// at least [`WIDE_MIN_ROWS`] input rows (each input row read from cache then serves twice the
/// multiply-adds), four otherwise.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
fn run_avx512(x: &[f32], rows: usize, w: &[f32], inner: usize, dst: &mut [&mut [f32]]) {
    let pair = |n: usize| {
        [
            &w[n * inner..(n + 1) * inner],
            &w[(n + 1) * inner..(n + 2) * inner],
        ]
    };
    let weight_rows = w.len().checked_div(inner).unwrap_or(0);
    // The rows PREFETCH_AHEAD rows past `n`, as many as one group computes.
    let ahead = |n: usize, count: usize| {
        let start = ((n + PREFETCH_AHEAD) * inner).min(w.len());
        let end = ((n + PREFETCH_AHEAD + count) * inner).min(w.len());
        &w[start..end]
    };
    let mut n = 0;
    if rows >= WIDE_MIN_ROWS {
        while n + 2 * GROUP <= weight_rows {
            let ws = [pair(n), pair(n + 2), pair(n + 4), pair(n + 6)];
            all_rows(ws, ahead(n, 2 * GROUP), x, rows, dst, n);
            n += 2 * GROUP;
        }
    }
    while n + GROUP <= weight_rows {
        all_rows([pair(n), pair(n + 2)], ahead(n, GROUP), x, rows, dst, n);
        n += GROUP;
    }
    let input = |r: usize| &x[r * inner..(r + 1) * inner];
    while n < weight_rows {
        let weight = &w[n * inner..(n + 1) * inner];
        for (r, out_row) in dst.iter_mut().enumerate().take(rows) {
            out_row[n] = block::<1, 1>([weight], [input(r)])[0][0];
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
