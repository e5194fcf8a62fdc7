//! Portable row loops: the reference semantics of every loop. The AVX2 + FMA and AVX-512 modules
//! build some of them again from these bodies and write the heavy ones with explicit intrinsics.

use super::{Candidates, ChunkSums, WeighSpec, BAND_EDGES, HISTOGRAM_BUCKETS, HISTOGRAM_SHIFT};
use crate::detmath::{det_exp, fixed_weight};

/// Independent accumulators per loop, so reductions map onto vector lanes.
const LANES: usize = 16;

/// Largest logit and whether the row holds a NaN or +inf.
#[inline(always)]
pub(super) fn scan_body(values: &[f32]) -> (f32, bool) {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut bad = [false; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for lane in 0..LANES {
            let value = chunk[lane];
            lanes[lane] = if value > lanes[lane] {
                value
            } else {
                lanes[lane]
            };
            bad[lane] |= value.is_nan() | (value == f32::INFINITY);
        }
    }
    let mut max = lanes.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut any_bad = bad.iter().any(|&flag| flag);
    for &value in tail {
        max = max.max(value);
        any_bad |= value.is_nan() | (value == f32::INFINITY);
    }
    (max, any_bad)
}

/// Largest value of a row known to hold no NaN.
#[inline(always)]
pub(super) fn max_body(values: &[f32]) -> f32 {
    values
        .iter()
        .fold(f32::NEG_INFINITY, |max, &value| max.max(value))
}

/// `Σ fixed_weight(det_exp(x − max))`.
#[inline(always)]
pub(super) fn exp_sum_body(values: &[f32], max: f32) -> u64 {
    let mut lanes = [0u64; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for lane in 0..LANES {
            lanes[lane] += fixed_weight(det_exp(chunk[lane] - max));
        }
    }
    let tail_total: u64 = tail.iter().map(|&v| fixed_weight(det_exp(v - max))).sum();
    lanes.iter().sum::<u64>() + tail_total
}

/// Writes `det_exp(x − max)` to `out` and returns the sum of their fixed-point weights.
#[inline(always)]
pub(super) fn exp_store_sum_body(values: &[f32], max: f32, out: &mut [f32]) -> u64 {
    let mut lanes = [0u64; LANES];
    let mut out_chunks = out.chunks_exact_mut(LANES);
    let mut chunks = values.chunks_exact(LANES);
    for (slots, chunk) in (&mut out_chunks).zip(&mut chunks) {
        for lane in 0..LANES {
            let exponential = det_exp(chunk[lane] - max);
            slots[lane] = exponential;
            lanes[lane] += fixed_weight(exponential);
        }
    }
    let mut total: u64 = lanes.iter().sum();
    for (slot, &value) in out_chunks
        .into_remainder()
        .iter_mut()
        .zip(chunks.remainder())
    {
        let exponential = det_exp(value - max);
        *slot = exponential;
        total += fixed_weight(exponential);
    }
    total
}

/// Replaces every value by `det_exp(value − max)` and returns the sum of their fixed-point weights.
#[inline(always)]
pub(super) fn exp_in_place_sum_body(values: &mut [f32], max: f32) -> u64 {
    let mut lanes = [0u64; LANES];
    let mut chunks = values.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for slot in chunk.iter_mut().zip(lanes.iter_mut()) {
            let exponential = det_exp(*slot.0 - max);
            *slot.0 = exponential;
            *slot.1 += fixed_weight(exponential);
        }
    }
    let mut total: u64 = lanes.iter().sum();
    for slot in chunks.into_remainder() {
        let exponential = det_exp(*slot - max);
        *slot = exponential;
        total += fixed_weight(exponential);
    }
    total
}

/// Writes `x / temperature` to `out`.
#[inline(always)]
pub(super) fn divide_store_body(values: &[f32], temperature: f32, out: &mut [f32]) {
    for (slot, &value) in out.iter_mut().zip(values) {
        *slot = value / temperature;
    }
}

/// Whether some finite input became non-finite in `scaled`.
#[inline(always)]
pub(super) fn any_overflow_body(values: &[f32], scaled: &[f32]) -> bool {
    let mut overflow = false;
    for (&value, &result) in values.iter().zip(scaled) {
        overflow |= value.is_finite() & !result.is_finite();
    }
    overflow
}

/// `Σ fixed_weight(e)` over the exponentials `e >= floor`.
#[inline(always)]
pub(super) fn masked_sum_body(exponentials: &[f32], floor: f32) -> u64 {
    let weight = |value: f32| {
        if value >= floor {
            fixed_weight(value)
        } else {
            0
        }
    };
    let mut lanes = [0u64; LANES];
    let chunks = exponentials.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for lane in 0..LANES {
            lanes[lane] += weight(chunk[lane]);
        }
    }
    lanes.iter().sum::<u64>() + tail.iter().map(|&value| weight(value)).sum::<u64>()
}

/// For each edge, the number of exponentials `e >= edge` (one pass).
#[inline(always)]
pub(super) fn band_counts_body(
    exponentials: &[f32],
    edges: &[f32; BAND_EDGES],
) -> [u64; BAND_EDGES] {
    let mut counts = [[0u32; 8]; BAND_EDGES];
    let chunks = exponentials.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (band, &edge) in edges.iter().enumerate() {
            for lane in 0..8 {
                counts[band][lane] += u32::from(chunk[lane] >= edge);
            }
        }
    }
    let mut totals = [0u64; BAND_EDGES];
    for (band, &edge) in edges.iter().enumerate() {
        let tail_count = tail.iter().filter(|&&value| value >= edge).count() as u64;
        totals[band] = counts[band].iter().map(|&c| u64::from(c)).sum::<u64>() + tail_count;
    }
    totals
}

/// For each edge, the fixed-point mass of exponentials `e >= edge` (one pass).
#[inline(always)]
pub(super) fn band_masses_body(
    exponentials: &[f32],
    edges: &[f32; BAND_EDGES],
) -> [u64; BAND_EDGES] {
    let mut masses = [[0u64; 4]; BAND_EDGES];
    let chunks = exponentials.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let weights = [
            fixed_weight(chunk[0]),
            fixed_weight(chunk[1]),
            fixed_weight(chunk[2]),
            fixed_weight(chunk[3]),
        ];
        for (band, &edge) in edges.iter().enumerate() {
            for lane in 0..4 {
                masses[band][lane] += if chunk[lane] >= edge {
                    weights[lane]
                } else {
                    0
                };
            }
        }
    }
    let mut totals = [0u64; BAND_EDGES];
    for (band, &edge) in edges.iter().enumerate() {
        let tail_mass: u64 = tail
            .iter()
            .filter(|&&value| value >= edge)
            .map(|&value| fixed_weight(value))
            .sum();
        totals[band] = masses[band].iter().sum::<u64>() + tail_mass;
    }
    totals
}

/// First index holding exactly `target` (`==`, so −0.0 matches 0.0).
#[inline(always)]
pub(super) fn find_first_body(values: &[f32], target: f32) -> Option<usize> {
    values.iter().position(|&value| value == target)
}

/// One chunk of the weights pass: for `e = det_exp(x − max)`, the weight sum of every element and
/// of those with `e >= floor`; elements with `e >= gather` are appended (index `first + offset`)
/// to `candidates`.
#[inline(always)]
pub(super) fn weigh_body(
    source: &[f32],
    spec: &WeighSpec,
    first: u32,
    candidates: &mut Candidates,
) -> ChunkSums {
    let mut sums = ChunkSums::default();
    for (offset, &value) in source.iter().enumerate() {
        let exponential = det_exp(value - spec.max);
        let weight = fixed_weight(exponential);
        sums.all += weight;
        if exponential >= spec.floor {
            sums.kept += weight;
        }
        if exponential >= spec.gather {
            candidates.push(first + offset as u32, exponential);
        }
    }
    sums
}

/// Adds `fixed_weight(e)` to bucket `bits(e) >> HISTOGRAM_SHIFT` for every exponential.
#[inline(always)]
pub(super) fn histogram_body(exponentials: &[f32], histogram: &mut [u64]) {
    for &value in exponentials {
        let bucket = (value.to_bits() >> HISTOGRAM_SHIFT) as usize & (HISTOGRAM_BUCKETS - 1);
        if let Some(slot) = histogram.get_mut(bucket) {
            *slot += fixed_weight(value);
        }
    }
}

/// Writes the values in `[lower, upper)`, in order, to the start of `out` and returns how many
/// there are (`out` may hold more after them).
#[inline(always)]
pub(super) fn band_body(values: &[f32], lower: f32, upper: f32, out: &mut Vec<f32>) -> usize {
    out.clear();
    out.extend(
        values
            .iter()
            .filter(|&&value| value >= lower && value < upper),
    );
    out.len()
}
