//! Exact threshold selection over a row's exponentials by radix histograms (no sort of the row).
//!
//! Exponentials are non-negative f32, so their bit patterns order like their values. The
//! selection finds the largest value `t` present in the row such that the accumulated measure
//! (a count for top-k, a fixed-point mass for top-p) of `{e >= t, e >= floor}` reaches `target`.
//! Level 0 histograms the whole row by exponent (bits 31..23); the crossing bucket's members are
//! gathered and refined on bits 22..11, then on bits 10..0, which pins the exact value.

use crate::detmath::fixed_weight;
use crate::simd::{RowLoops, BAND_EDGES};

/// Digit layout: (shift, mask) of each radix level, most significant first.
const LEVELS: [(u32, u32); 3] = [(23, 0x1ff), (11, 0xfff), (0, 0x7ff)];

/// What each kept element contributes to the accumulated measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measure {
    /// One per element (top-k).
    Count,
    /// The element's fixed-point weight (top-p).
    Mass,
}

impl Measure {
    /// The contribution of one exponential.
    #[inline(always)]
    fn of(self, exponential: f32) -> u64 {
        match self {
            Measure::Count => 1,
            Measure::Mass => fixed_weight(exponential),
        }
    }
}

/// Index of the highest bucket at which the accumulated measure, scanned from the top, reaches
/// `target`, and the measure strictly above it.
fn crossing_bucket(histogram: &[u64], target: u64) -> Option<(usize, u64)> {
    let mut above = 0u64;
    for bucket in (0..histogram.len()).rev() {
        let through = above + histogram[bucket];
        if through >= target && histogram[bucket] > 0 {
            return Some((bucket, above));
        }
        above = through;
    }
    None
}

/// Reusable buffers of the selection.
#[derive(Debug, Default)]
pub(crate) struct SelectScratch {
    /// Bit patterns of the gathered candidates.
    candidates: Vec<u32>,
    /// One histogram, reused per level.
    histogram: Vec<u64>,
}

impl SelectScratch {
    /// Bytes the buffers hold.
    pub(crate) fn held_bytes(&self) -> usize {
        self.candidates.capacity() * std::mem::size_of::<u32>()
            + self.histogram.capacity() * std::mem::size_of::<u64>()
    }
}

/// Band edges of the coarse stage, descending, all measured in one vectorised pass.
const COARSE_EDGES: [f32; BAND_EDGES] = [0.5, 0.0625, 0.003_906_25, 6.103_515_6e-5, 2.384_185_8e-7];

/// Refinement rounds of the coarse stage (one vectorised pass each).
const COARSE_ROUNDS: usize = 3;
/// Exponentials below this have a zero fixed-point weight; the coarse stage does not split below it.
const SMALLEST_WEIGHTED: f32 = 4.547_474e-13;

/// Measures of `{e >= edge}` for every edge, in one vectorised pass.
fn band_measures(
    loops: &RowLoops,
    exponentials: &[f32],
    edges: &[f32; BAND_EDGES],
    measure: Measure,
) -> [u64; BAND_EDGES] {
    match measure {
        Measure::Count => (loops.band_counts)(exponentials, edges),
        Measure::Mass => (loops.band_masses)(exponentials, edges),
    }
}

/// Largest `t` among `exponentials` with `measure({e >= t, e >= floor}) >= target`; `None` when the
/// whole measure stays below `target` (or `target` is 0).
///
/// A coarse stage measures `{e >= edge}` for descending power-of-two edges in one pass; only the
/// values of the band where the target is reached are gathered and refined by radix histograms.
pub(crate) fn threshold(
    loops: &RowLoops,
    exponentials: &[f32],
    floor: f32,
    target: u64,
    measure: Measure,
    scratch: &mut SelectScratch,
) -> Option<f32> {
    if target == 0 {
        return None;
    }
    // Invariant: measure({e >= upper}) = above < target, and either lower == floor or
    // measure({e >= lower}) >= target. The edges only decide how fast the band narrows; the
    // result is the same exact threshold for any edges.
    let mut upper = f32::INFINITY;
    let mut above = 0u64;
    let mut lower = floor;
    let mut edges = COARSE_EDGES;
    for _ in 0..COARSE_ROUNDS {
        if edges[0] <= lower || edges[0] >= upper && edges[BAND_EDGES - 1] >= upper {
            break;
        }
        let measures = band_measures(loops, exponentials, &edges, measure);
        for (&edge, &measured) in edges.iter().zip(&measures) {
            if edge <= lower {
                break;
            }
            if edge >= upper {
                continue;
            }
            if measured >= target {
                lower = edge;
                break;
            }
            upper = edge;
            above = measured;
        }
        let bottom = lower.max(SMALLEST_WEIGHTED);
        let top = upper.min(1.0);
        if top <= bottom * 2.0 {
            break;
        }
        let ratio = (bottom / top).powf(1.0 / (BAND_EDGES as f32 + 1.0));
        let mut edge = top;
        for slot in edges.iter_mut() {
            edge *= ratio;
            *slot = edge;
        }
    }
    let mut remaining = target - above;
    scratch.candidates.clear();
    scratch.candidates.extend(
        exponentials
            .iter()
            .filter(|&&value| value >= lower && value < upper)
            .map(|value| value.to_bits()),
    );
    let mut prefix = 0u32;
    for (level, &(shift, mask)) in LEVELS.iter().enumerate() {
        let histogram = &mut scratch.histogram;
        histogram.clear();
        histogram.resize(mask as usize + 1, 0);
        for &bits in &scratch.candidates {
            histogram[((bits >> shift) & mask) as usize] += measure.of(f32::from_bits(bits));
        }
        let (digit, bucket_above) = crossing_bucket(histogram, remaining)?;
        remaining -= bucket_above;
        prefix = if level == 0 {
            digit as u32
        } else {
            (prefix << mask.count_ones()) | digit as u32
        };
        scratch
            .candidates
            .retain(|&bits| (bits >> shift) & mask == digit as u32);
    }
    Some(f32::from_bits(prefix))
}

/// Bits of each of the two radix levels of [`threshold_in_bucket`].
const BUCKET_LEVEL_BITS: u32 = 9;

/// [`threshold`] with floor 0 for values that all share their bit pattern above the lowest
/// `low_bits` bits (one bucket of a histogram keyed on `bits >> low_bits`, `low_bits` ≤ 18): the
/// same exact result from two small radix levels over the low bits, with no coarse stage.
pub(crate) fn threshold_in_bucket(
    values: &[f32],
    low_bits: u32,
    target: u64,
    measure: Measure,
    scratch: &mut SelectScratch,
) -> Option<f32> {
    let first = values.first()?;
    if target == 0 || low_bits > 2 * BUCKET_LEVEL_BITS {
        return None;
    }
    let low_mask = (1u32 << low_bits) - 1;
    let high = first.to_bits() & !low_mask;
    debug_assert!(values.iter().all(|v| v.to_bits() & !low_mask == high));
    let digit_mask = (1u32 << BUCKET_LEVEL_BITS) - 1;
    let histogram = &mut scratch.histogram;
    // Upper level: bits 9..17 of every value.
    histogram.clear();
    histogram.resize(digit_mask as usize + 1, 0);
    for &value in values {
        let digit = (value.to_bits() >> BUCKET_LEVEL_BITS) & digit_mask;
        histogram[digit as usize] += measure.of(value);
    }
    let (upper_digit, above) = crossing_bucket(histogram, target)?;
    let upper_digit = upper_digit as u32;
    // Lower level: bits 0..8 of the values whose upper digit crossed.
    histogram.clear();
    histogram.resize(digit_mask as usize + 1, 0);
    for &value in values {
        let bits = value.to_bits();
        if (bits >> BUCKET_LEVEL_BITS) & digit_mask == upper_digit {
            histogram[(bits & digit_mask) as usize] += measure.of(value);
        }
    }
    let (lower_digit, _) = crossing_bucket(histogram, target - above)?;
    let digits = (upper_digit << BUCKET_LEVEL_BITS) | lower_digit as u32;
    Some(f32::from_bits(high | (digits & low_mask)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorting reference of [`threshold`].
    fn reference(values: &[f32], floor: f32, target: u64, measure: Measure) -> Option<f32> {
        let mut sorted: Vec<f32> = values.iter().copied().filter(|&v| v >= floor).collect();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let mut accumulated = 0u64;
        for (position, &value) in sorted.iter().enumerate() {
            accumulated += measure.of(value);
            let ends_tie_group = sorted.get(position + 1) != Some(&value);
            if accumulated >= target && ends_tie_group && target > 0 {
                return Some(value);
            }
        }
        None
    }

    #[test]
    fn threshold_matches_sorting_reference() {
        let mut values: Vec<f32> = (0..3000)
            .map(|i| crate::detmath::det_exp(-((i * 37 % 1009) as f32) * 0.011))
            .collect();
        values.extend([1.0, 1.0, 0.5, 0.5, 0.0, 1e-30]);
        let mut scratch = SelectScratch::default();
        let loops = RowLoops::detect();
        for floor in [0.0f32, 0.2, 0.9] {
            for target in [1u64, 2, 3, 50, 999, 3005, 3006, 10_000] {
                assert_eq!(
                    threshold(&loops, &values, floor, target, Measure::Count, &mut scratch),
                    reference(&values, floor, target, Measure::Count),
                    "count floor {floor} target {target}"
                );
            }
            let total: u64 = values
                .iter()
                .filter(|&&v| v >= floor)
                .map(|&v| fixed_weight(v))
                .sum();
            for fraction in [0.0, 0.01, 0.3, 0.5, 0.9, 0.999, 1.0] {
                let target = ((total as f64 * fraction) as u64).max(1);
                assert_eq!(
                    threshold(&loops, &values, floor, target, Measure::Mass, &mut scratch),
                    reference(&values, floor, target, Measure::Mass),
                    "mass floor {floor} fraction {fraction}"
                );
            }
        }
        assert_eq!(
            threshold(&loops, &values, 0.0, 0, Measure::Count, &mut scratch),
            None
        );
    }

    #[test]
    fn threshold_in_a_bucket_matches_the_general_selection() {
        let loops = RowLoops::detect();
        let mut scratch = SelectScratch::default();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for (low_bits, high) in [(18u32, 0.6f32), (18, 1e-5), (12, 0.3), (9, 0.9), (1, 0.2)] {
            let low_mask = (1u32 << low_bits) - 1;
            let high = high.to_bits() & !low_mask;
            for count in [1usize, 2, 7, 600, 5000] {
                let values: Vec<f32> = (0..count)
                    .map(|i| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        // Some repeats, so ties are covered.
                        let low = if i % 5 == 0 { 3 } else { state as u32 };
                        f32::from_bits(high | (low & low_mask))
                    })
                    .collect();
                let total_mass: u64 = values.iter().map(|&v| fixed_weight(v)).sum();
                for measure in [Measure::Count, Measure::Mass] {
                    let total = match measure {
                        Measure::Count => count as u64,
                        Measure::Mass => total_mass,
                    };
                    for target in [
                        0,
                        1,
                        total / 3,
                        total / 2,
                        total.saturating_sub(1),
                        total,
                        total + 1,
                    ] {
                        assert_eq!(
                            threshold_in_bucket(&values, low_bits, target, measure, &mut scratch),
                            threshold(&loops, &values, 0.0, target, measure, &mut scratch),
                            "low bits {low_bits} count {count} {measure:?} target {target}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn all_ties_select_the_tied_value() {
        let values = vec![0.25f32; 100];
        let mut scratch = SelectScratch::default();
        let loops = RowLoops::detect();
        assert_eq!(
            threshold(&loops, &values, 0.0, 7, Measure::Count, &mut scratch),
            Some(0.25)
        );
        assert_eq!(
            threshold(&loops, &values, 0.0, 1, Measure::Mass, &mut scratch),
            Some(0.25)
        );
    }
}
