//! AVX2 + FMA builds of the row loops. The exponential and weight loops use explicit intrinsics:
//! eight lanes of exactly the operation sequence of [`det_exp`] and [`fixed_weight`]; the other
//! loops are the portable bodies compiled with the features enabled.

use std::arch::x86_64::*;

use super::portable::*;
use super::{Candidates, ChunkSums, RowLoops, WeighSpec, BAND_EDGES};
use crate::detmath::{
    det_exp, fixed_weight, EXP_COEFFICIENTS, EXP_INPUT_FLOOR, FIXED_POINT_SCALE, LN2_HIGH, LN2_LOW,
    LOG2_E, ROUNDING_MAGIC, ROUND_TO_INTEGER,
};

/// f32 lanes per vector.
const WIDTH: usize = 8;

/// Declares a safe wrapper around an AVX2 + FMA function.
macro_rules! safe_wrapper {
    ($wrapper:ident, $inner:ident, ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        fn $wrapper($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: only reachable through `loops()`, which checked that the CPU has AVX2 and FMA.
            unsafe { $inner($($arg),*) }
        }
    };
}

/// Declares an AVX2 + FMA build of a portable loop body and its safe wrapper.
macro_rules! avx2_build {
    ($wrapper:ident, $inner:ident, $body:ident, ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $inner($($arg: $ty),*) $(-> $ret)? {
            $body($($arg),*)
        }
        safe_wrapper!($wrapper, $inner, ($($arg: $ty),*) $(-> $ret)?);
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
safe_wrapper!(exp_sum, exp_sum_avx2, (values: &[f32], max: f32) -> u64);
safe_wrapper!(exp_store_sum, exp_store_sum_avx2,
    (values: &[f32], max: f32, out: &mut [f32]) -> u64);
safe_wrapper!(exp_in_place_sum, exp_in_place_sum_avx2, (values: &mut [f32], max: f32) -> u64);
safe_wrapper!(masked_sum, masked_sum_avx2, (exponentials: &[f32], floor: f32) -> u64);
safe_wrapper!(find_first, find_first_avx2, (values: &[f32], target: f32) -> Option<usize>);
safe_wrapper!(weigh, weigh_avx2,
    (source: &[f32], spec: &WeighSpec, first: u32, candidates: &mut Candidates) -> ChunkSums);

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
    })
}

/// `det_exp` on eight lanes: clamp, round to an integer with the magic constant, two Cody–Waite
/// FMAs, the degree-7 Horner FMAs and the power of two from the exponent bits.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp8(x: __m256) -> __m256 {
    // max_ps(x, floor) returns floor unless x > floor: the same value as `x < floor ? floor : x`.
    let clamped = _mm256_max_ps(x, _mm256_set1_ps(EXP_INPUT_FLOOR));
    let round = _mm256_set1_ps(ROUND_TO_INTEGER);
    let shifted = _mm256_add_ps(_mm256_mul_ps(clamped, _mm256_set1_ps(LOG2_E)), round);
    let n = _mm256_sub_ps(shifted, round);
    let exponent = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(round));
    let reduced = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_HIGH), clamped);
    let reduced = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_LOW), reduced);
    let mut poly = _mm256_set1_ps(EXP_COEFFICIENTS[0]);
    for &coefficient in &EXP_COEFFICIENTS[1..] {
        poly = _mm256_fmadd_ps(poly, reduced, _mm256_set1_ps(coefficient));
    }
    let scale = _mm256_slli_epi32::<23>(_mm256_add_epi32(exponent, _mm256_set1_epi32(127)));
    _mm256_mul_ps(poly, _mm256_castsi256_ps(scale))
}

/// Bit patterns of `f64(e) × 2^40 + 2^52` for eight exponentials, summed pairwise into four u64
/// lanes. Each pattern is `bits(2^52) + fixed_weight(e)`; the product is exact, so one FMA rounds
/// exactly like the separate multiply and add of [`fixed_weight`].
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn weight_bits(exponentials: __m256) -> __m256i {
    let scale = _mm256_set1_pd(FIXED_POINT_SCALE);
    let magic = _mm256_set1_pd(ROUNDING_MAGIC);
    let low = _mm256_cvtps_pd(_mm256_castps256_ps128(exponentials));
    let high = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(exponentials));
    _mm256_add_epi64(
        _mm256_castpd_si256(_mm256_fmadd_pd(low, scale, magic)),
        _mm256_castpd_si256(_mm256_fmadd_pd(high, scale, magic)),
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

/// Eight exponentials of `values[at..at + 8] − max`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_at(values: &[f32], at: usize, max: __m256) -> __m256 {
    debug_assert!(at + WIDTH <= values.len());
    exp8(_mm256_sub_ps(_mm256_loadu_ps(values.as_ptr().add(at)), max))
}

/// [`exp_sum_body`] with intrinsics.
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_sum_avx2(values: &[f32], max: f32) -> u64 {
    let max_lanes = _mm256_set1_ps(max);
    let body = values.len() - values.len() % (2 * WIDTH);
    let mut first = _mm256_setzero_si256();
    let mut second = _mm256_setzero_si256();
    for at in (0..body).step_by(2 * WIDTH) {
        first = _mm256_add_epi64(first, weight_bits(exp_at(values, at, max_lanes)));
        second = _mm256_add_epi64(second, weight_bits(exp_at(values, at + WIDTH, max_lanes)));
    }
    let total = weight_total(_mm256_add_epi64(first, second), body);
    values[body..].iter().fold(total, |total, &value| {
        total + fixed_weight(det_exp(value - max))
    })
}

/// [`exp_store_sum_body`] with intrinsics.
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_store_sum_avx2(values: &[f32], max: f32, out: &mut [f32]) -> u64 {
    let len = values.len().min(out.len());
    let max_lanes = _mm256_set1_ps(max);
    let body = len - len % WIDTH;
    let mut accumulator = _mm256_setzero_si256();
    for at in (0..body).step_by(WIDTH) {
        let exponentials = exp_at(values, at, max_lanes);
        _mm256_storeu_ps(out.as_mut_ptr().add(at), exponentials);
        accumulator = _mm256_add_epi64(accumulator, weight_bits(exponentials));
    }
    let mut total = weight_total(accumulator, body);
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
    let body = values.len() - values.len() % WIDTH;
    let mut accumulator = _mm256_setzero_si256();
    for at in (0..body).step_by(WIDTH) {
        let exponentials = exp_at(values, at, max_lanes);
        _mm256_storeu_ps(values.as_mut_ptr().add(at), exponentials);
        accumulator = _mm256_add_epi64(accumulator, weight_bits(exponentials));
    }
    let mut total = weight_total(accumulator, body);
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

/// Appends the lanes selected by `mask` (bit i = lane i) to the candidates.
#[inline]
fn gather_lanes(lanes: &[f32; WIDTH], mut mask: u32, first: u32, candidates: &mut Candidates) {
    while mask != 0 {
        let lane = mask.trailing_zeros();
        candidates.push(first + lane, lanes[lane as usize]);
        mask &= mask - 1;
    }
}

/// [`weigh_body`] with intrinsics, specialised on whether a floor and a gather threshold apply.
#[target_feature(enable = "avx2,fma")]
unsafe fn weigh_avx2(
    source: &[f32],
    spec: &WeighSpec,
    first: u32,
    candidates: &mut Candidates,
) -> ChunkSums {
    let masked = spec.floor > 0.0;
    let gathering = spec.gather != f32::INFINITY;
    match (masked, gathering) {
        (false, false) => weigh_with::<false, false>(source, spec, first, candidates),
        (false, true) => weigh_with::<false, true>(source, spec, first, candidates),
        (true, false) => weigh_with::<true, false>(source, spec, first, candidates),
        (true, true) => weigh_with::<true, true>(source, spec, first, candidates),
    }
}

/// The weights pass of one chunk. Without `MASKED` (floor <= 0) every weight is kept; without
/// `GATHER` (gather = +inf) nothing is gathered.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn weigh_with<const MASKED: bool, const GATHER: bool>(
    source: &[f32],
    spec: &WeighSpec,
    first: u32,
    candidates: &mut Candidates,
) -> ChunkSums {
    let max_lanes = _mm256_set1_ps(spec.max);
    let floor_lanes = _mm256_set1_ps(spec.floor);
    let gather_lanes_threshold = _mm256_set1_ps(spec.gather);
    let body = source.len() - source.len() % WIDTH;
    let mut all = _mm256_setzero_si256();
    let mut kept = _mm256_setzero_si256();
    let mut lanes = [0.0f32; WIDTH];
    for at in (0..body).step_by(WIDTH) {
        let exponentials = exp_at(source, at, max_lanes);
        all = _mm256_add_epi64(all, weight_bits(exponentials));
        if MASKED {
            let above = at_or_above(exponentials, floor_lanes);
            kept = _mm256_add_epi64(kept, weight_bits(above));
        }
        if GATHER {
            let selected = _mm256_cmp_ps::<_CMP_GE_OQ>(exponentials, gather_lanes_threshold);
            let mask = _mm256_movemask_ps(selected) as u32;
            if mask != 0 {
                _mm256_storeu_ps(lanes.as_mut_ptr(), exponentials);
                gather_lanes(&lanes, mask, first + at as u32, candidates);
            }
        }
    }
    let all = weight_total(all, body);
    let kept = if MASKED {
        weight_total(kept, body)
    } else {
        all
    };
    let tail = weigh_body(&source[body..], spec, first + body as u32, candidates);
    ChunkSums {
        all: all + tail.all,
        kept: kept + tail.kept,
    }
}
