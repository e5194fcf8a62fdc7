//! AVX-512 builds of the row loops: sixteen lanes of the operation sequence of
//! [`crate::detmath::det_exp`] (its final power-of-two scaling done by one `scalef`) and
//! [`crate::detmath::fixed_weight`] in the exponential and weight loops, masked compression for
//! gathering, and the other loops as the portable bodies compiled with the features enabled.
//! Every operation is correctly rounded as on the other builds, so the results are identical.

use std::arch::x86_64::*;

use super::portable::*;
use super::{
    Candidates, ChunkSums, RowLoops, WeighSpec, BAND_EDGES, HISTOGRAM_BUCKETS, HISTOGRAM_SHIFT,
};
use crate::detmath::{
    EXP_COEFFICIENTS, EXP_INPUT_FLOOR, FIXED_POINT_SCALE, LN2_HIGH, LN2_LOW, LOG2_E,
    ROUND_TO_INTEGER,
};

/// f32 lanes per vector.
const WIDTH: usize = 16;
/// Vectors weighed together by the unrolled loops: independent polynomial chains that keep the
/// fused multiply-add pipes busy through each operation's latency.
const UNROLL: usize = 4;
/// Elements per unrolled step.
const STEP: usize = UNROLL * WIDTH;

/// Declares an AVX-512 build of a portable loop body and its safe wrapper.
macro_rules! avx512_build {
    ($($declaration:tt)*) => {
        feature_build!("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma", $($declaration)*);
    };
}

avx512_build!(scan, scan_avx512, scan_body, (values: &[f32]) -> (f32, bool));
avx512_build!(max, max_avx512, max_body, (values: &[f32]) -> f32);
avx512_build!(divide_store, divide_store_avx512, divide_store_body,
    (values: &[f32], temperature: f32, out: &mut [f32]));
avx512_build!(any_overflow, any_overflow_avx512, any_overflow_body,
    (values: &[f32], scaled: &[f32]) -> bool);
avx512_build!(band_counts, band_counts_avx512, band_counts_body,
    (exponentials: &[f32], edges: &[f32; BAND_EDGES]) -> [u64; BAND_EDGES]);
avx512_build!(band_masses, band_masses_avx512, band_masses_body,
    (exponentials: &[f32], edges: &[f32; BAND_EDGES]) -> [u64; BAND_EDGES]);
safe_wrapper!(exp_sum, exp_sum_avx512, (values: &[f32], max: f32, ahead: &[f32]) -> u64);
safe_wrapper!(exp_store_sum, exp_store_sum_avx512,
    (values: &[f32], max: f32, out: &mut [f32]) -> u64);
safe_wrapper!(exp_in_place_sum, exp_in_place_sum_avx512, (values: &mut [f32], max: f32) -> u64);
safe_wrapper!(find_first, find_first_avx512, (values: &[f32], target: f32) -> Option<usize>);
safe_wrapper!(masked_sum, masked_sum_avx512, (exponentials: &[f32], floor: f32) -> u64);
safe_wrapper!(weigh, weigh_avx512,
    (source: &[f32], ahead: &[f32], spec: &WeighSpec, first: u32, candidates: &mut Candidates)
        -> ChunkSums);
safe_wrapper!(histogram, histogram_avx512, (exponentials: &[f32], histogram: &mut [u64]));
safe_wrapper!(retain, retain_avx512, (candidates: &mut Candidates, floor: f32));
safe_wrapper!(band, band_avx512,
    (values: &[f32], lower: f32, upper: f32, out: &mut Vec<f32>) -> usize);

/// The AVX-512 loops when the processor supports every feature they use.
pub(super) fn loops() -> Option<RowLoops> {
    let supported = std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma");
    supported.then_some(RowLoops {
        scan,
        max,
        exp_sum,
        exp_store_sum,
        exp_in_place_sum,
        divide_store,
        any_overflow,
        masked_sum,
        band_counts,
        band_masses,
        find_first,
        weigh,
        histogram,
        retain,
        band,
    })
}

/// `det_exp` on `N` vectors of sixteen lanes, step by step across the vectors so that their
/// dependency chains overlap: the sequence of the AVX2 build, twice as wide, except that the
/// final `poly × 2^n` is one `scalef`, an exact power-of-two scaling rounded like the multiply
/// wherever `2^n` is a normal f32: from the clamp at −87 up to inputs of about 88.37, far above
/// the `x − max <= 0` the loops see (beyond it `det_exp` overflows where `scalef` does not).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn exp16_many<const N: usize>(x: [__m512; N]) -> [__m512; N] {
    // max_ps(x, floor) returns floor unless x > floor: the same value as `x < floor ? floor : x`.
    let floor = _mm512_set1_ps(EXP_INPUT_FLOOR);
    let clamped = x.map(|lanes| _mm512_max_ps(lanes, floor));
    let round = _mm512_set1_ps(ROUND_TO_INTEGER);
    let log2_e = _mm512_set1_ps(LOG2_E);
    let n = clamped
        .map(|lanes| _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(lanes, log2_e), round), round));
    let mut reduced = clamped;
    for (slot, &n) in reduced.iter_mut().zip(&n) {
        *slot = _mm512_fmadd_ps(n, _mm512_set1_ps(-LN2_HIGH), *slot);
    }
    for (slot, &n) in reduced.iter_mut().zip(&n) {
        *slot = _mm512_fmadd_ps(n, _mm512_set1_ps(-LN2_LOW), *slot);
    }
    let mut poly = [_mm512_set1_ps(EXP_COEFFICIENTS[0]); N];
    for &coefficient in &EXP_COEFFICIENTS[1..] {
        let coefficient = _mm512_set1_ps(coefficient);
        for (slot, &reduced) in poly.iter_mut().zip(&reduced) {
            *slot = _mm512_fmadd_ps(*slot, reduced, coefficient);
        }
    }
    for (slot, &n) in poly.iter_mut().zip(&n) {
        *slot = _mm512_scalef_ps(*slot, n);
    }
    poly
}

/// The unclamped inputs `x − max` of `N` vectors from `pointer`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn shifted_inputs<const N: usize>(pointer: *const f32, max: __m512) -> [__m512; N] {
    std::array::from_fn(|lane| _mm512_sub_ps(_mm512_loadu_ps(pointer.add(lane * WIDTH)), max))
}

/// The fixed-point weights ([`crate::detmath::fixed_weight`]) of eight exponentials: `e × 2^40`
/// is exact in f32 (a power-of-two scaling), and the conversion to u64 rounds it half to even, as
/// the f64 rounding of `fixed_weight` does. The two agree for every exponential below `2^12`; the
/// loops see exponentials up to 1.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn eight_weights(scaled: __m256) -> __m512i {
    _mm512_cvt_roundps_epu64::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(scaled)
}

/// `e × 2^40` for sixteen exponentials (exact).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn scaled_to_fixed(exponentials: __m512) -> __m512 {
    _mm512_mul_ps(exponentials, _mm512_set1_ps(FIXED_POINT_SCALE as f32))
}

/// The fixed-point weights of sixteen exponentials, summed pairwise into eight u64 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn weights(exponentials: __m512) -> __m512i {
    let scaled = scaled_to_fixed(exponentials);
    _mm512_add_epi64(
        eight_weights(_mm512_castps512_ps256(scaled)),
        eight_weights(_mm512_extractf32x8_ps::<1>(scaled)),
    )
}

/// Total of accumulated weights.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn weight_total(accumulators: &[__m512i]) -> u64 {
    let sum = accumulators
        .iter()
        .fold(_mm512_setzero_si512(), |sum, &lanes| {
            _mm512_add_epi64(sum, lanes)
        });
    let mut lanes = [0u64; 8];
    _mm512_storeu_si512(lanes.as_mut_ptr().cast(), sum);
    lanes
        .iter()
        .fold(0u64, |total, &lane| total.wrapping_add(lane))
}

/// Exponentials at or above `floor`, others replaced by +0.0 (whose weight is 0).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn at_or_above(exponentials: __m512, floor: __m512) -> __m512 {
    _mm512_maskz_mov_ps(
        _mm512_cmp_ps_mask::<_CMP_GE_OQ>(exponentials, floor),
        exponentials,
    )
}

/// f32 values per 64-byte cache line.
const LINE_VALUES: usize = 16;

/// Prefetch hints (to the second-level cache) for the lines of `ahead` at the positions of one
/// unrolled step from `at` (see the AVX2 build).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn prefetch_step(ahead: &[f32], at: usize) {
    if at + STEP <= ahead.len() {
        let pointer = ahead.as_ptr().add(at);
        for line in (0..STEP).step_by(LINE_VALUES) {
            // A prefetch is a hint that never faults; the pointer lies inside `ahead`.
            _mm_prefetch::<_MM_HINT_T1>(pointer.add(line).cast());
        }
    }
}

/// [`exp_sum_body`] with intrinsics; each step also prefetches the same positions of `ahead`.
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn exp_sum_avx512(values: &[f32], max: f32, ahead: &[f32]) -> u64 {
    let max_lanes = _mm512_set1_ps(max);
    let body = values.len() - values.len() % STEP;
    let mut accumulators = [_mm512_setzero_si512(); UNROLL];
    for at in (0..body).step_by(STEP) {
        prefetch_step(ahead, at);
        let exponentials = exp16_many(shifted_inputs::<UNROLL>(values.as_ptr().add(at), max_lanes));
        for (accumulator, &exponentials) in accumulators.iter_mut().zip(&exponentials) {
            *accumulator = _mm512_add_epi64(*accumulator, weights(exponentials));
        }
    }
    weight_total(&accumulators) + exp_sum_body(&values[body..], max)
}

/// [`exp_store_sum_body`] with intrinsics.
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn exp_store_sum_avx512(values: &[f32], max: f32, out: &mut [f32]) -> u64 {
    let len = values.len().min(out.len());
    let max_lanes = _mm512_set1_ps(max);
    let body = len - len % STEP;
    let mut accumulators = [_mm512_setzero_si512(); UNROLL];
    for at in (0..body).step_by(STEP) {
        let exponentials = exp16_many(shifted_inputs::<UNROLL>(values.as_ptr().add(at), max_lanes));
        for (lane, &exponentials) in exponentials.iter().enumerate() {
            _mm512_storeu_ps(out.as_mut_ptr().add(at + lane * WIDTH), exponentials);
            accumulators[lane] = _mm512_add_epi64(accumulators[lane], weights(exponentials));
        }
    }
    weight_total(&accumulators) + exp_store_sum_body(&values[body..len], max, &mut out[body..len])
}

/// [`exp_in_place_sum_body`] with intrinsics.
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn exp_in_place_sum_avx512(values: &mut [f32], max: f32) -> u64 {
    let max_lanes = _mm512_set1_ps(max);
    let body = values.len() - values.len() % STEP;
    let mut accumulators = [_mm512_setzero_si512(); UNROLL];
    for at in (0..body).step_by(STEP) {
        let pointer = values.as_mut_ptr().add(at);
        let exponentials = exp16_many(shifted_inputs::<UNROLL>(pointer, max_lanes));
        for (lane, &exponentials) in exponentials.iter().enumerate() {
            _mm512_storeu_ps(pointer.add(lane * WIDTH), exponentials);
            accumulators[lane] = _mm512_add_epi64(accumulators[lane], weights(exponentials));
        }
    }
    weight_total(&accumulators) + exp_in_place_sum_body(&mut values[body..], max)
}

/// [`masked_sum_body`] with intrinsics.
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn masked_sum_avx512(exponentials: &[f32], floor: f32) -> u64 {
    let floor_lanes = _mm512_set1_ps(floor);
    let body = exponentials.len() - exponentials.len() % WIDTH;
    let mut accumulator = [_mm512_setzero_si512()];
    for at in (0..body).step_by(WIDTH) {
        let values = _mm512_loadu_ps(exponentials.as_ptr().add(at));
        accumulator[0] =
            _mm512_add_epi64(accumulator[0], weights(at_or_above(values, floor_lanes)));
    }
    weight_total(&accumulator) + masked_sum_body(&exponentials[body..], floor)
}

/// [`find_first_body`] with intrinsics: 64 values compared per step.
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn find_first_avx512(values: &[f32], target: f32) -> Option<usize> {
    let target_lanes = _mm512_set1_ps(target);
    let body = values.len() - values.len() % STEP;
    for at in (0..body).step_by(STEP) {
        let pointer = values.as_ptr().add(at);
        let mut any = 0;
        for offset in (0..STEP).step_by(WIDTH) {
            let lanes = _mm512_loadu_ps(pointer.add(offset));
            any |= _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(lanes, target_lanes);
        }
        if any != 0 {
            return find_first_body(&values[at..at + STEP], target).map(|offset| at + offset);
        }
    }
    find_first_body(&values[body..], target).map(|offset| body + offset)
}

/// Writes the lanes of `values` and of the indices `first + lane` selected by `mask` to the
/// slots from `at`, which hold at least [`WIDTH`] free places; returns how many were written.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn pack(
    indices: &mut [u32],
    slots: &mut [f32],
    at: usize,
    values: __m512,
    mask: __mmask16,
    first: u32,
) -> usize {
    let lane_numbers = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let numbers = _mm512_add_epi32(_mm512_set1_epi32(first as i32), lane_numbers);
    _mm512_storeu_si512(
        indices[at..at + WIDTH].as_mut_ptr().cast(),
        _mm512_maskz_compress_epi32(mask, numbers),
    );
    _mm512_storeu_ps(
        slots[at..at + WIDTH].as_mut_ptr(),
        _mm512_maskz_compress_ps(mask, values),
    );
    mask.count_ones() as usize
}

/// [`weigh_body`] with intrinsics, specialised on whether a floor applies and whether anything is
/// gathered; each step also prefetches the same positions of `ahead`.
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn weigh_avx512(
    source: &[f32],
    ahead: &[f32],
    spec: &WeighSpec,
    first: u32,
    candidates: &mut Candidates,
) -> ChunkSums {
    let masked = spec.floor > 0.0;
    let gathering = spec.gather != f32::INFINITY;
    match (masked, gathering) {
        (false, false) => weigh_with::<false, false>(source, ahead, spec, first, candidates),
        (false, true) => weigh_with::<false, true>(source, ahead, spec, first, candidates),
        (true, false) => weigh_with::<true, false>(source, ahead, spec, first, candidates),
        (true, true) => weigh_with::<true, true>(source, ahead, spec, first, candidates),
    }
}

/// The weights pass of one chunk. Without `MASKED` (floor <= 0) every weight is kept; without
/// `GATHER` (gather = +inf) nothing is gathered.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn weigh_with<const MASKED: bool, const GATHER: bool>(
    source: &[f32],
    ahead: &[f32],
    spec: &WeighSpec,
    first: u32,
    candidates: &mut Candidates,
) -> ChunkSums {
    let max_lanes = _mm512_set1_ps(spec.max);
    let floor_lanes = _mm512_set1_ps(spec.floor);
    let gather_floor = _mm512_set1_ps(spec.gather);
    let body = source.len() - source.len() % STEP;
    let mut all = [_mm512_setzero_si512(); UNROLL];
    let mut kept = [_mm512_setzero_si512(); UNROLL];
    // Room for every element of the body, so the loop stores without growing the buffers.
    if GATHER {
        candidates.reserve(body);
    }
    let (indices, slots) = candidates.spare();
    let mut written = 0;
    for at in (0..body).step_by(STEP) {
        prefetch_step(ahead, at);
        let exponentials = exp16_many(shifted_inputs::<UNROLL>(source.as_ptr().add(at), max_lanes));
        for (slot, &exponentials) in all.iter_mut().zip(&exponentials) {
            *slot = _mm512_add_epi64(*slot, weights(exponentials));
        }
        let largest = exponentials[1..]
            .iter()
            .fold(exponentials[0], |largest, &lanes| {
                _mm512_max_ps(largest, lanes)
            });
        if MASKED && _mm512_cmp_ps_mask::<_CMP_GE_OQ>(largest, floor_lanes) != 0 {
            // Few tokens reach the floor: groups with none of them are skipped after one test.
            for (slot, &exponentials) in kept.iter_mut().zip(&exponentials) {
                // Lanes below the floor become +0.0, whose weight is 0.
                *slot = _mm512_add_epi64(*slot, weights(at_or_above(exponentials, floor_lanes)));
            }
        }
        // A rare gathering hit tests each vector of the group.
        if GATHER && _mm512_cmp_ps_mask::<_CMP_GE_OQ>(largest, gather_floor) != 0 {
            for (lane, &exponentials) in exponentials.iter().enumerate() {
                let mask = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(exponentials, gather_floor);
                let index = first + (at + lane * WIDTH) as u32;
                written += pack(indices, slots, written, exponentials, mask, index);
            }
        }
    }
    candidates.commit(written);
    let all = weight_total(&all);
    let kept = if MASKED { weight_total(&kept) } else { all };
    let tail = weigh_body(&source[body..], spec, first + body as u32, candidates);
    ChunkSums {
        all: all + tail.all,
        kept: kept + tail.kept,
    }
}

/// [`histogram_body`] with intrinsics: buckets and weights of sixteen exponentials at a time,
/// then sixteen scalar additions without branches.
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn histogram_avx512(exponentials: &[f32], histogram: &mut [u64]) {
    let Some(histogram) = histogram.get_mut(..HISTOGRAM_BUCKETS) else {
        return histogram_body(exponentials, histogram);
    };
    let body = exponentials.len() - exponentials.len() % WIDTH;
    let mut weights = [0u64; WIDTH];
    let mut buckets = [0u32; WIDTH];
    for at in (0..body).step_by(WIDTH) {
        let values = _mm512_loadu_ps(exponentials.as_ptr().add(at));
        let scaled = scaled_to_fixed(values);
        let halves = [
            _mm512_castps512_ps256(scaled),
            _mm512_extractf32x8_ps::<1>(scaled),
        ];
        for (half, &lanes) in halves.iter().enumerate() {
            _mm512_storeu_si512(
                weights.as_mut_ptr().add(half * 8).cast(),
                eight_weights(lanes),
            );
        }
        _mm512_storeu_si512(
            buckets.as_mut_ptr().cast(),
            _mm512_srli_epi32::<{ HISTOGRAM_SHIFT }>(_mm512_castps_si512(values)),
        );
        for (&bucket, &weight) in buckets.iter().zip(&weights) {
            // Buckets of non-negative values are below HISTOGRAM_BUCKETS; the mask only
            // spares the bounds check.
            histogram[bucket as usize & (HISTOGRAM_BUCKETS - 1)] += weight;
        }
    }
    histogram_body(&exponentials[body..], histogram);
}

/// [`Candidates::retain_at_least`] with intrinsics: sixteen pairs tested at a time and the kept
/// ones compressed forward in place (the write position trails the read position).
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn retain_avx512(candidates: &mut Candidates, floor: f32) {
    let len = candidates.len;
    let body = len - len % WIDTH;
    let floor_lanes = _mm512_set1_ps(floor);
    let mut kept = 0;
    for at in (0..body).step_by(WIDTH) {
        let values = _mm512_loadu_ps(candidates.values[at..at + WIDTH].as_ptr());
        let indices = _mm512_loadu_si512(candidates.indices[at..at + WIDTH].as_ptr().cast());
        let mask = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(values, floor_lanes);
        _mm512_storeu_ps(
            candidates.values[kept..kept + WIDTH].as_mut_ptr(),
            _mm512_maskz_compress_ps(mask, values),
        );
        _mm512_storeu_si512(
            candidates.indices[kept..kept + WIDTH].as_mut_ptr().cast(),
            _mm512_maskz_compress_epi32(mask, indices),
        );
        kept += mask.count_ones() as usize;
    }
    for at in body..len {
        let value = candidates.values[at];
        if value >= floor {
            candidates.values[kept] = value;
            candidates.indices[kept] = candidates.indices[at];
            kept += 1;
        }
    }
    candidates.len = kept;
}

/// [`band_body`] with intrinsics: sixteen values tested at a time, the selected ones compressed.
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn band_avx512(values: &[f32], lower: f32, upper: f32, out: &mut Vec<f32>) -> usize {
    // Grown, never cleared: only new room is zero-filled, once per buffer.
    if out.len() < values.len() + WIDTH {
        out.resize(values.len() + WIDTH, 0.0);
    }
    let body = values.len() - values.len() % WIDTH;
    let lower_lanes = _mm512_set1_ps(lower);
    let upper_lanes = _mm512_set1_ps(upper);
    let mut kept = 0;
    for at in (0..body).step_by(WIDTH) {
        let lanes = _mm512_loadu_ps(values[at..at + WIDTH].as_ptr());
        let inside = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(lanes, lower_lanes)
            & _mm512_cmp_ps_mask::<_CMP_LT_OQ>(lanes, upper_lanes);
        _mm512_storeu_ps(
            out[kept..kept + WIDTH].as_mut_ptr(),
            _mm512_maskz_compress_ps(inside, lanes),
        );
        kept += inside.count_ones() as usize;
    }
    for &value in &values[body..] {
        if value >= lower && value < upper {
            out[kept] = value;
            kept += 1;
        }
    }
    kept
}
