//! AVX2 + FMA builds of the row loops. The exponential and weight loops use explicit intrinsics:
//! eight lanes of exactly the operation sequence of [`det_exp`] and [`fixed_weight`]; the other
//! loops are the portable bodies compiled with the features enabled.

use std::arch::x86_64::*;

mod pack;

use super::portable::*;
use super::{
    Candidates, ChunkSums, RowLoops, WeighSpec, BAND_EDGES, HISTOGRAM_BUCKETS, HISTOGRAM_SHIFT,
};
use crate::detmath::{
    det_exp, fixed_weight, EXP_COEFFICIENTS, EXP_INPUT_FLOOR, FIXED_POINT_SCALE, LN2_HIGH, LN2_LOW,
    LOG2_E, ROUNDING_MAGIC, ROUND_TO_INTEGER,
};
use pack::{Packer, PACK_ORDER};

/// f32 lanes per vector.
const WIDTH: usize = 8;

/// Declares an AVX2 + FMA build of a portable loop body and its safe wrapper.
macro_rules! avx2_build {
    ($($declaration:tt)*) => {
        feature_build!("avx2,fma", $($declaration)*);
    };
}

avx2_build!(scan, scan_avx2, scan_body, (values: &[f32]) -> (f32, bool));
avx2_build!(max, max_avx2, max_body, (values: &[f32]) -> f32);
avx2_build!(divide_store, divide_store_avx2, divide_store_body,
    (values: &[f32], temperature: f32, out: &mut [f32]));
avx2_build!(any_overflow, any_overflow_avx2, any_overflow_body,
    (values: &[f32], scaled: &[f32]) -> bool);
avx2_build!(band_counts, band_counts_avx2, band_counts_body,
    (exponentials: &[f32], edges: &[f32; BAND_EDGES]) -> [u64; BAND_EDGES]);
avx2_build!(band_masses, band_masses_avx2, band_masses_body,
    (exponentials: &[f32], edges: &[f32; BAND_EDGES]) -> [u64; BAND_EDGES]);
safe_wrapper!(exp_sum, exp_sum_avx2, (values: &[f32], max: f32, ahead: &[f32]) -> u64);
safe_wrapper!(exp_store_sum, exp_store_sum_avx2,
    (values: &[f32], max: f32, out: &mut [f32]) -> u64);
safe_wrapper!(exp_in_place_sum, exp_in_place_sum_avx2, (values: &mut [f32], max: f32) -> u64);
safe_wrapper!(masked_sum, masked_sum_avx2, (exponentials: &[f32], floor: f32) -> u64);
safe_wrapper!(find_first, find_first_avx2, (values: &[f32], target: f32) -> Option<usize>);
safe_wrapper!(weigh, weigh_avx2,
    (source: &[f32], ahead: &[f32], spec: &WeighSpec, first: u32, candidates: &mut Candidates)
        -> ChunkSums);
safe_wrapper!(histogram, histogram_avx2, (exponentials: &[f32], histogram: &mut [u64]));
safe_wrapper!(retain, retain_avx2, (candidates: &mut Candidates, floor: f32));
safe_wrapper!(band, band_avx2,
    (values: &[f32], lower: f32, upper: f32, out: &mut Vec<f32>) -> usize);

/// The AVX2 + FMA loops when the processor supports both.
pub(super) fn loops() -> Option<RowLoops> {
    if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
    {
        return None;
    }
    Some(RowLoops {
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

/// `det_exp` on `N` vectors of eight lanes: clamp, round to an integer with the magic constant,
/// two Cody–Waite FMAs, the degree-7 Horner FMAs and the power of two from the exponent bits —
/// step by step across the vectors so that their dependency chains overlap.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp8_many<const N: usize>(x: [__m256; N]) -> [__m256; N] {
    // max_ps(x, floor) returns floor unless x > floor: the same value as `x < floor ? floor : x`.
    let floor = _mm256_set1_ps(EXP_INPUT_FLOOR);
    let clamped = x.map(|lanes| _mm256_max_ps(lanes, floor));
    let round = _mm256_set1_ps(ROUND_TO_INTEGER);
    let log2_e = _mm256_set1_ps(LOG2_E);
    let shifted = clamped.map(|lanes| _mm256_add_ps(_mm256_mul_ps(lanes, log2_e), round));
    let n = shifted.map(|lanes| _mm256_sub_ps(lanes, round));
    let mut reduced = clamped;
    for (slot, &n) in reduced.iter_mut().zip(&n) {
        *slot = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_HIGH), *slot);
    }
    for (slot, &n) in reduced.iter_mut().zip(&n) {
        *slot = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_LOW), *slot);
    }
    let mut poly = [_mm256_set1_ps(EXP_COEFFICIENTS[0]); N];
    for &coefficient in &EXP_COEFFICIENTS[1..] {
        let coefficient = _mm256_set1_ps(coefficient);
        for (slot, &reduced) in poly.iter_mut().zip(&reduced) {
            *slot = _mm256_fmadd_ps(*slot, reduced, coefficient);
        }
    }
    let mut result = poly;
    for (slot, &shifted) in result.iter_mut().zip(&shifted) {
        let exponent = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(round));
        let scale = _mm256_slli_epi32::<23>(_mm256_add_epi32(exponent, _mm256_set1_epi32(127)));
        *slot = _mm256_mul_ps(*slot, _mm256_castsi256_ps(scale));
    }
    result
}

/// Eight exponentials as two exact f64 vectors (lanes 0..4 and 4..8).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn widen(exponentials: __m256) -> [__m256d; 2] {
    [
        _mm256_cvtps_pd(_mm256_castps256_ps128(exponentials)),
        _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(exponentials)),
    ]
}

/// Bit patterns of `f64(e) × 2^40 + 2^52` for four widened exponentials: each is
/// `bits(2^52) + fixed_weight(e)`. The product is exact, so one FMA rounds exactly like the
/// separate multiply and add of [`fixed_weight`].
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn weight_pattern(widened: __m256d) -> __m256d {
    _mm256_fmadd_pd(
        widened,
        _mm256_set1_pd(FIXED_POINT_SCALE),
        _mm256_set1_pd(ROUNDING_MAGIC),
    )
}

/// Weight patterns of eight exponentials, summed pairwise into four u64 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn weight_bits(exponentials: __m256) -> __m256i {
    let [low, high] = widen(exponentials);
    _mm256_add_epi64(
        _mm256_castpd_si256(weight_pattern(low)),
        _mm256_castpd_si256(weight_pattern(high)),
    )
}

/// Total of accumulated weight patterns of `count` elements, less their `count` magic offsets.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn weight_total(accumulator: __m256i, count: usize) -> u64 {
    let mut lanes = [0u64; 4];
    _mm256_storeu_si256(lanes.as_mut_ptr().cast(), accumulator);
    let sum = lanes.iter().fold(0u64, |sum, &lane| sum.wrapping_add(lane));
    sum.wrapping_sub((count as u64).wrapping_mul(ROUNDING_MAGIC.to_bits()))
}

/// Vectors weighed together by the unrolled loops: eight independent polynomial chains keep both
/// fused multiply-add pipes busy through each operation's latency.
const UNROLL: usize = 8;

/// [`exp_sum_body`] with intrinsics; each step also prefetches the same positions of `ahead`.
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_sum_avx2(values: &[f32], max: f32, ahead: &[f32]) -> u64 {
    let max_lanes = _mm256_set1_ps(max);
    let step = UNROLL * WIDTH;
    let body = values.len() - values.len() % step;
    let mut accumulators = [_mm256_setzero_si256(); UNROLL];
    for at in (0..body).step_by(step) {
        prefetch_step(ahead, at);
        let pointer = values.as_ptr().add(at);
        let inputs: [__m256; UNROLL] = std::array::from_fn(|lane| {
            _mm256_sub_ps(_mm256_loadu_ps(pointer.add(lane * WIDTH)), max_lanes)
        });
        let exponentials = exp8_many(inputs);
        for (accumulator, &exponentials) in accumulators.iter_mut().zip(&exponentials) {
            *accumulator = _mm256_add_epi64(*accumulator, weight_bits(exponentials));
        }
    }
    let sum = accumulators
        .iter()
        .fold(_mm256_setzero_si256(), |sum, &lanes| {
            _mm256_add_epi64(sum, lanes)
        });
    let total = weight_total(sum, body);
    values[body..].iter().fold(total, |total, &value| {
        total + fixed_weight(det_exp(value - max))
    })
}

/// [`exp_store_sum_body`] with intrinsics.
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_store_sum_avx2(values: &[f32], max: f32, out: &mut [f32]) -> u64 {
    let len = values.len().min(out.len());
    let max_lanes = _mm256_set1_ps(max);
    let step = UNROLL * WIDTH;
    let body = len - len % step;
    let mut accumulators = [_mm256_setzero_si256(); UNROLL];
    for at in (0..body).step_by(step) {
        let pointer = values.as_ptr().add(at);
        let inputs: [__m256; UNROLL] = std::array::from_fn(|lane| {
            _mm256_sub_ps(_mm256_loadu_ps(pointer.add(lane * WIDTH)), max_lanes)
        });
        let exponentials = exp8_many(inputs);
        for (lane, &exponentials) in exponentials.iter().enumerate() {
            _mm256_storeu_ps(out.as_mut_ptr().add(at + lane * WIDTH), exponentials);
            accumulators[lane] = _mm256_add_epi64(accumulators[lane], weight_bits(exponentials));
        }
    }
    let sum = accumulators
        .iter()
        .fold(_mm256_setzero_si256(), |sum, &lanes| {
            _mm256_add_epi64(sum, lanes)
        });
    let mut total = weight_total(sum, body);
    for (slot, &value) in out[body..len].iter_mut().zip(&values[body..len]) {
        let exponential = det_exp(value - max);
        *slot = exponential;
        total += fixed_weight(exponential);
    }
    total
}

/// [`exp_in_place_sum_body`] with intrinsics.
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_in_place_sum_avx2(values: &mut [f32], max: f32) -> u64 {
    let max_lanes = _mm256_set1_ps(max);
    let step = UNROLL * WIDTH;
    let body = values.len() - values.len() % step;
    let mut accumulators = [_mm256_setzero_si256(); UNROLL];
    for at in (0..body).step_by(step) {
        let pointer = values.as_mut_ptr().add(at);
        let inputs: [__m256; UNROLL] = std::array::from_fn(|lane| {
            _mm256_sub_ps(_mm256_loadu_ps(pointer.add(lane * WIDTH)), max_lanes)
        });
        let exponentials = exp8_many(inputs);
        for (lane, &exponentials) in exponentials.iter().enumerate() {
            _mm256_storeu_ps(pointer.add(lane * WIDTH), exponentials);
            accumulators[lane] = _mm256_add_epi64(accumulators[lane], weight_bits(exponentials));
        }
    }
    let sum = accumulators
        .iter()
        .fold(_mm256_setzero_si256(), |sum, &lanes| {
            _mm256_add_epi64(sum, lanes)
        });
    let mut total = weight_total(sum, body);
    for slot in &mut values[body..] {
        let exponential = det_exp(*slot - max);
        *slot = exponential;
        total += fixed_weight(exponential);
    }
    total
}

/// Exponentials at or above `floor`, others replaced by +0.0 (whose weight is 0).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn at_or_above(exponentials: __m256, floor: __m256) -> __m256 {
    _mm256_and_ps(
        exponentials,
        _mm256_cmp_ps::<_CMP_GE_OQ>(exponentials, floor),
    )
}

/// [`masked_sum_body`] with intrinsics.
#[target_feature(enable = "avx2,fma")]
unsafe fn masked_sum_avx2(exponentials: &[f32], floor: f32) -> u64 {
    let floor_lanes = _mm256_set1_ps(floor);
    let body = exponentials.len() - exponentials.len() % WIDTH;
    let mut accumulator = _mm256_setzero_si256();
    for at in (0..body).step_by(WIDTH) {
        let values = _mm256_loadu_ps(exponentials.as_ptr().add(at));
        accumulator = _mm256_add_epi64(accumulator, weight_bits(at_or_above(values, floor_lanes)));
    }
    let mut total = weight_total(accumulator, body);
    for &value in &exponentials[body..] {
        if value >= floor {
            total += fixed_weight(value);
        }
    }
    total
}

/// [`find_first_body`] with intrinsics: 32 values compared per step.
#[target_feature(enable = "avx2,fma")]
unsafe fn find_first_avx2(values: &[f32], target: f32) -> Option<usize> {
    let target_lanes = _mm256_set1_ps(target);
    let step = 4 * WIDTH;
    let body = values.len() - values.len() % step;
    for at in (0..body).step_by(step) {
        let pointer = values.as_ptr().add(at);
        let mut any = _mm256_setzero_ps();
        for offset in (0..step).step_by(WIDTH) {
            let lanes = _mm256_loadu_ps(pointer.add(offset));
            any = _mm256_or_ps(any, _mm256_cmp_ps::<_CMP_EQ_OQ>(lanes, target_lanes));
        }
        if _mm256_movemask_ps(any) != 0 {
            return find_first_body(&values[at..at + step], target).map(|offset| at + offset);
        }
    }
    find_first_body(&values[body..], target).map(|offset| body + offset)
}

/// [`weigh_body`] with intrinsics, specialised on whether a floor applies and whether anything is
/// gathered; each step also prefetches the same positions of `ahead`.
#[target_feature(enable = "avx2,fma")]
unsafe fn weigh_avx2(
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
#[target_feature(enable = "avx2,fma")]
unsafe fn weigh_with<const MASKED: bool, const GATHER: bool>(
    source: &[f32],
    ahead: &[f32],
    spec: &WeighSpec,
    first: u32,
    candidates: &mut Candidates,
) -> ChunkSums {
    let max_lanes = _mm256_set1_ps(spec.max);
    let floor_lanes = _mm256_set1_ps(spec.floor);
    // Two magic patterns, as `weight_bits` adds two per u64 lane.
    let magic_pair = _mm256_set1_epi64x(ROUNDING_MAGIC.to_bits().wrapping_mul(2) as i64);
    let gather_floor = _mm256_set1_ps(spec.gather);
    let step = UNROLL * WIDTH;
    let body = source.len() - source.len() % step;
    let mut all = [_mm256_setzero_si256(); UNROLL];
    let mut kept = [_mm256_setzero_si256(); UNROLL];
    // Room for every element of the body, so the loop stores without growing the buffers.
    if GATHER {
        candidates.reserve(body);
    }
    let mut packer = GATHER.then(|| Packer::new(candidates));
    for at in (0..body).step_by(step) {
        prefetch_step(ahead, at);
        let pointer = source.as_ptr().add(at);
        let inputs: [__m256; UNROLL] = std::array::from_fn(|lane| {
            _mm256_sub_ps(_mm256_loadu_ps(pointer.add(lane * WIDTH)), max_lanes)
        });
        let exponentials = exp8_many(inputs);
        for (slot, &exponentials) in all.iter_mut().zip(&exponentials) {
            *slot = _mm256_add_epi64(*slot, weight_bits(exponentials));
        }
        let largest = exponentials[1..]
            .iter()
            .fold(exponentials[0], |largest, &lanes| {
                _mm256_max_ps(largest, lanes)
            });
        if MASKED && reaches(largest, floor_lanes) {
            // Few tokens reach the floor: groups with none of them are skipped after one test.
            for (slot, &exponentials) in kept.iter_mut().zip(&exponentials) {
                // Lanes below the floor become +0.0, whose pattern is the bare magic.
                let above = _mm256_cmp_ps::<_CMP_GE_OQ>(exponentials, floor_lanes);
                let pattern = weight_bits(_mm256_and_ps(exponentials, above));
                *slot = _mm256_add_epi64(*slot, _mm256_sub_epi64(pattern, magic_pair));
            }
        }
        // A rare gathering hit tests each vector of the group.
        if let Some(packer) = packer.as_mut().filter(|_| reaches(largest, gather_floor)) {
            for (lane, &exponentials) in exponentials.iter().enumerate() {
                let selected = _mm256_cmp_ps::<_CMP_GE_OQ>(exponentials, gather_floor);
                // Packed unconditionally: a branch per vector would be mispredicted on dense
                // gathering, and an empty mask stores nothing that counts.
                let mask = _mm256_movemask_ps(selected) as u32;
                packer.pack(exponentials, mask, first + (at + lane * WIDTH) as u32);
            }
        }
    }
    let written = packer.map_or(0, |packer| packer.written);
    candidates.commit(written);
    let sum = |accumulators: &[__m256i; UNROLL]| {
        accumulators
            .iter()
            .fold(_mm256_setzero_si256(), |sum, &lanes| {
                _mm256_add_epi64(sum, lanes)
            })
    };
    let all = weight_total(sum(&all), body);
    let kept = if MASKED {
        weight_total(sum(&kept), 0)
    } else {
        all
    };
    let tail = weigh_body(&source[body..], spec, first + body as u32, candidates);
    ChunkSums {
        all: all + tail.all,
        kept: kept + tail.kept,
    }
}

/// Whether any lane of `values` is at or above the same lane of `floor`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn reaches(values: __m256, floor: __m256) -> bool {
    _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(values, floor)) != 0
}

/// [`histogram_body`] with intrinsics: buckets and weights of eight exponentials at a time, then
/// eight scalar additions without branches.
#[target_feature(enable = "avx2,fma")]
unsafe fn histogram_avx2(exponentials: &[f32], histogram: &mut [u64]) {
    let Some(histogram) = histogram.get_mut(..HISTOGRAM_BUCKETS) else {
        return histogram_body(exponentials, histogram);
    };
    let magic = _mm256_set1_epi64x(ROUNDING_MAGIC.to_bits() as i64);
    let body = exponentials.len() - exponentials.len() % WIDTH;
    let mut weights = [0u64; WIDTH];
    let mut buckets = [0u32; WIDTH];
    for at in (0..body).step_by(WIDTH) {
        let values = _mm256_loadu_ps(exponentials.as_ptr().add(at));
        for (half, &lanes) in widen(values).iter().enumerate() {
            let pattern = _mm256_castpd_si256(weight_pattern(lanes));
            _mm256_storeu_si256(
                weights.as_mut_ptr().add(half * 4).cast(),
                _mm256_sub_epi64(pattern, magic),
            );
        }
        _mm256_storeu_si256(
            buckets.as_mut_ptr().cast(),
            _mm256_srli_epi32::<{ HISTOGRAM_SHIFT as i32 }>(_mm256_castps_si256(values)),
        );
        for (&bucket, &weight) in buckets.iter().zip(&weights) {
            // Buckets of non-negative values are below HISTOGRAM_BUCKETS; the mask only
            // spares the bounds check.
            histogram[bucket as usize & (HISTOGRAM_BUCKETS - 1)] += weight;
        }
    }
    histogram_body(&exponentials[body..], histogram);
}

/// [`Candidates::retain_at_least`] with intrinsics: eight pairs tested at a time and the kept ones
/// packed forward in place (a store at the write position never reaches unread pairs, as the
/// write position trails the read position).
#[target_feature(enable = "avx2,fma")]
unsafe fn retain_avx2(candidates: &mut Candidates, floor: f32) {
    let len = candidates.len;
    let body = len - len % WIDTH;
    let floor_lanes = _mm256_set1_ps(floor);
    let mut kept = 0;
    for at in (0..body).step_by(WIDTH) {
        let values = _mm256_loadu_ps(candidates.values[at..at + WIDTH].as_ptr());
        let indices = _mm256_loadu_si256(candidates.indices[at..at + WIDTH].as_ptr().cast());
        let mask = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(values, floor_lanes)) as u32;
        let order =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(PACK_ORDER[mask as usize].as_ptr().cast()));
        _mm256_storeu_ps(
            candidates.values[kept..kept + WIDTH].as_mut_ptr(),
            _mm256_permutevar8x32_ps(values, order),
        );
        _mm256_storeu_si256(
            candidates.indices[kept..kept + WIDTH].as_mut_ptr().cast(),
            _mm256_permutevar8x32_epi32(indices, order),
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

/// f32 values per 64-byte cache line.
const LINE_VALUES: usize = 16;

/// Prefetch hints (to the second-level cache) for the cache lines of `ahead` at the positions of
/// one unrolled step from `at`, when `ahead` reaches that far. One step's worth per step spreads
/// the next row's memory traffic evenly over the compute-bound loop, instead of in bursts that
/// stall it.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn prefetch_step(ahead: &[f32], at: usize) {
    if at + UNROLL * WIDTH <= ahead.len() {
        let pointer = ahead.as_ptr().add(at);
        for line in (0..UNROLL * WIDTH).step_by(LINE_VALUES) {
            // A prefetch is a hint that never faults; the pointer lies inside `ahead`.
            _mm_prefetch::<_MM_HINT_T1>(pointer.add(line).cast());
        }
    }
}

/// [`band_body`] with intrinsics: eight values tested at a time, the selected ones packed.
#[target_feature(enable = "avx2,fma")]
unsafe fn band_avx2(values: &[f32], lower: f32, upper: f32, out: &mut Vec<f32>) -> usize {
    // Grown, never cleared: only new room is zero-filled, once per buffer.
    if out.len() < values.len() + WIDTH {
        out.resize(values.len() + WIDTH, 0.0);
    }
    let body = values.len() - values.len() % WIDTH;
    let lower_lanes = _mm256_set1_ps(lower);
    let upper_lanes = _mm256_set1_ps(upper);
    let mut kept = 0;
    for at in (0..body).step_by(WIDTH) {
        let lanes = _mm256_loadu_ps(values[at..at + WIDTH].as_ptr());
        let inside = _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_GE_OQ>(lanes, lower_lanes),
            _mm256_cmp_ps::<_CMP_LT_OQ>(lanes, upper_lanes),
        );
        let mask = _mm256_movemask_ps(inside) as u32;
        let order =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(PACK_ORDER[mask as usize].as_ptr().cast()));
        _mm256_storeu_ps(
            out[kept..kept + WIDTH].as_mut_ptr(),
            _mm256_permutevar8x32_ps(lanes, order),
        );
        kept += mask.count_ones() as usize;
    }
    for &value in &values[body..] {
        if value >= lower && value < upper {
            out[kept] = value;
            kept += 1;
        }
    }
    kept
}
