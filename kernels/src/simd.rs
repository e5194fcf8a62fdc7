//! Row loops of the CPU backend, compiled twice: portable, and with AVX2 + FMA enabled when the
//! processor has them (chosen once at run time). Both produce identical bits: every operation is
//! correctly rounded, and `mul_add` is a true fused multiply-add on either path.

use crate::detmath::{det_exp, fixed_weight};

/// Independent accumulators per loop, so reductions map onto vector lanes.
const LANES: usize = 16;

/// Largest logit and whether the row holds a NaN or +inf.
#[inline(always)]
fn scan_body(values: &[f32]) -> (f32, bool) {
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
fn max_body(values: &[f32]) -> f32 {
    values
        .iter()
        .fold(f32::NEG_INFINITY, |max, &value| max.max(value))
}

/// `Σ fixed_weight(det_exp(x − max))`.
#[inline(always)]
fn exp_sum_body(values: &[f32], max: f32) -> u64 {
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
fn exp_store_sum_body(values: &[f32], max: f32, out: &mut [f32]) -> u64 {
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
fn exp_in_place_sum_body(values: &mut [f32], max: f32) -> u64 {
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
fn divide_store_body(values: &[f32], temperature: f32, out: &mut [f32]) {
    for (slot, &value) in out.iter_mut().zip(values) {
        *slot = value / temperature;
    }
}

/// Whether some finite input became non-finite in `scaled`.
#[inline(always)]
fn any_overflow_body(values: &[f32], scaled: &[f32]) -> bool {
    let mut overflow = false;
    for (&value, &result) in values.iter().zip(scaled) {
        overflow |= value.is_finite() & !result.is_finite();
    }
    overflow
}

/// `Σ fixed_weight(e)` over the exponentials `e >= floor`.
#[inline(always)]
fn masked_sum_body(exponentials: &[f32], floor: f32) -> u64 {
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

/// Number of band edges measured in one pass by [`RowLoops::band_counts`] / [`RowLoops::band_masses`].
pub(crate) const BAND_EDGES: usize = 5;

/// For each edge, the number of exponentials `e >= edge` (one pass).
#[inline(always)]
fn band_counts_body(exponentials: &[f32], edges: &[f32; BAND_EDGES]) -> [u64; BAND_EDGES] {
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
fn band_masses_body(exponentials: &[f32], edges: &[f32; BAND_EDGES]) -> [u64; BAND_EDGES] {
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

/// The row loops as plain function pointers, bound to the best instruction set available.
#[derive(Clone, Copy)]
pub(crate) struct RowLoops {
    /// Largest value and whether any value is NaN or +inf.
    pub scan: fn(&[f32]) -> (f32, bool),
    /// Largest value of a NaN-free row.
    pub max: fn(&[f32]) -> f32,
    /// Sum of fixed-point weights of `det_exp(x − max)`.
    pub exp_sum: fn(&[f32], f32) -> u64,
    /// Stores exponentials and returns their weight sum.
    pub exp_store_sum: fn(&[f32], f32, &mut [f32]) -> u64,
    /// Exponentials in place, returning their weight sum.
    pub exp_in_place_sum: fn(&mut [f32], f32) -> u64,
    /// Divides by the temperature into a buffer.
    pub divide_store: fn(&[f32], f32, &mut [f32]),
    /// Detects finite values that overflowed.
    pub any_overflow: fn(&[f32], &[f32]) -> bool,
    /// Weight sum of exponentials at or above a floor.
    pub masked_sum: fn(&[f32], f32) -> u64,
    /// Counts at or above each band edge.
    pub band_counts: fn(&[f32], &[f32; BAND_EDGES]) -> [u64; BAND_EDGES],
    /// Masses at or above each band edge.
    pub band_masses: fn(&[f32], &[f32; BAND_EDGES]) -> [u64; BAND_EDGES],
}

/// Portable build of the loops.
const PORTABLE: RowLoops = RowLoops {
    scan: scan_body,
    max: max_body,
    exp_sum: exp_sum_body,
    exp_store_sum: exp_store_sum_body,
    exp_in_place_sum: exp_in_place_sum_body,
    divide_store: divide_store_body,
    any_overflow: any_overflow_body,
    masked_sum: masked_sum_body,
    band_counts: band_counts_body,
    band_masses: band_masses_body,
};

impl RowLoops {
    /// The fastest build this processor supports.
    pub fn detect() -> Self {
        accelerated::loops().unwrap_or(PORTABLE)
    }

    /// The portable build (used to check that both builds agree).
    #[cfg(test)]
    pub fn portable() -> Self {
        PORTABLE
    }
}

#[cfg(target_arch = "x86_64")]
mod accelerated {
    //! AVX2 + FMA builds of the loops.

    use super::*;

    /// Declares a safe wrapper around an AVX2 + FMA build of a loop body.
    macro_rules! avx2_wrapper {
        ($wrapper:ident, $inner:ident, $body:ident, ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn $inner($($arg: $ty),*) $(-> $ret)? {
                $body($($arg),*)
            }
            fn $wrapper($($arg: $ty),*) $(-> $ret)? {
                // SAFETY: only reachable through `loops()`, which checked that the CPU has AVX2 and FMA.
                unsafe { $inner($($arg),*) }
            }
        };
    }

    avx2_wrapper!(scan, scan_avx2, scan_body, (values: &[f32]) -> (f32, bool));
    avx2_wrapper!(max, max_avx2, max_body, (values: &[f32]) -> f32);
    avx2_wrapper!(exp_sum, exp_sum_avx2, exp_sum_body, (values: &[f32], max: f32) -> u64);
    avx2_wrapper!(exp_store_sum, exp_store_sum_avx2, exp_store_sum_body,
        (values: &[f32], max: f32, out: &mut [f32]) -> u64);
    avx2_wrapper!(exp_in_place_sum, exp_in_place_sum_avx2, exp_in_place_sum_body,
        (values: &mut [f32], max: f32) -> u64);
    avx2_wrapper!(divide_store, divide_store_avx2, divide_store_body,
        (values: &[f32], temperature: f32, out: &mut [f32]));
    avx2_wrapper!(any_overflow, any_overflow_avx2, any_overflow_body,
        (values: &[f32], scaled: &[f32]) -> bool);
    avx2_wrapper!(masked_sum, masked_sum_avx2, masked_sum_body,
        (exponentials: &[f32], floor: f32) -> u64);
    avx2_wrapper!(band_counts, band_counts_avx2, band_counts_body,
        (exponentials: &[f32], edges: &[f32; BAND_EDGES]) -> [u64; BAND_EDGES]);
    avx2_wrapper!(band_masses, band_masses_avx2, band_masses_body,
        (exponentials: &[f32], edges: &[f32; BAND_EDGES]) -> [u64; BAND_EDGES]);

    /// The AVX2 + FMA loops when the processor supports both.
    pub(super) fn loops() -> Option<RowLoops> {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
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
        })
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod accelerated {
    //! No specialised build on this architecture.

    use super::RowLoops;

    /// Always `None`: the portable loops are used.
    pub(super) fn loops() -> Option<RowLoops> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accelerated_and_portable_loops_agree_bitwise() {
        let fast = RowLoops::detect();
        let slow = RowLoops::portable();
        let values: Vec<f32> = (0..5000)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 0.037)
            .chain([f32::NEG_INFINITY, -200.0])
            .collect();
        let (max, bad) = (fast.scan)(&values);
        assert_eq!((max, bad), (slow.scan)(&values));
        assert!(!bad);
        assert_eq!((fast.exp_sum)(&values, max), (slow.exp_sum)(&values, max));
        let mut out_fast = vec![0.0; values.len()];
        let mut out_slow = vec![0.0; values.len()];
        assert_eq!(
            (fast.exp_store_sum)(&values, max, &mut out_fast),
            (slow.exp_store_sum)(&values, max, &mut out_slow)
        );
        assert_eq!(out_fast, out_slow);
        assert_eq!(
            (fast.masked_sum)(&out_fast, 0.25),
            (slow.masked_sum)(&out_slow, 0.25)
        );
        for (index, &value) in values.iter().enumerate() {
            assert_eq!(out_fast[index].to_bits(), det_exp(value - max).to_bits());
        }
        (fast.divide_store)(&values, 0.7, &mut out_fast);
        (slow.divide_store)(&values, 0.7, &mut out_slow);
        assert_eq!(out_fast, out_slow);
        assert!(!(fast.any_overflow)(&values, &out_fast));
        let edges = [0.5, 0.1, 0.01, 1e-4, 0.0];
        let counts = (fast.band_counts)(&out_slow, &edges);
        let masses = (fast.band_masses)(&out_slow, &edges);
        assert_eq!(counts, (slow.band_counts)(&out_slow, &edges));
        assert_eq!(masses, (slow.band_masses)(&out_slow, &edges));
        for (band, &edge) in edges.iter().enumerate() {
            let expected = out_slow.iter().filter(|&&v| v >= edge).count() as u64;
            assert_eq!(counts[band], expected);
            assert_eq!(masses[band], (slow.masked_sum)(&out_slow, edge));
        }
        assert!((fast.scan)(&[1.0, f32::NAN]).1);
        assert!((fast.scan)(&[1.0, f32::INFINITY]).1);
    }
}
