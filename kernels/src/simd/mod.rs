//! Row loops of the CPU backend, built three times: portable, for AVX2 + FMA, and for AVX-512
//! (the best the processor has is chosen at run time, unless [`set_cpu_instruction_set`] says
//! otherwise). All produce identical bits: every operation is correctly rounded, and `mul_add`
//! is a true fused multiply-add on every path.

/// Declares a safe wrapper around a loop compiled for extra instruction-set features.
#[cfg(target_arch = "x86_64")]
macro_rules! safe_wrapper {
    ($wrapper:ident, $inner:ident, ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        fn $wrapper($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: only reachable through the module's `loops()`, which checked that the CPU
            // has every feature the inner function enables.
            unsafe { $inner($($arg),*) }
        }
    };
}

/// Declares a build of a portable loop body with the target features `$features`, and its safe
/// wrapper.
#[cfg(target_arch = "x86_64")]
macro_rules! feature_build {
    ($features:literal, $wrapper:ident, $inner:ident, $body:ident,
        ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        #[target_feature(enable = $features)]
        unsafe fn $inner($($arg: $ty),*) $(-> $ret)? {
            $body($($arg),*)
        }
        safe_wrapper!($wrapper, $inner, ($($arg: $ty),*) $(-> $ret)?);
    };
}

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod instruction_set;
mod portable;

use portable::*;

#[cfg(test)]
pub(crate) use instruction_set::accelerated_builds;
pub use instruction_set::{cpu_instruction_set, set_cpu_instruction_set, CpuInstructionSet};

/// Number of band edges measured in one pass by [`RowLoops::band_counts`] / [`RowLoops::band_masses`].
pub(crate) const BAND_EDGES: usize = 5;

/// What one chunk of the weights pass computes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WeighSpec {
    /// Subtracted from every value before `det_exp`.
    pub max: f32,
    /// `kept` sums the weights of exponentials at or above this.
    pub floor: f32,
    /// Exponentials at or above this are gathered as candidates (`+inf`: none).
    pub gather: f32,
}

/// Weight sums of one chunk of the weights pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ChunkSums {
    /// Sum of every fixed-point weight.
    pub all: u64,
    /// Sum of the weights of exponentials at or above the floor.
    pub kept: u64,
}

/// Gathered (index, exponential) pairs in increasing index order.
///
/// Once a writer has called [`Candidates::reserve`], the buffers hold at least
/// [`Candidates::SLACK`] slots past the logical length (a defensive margin: the vector writers'
/// bounds-checked full-vector stores stay within the room they reserved).
#[derive(Debug, Default, Clone)]
pub(crate) struct Candidates {
    /// Token indices (valid up to `len`).
    indices: Vec<u32>,
    /// Their exponentials (valid up to `len`).
    values: Vec<f32>,
    /// Number of valid pairs.
    len: usize,
}

impl PartialEq for Candidates {
    fn eq(&self, other: &Self) -> bool {
        self.indices() == other.indices()
            && self
                .values()
                .iter()
                .map(|v| v.to_bits())
                .eq(other.values().iter().map(|v| v.to_bits()))
    }
}

impl Candidates {
    /// Free slots kept past the logical length.
    pub const SLACK: usize = 16;

    /// Makes room for [`Self::SLACK`] more slots past the logical length.
    #[inline]
    pub fn reserve_slack(&mut self) {
        self.reserve(0);
    }

    /// Makes room for `additional` pairs plus [`Self::SLACK`] slots past the logical length.
    #[inline]
    pub fn reserve(&mut self, additional: usize) {
        let needed = self.len + additional + Self::SLACK;
        if self.values.len() < needed {
            let grown = needed.max(2 * self.values.len()).max(64);
            self.values.resize(grown, 0.0);
            self.indices.resize(grown, 0);
        }
    }

    /// The free slots past the logical length (at least [`Self::SLACK`] after `reserve`).
    #[inline]
    pub fn spare(&mut self) -> (&mut [u32], &mut [f32]) {
        (&mut self.indices[self.len..], &mut self.values[self.len..])
    }

    /// Counts `added` pairs written into the spare slots as valid.
    #[inline]
    pub fn commit(&mut self, added: usize) {
        self.len = (self.len + added).min(self.values.len());
    }

    /// Appends one pair.
    #[inline]
    pub fn push(&mut self, index: u32, value: f32) {
        self.reserve_slack();
        self.indices[self.len] = index;
        self.values[self.len] = value;
        self.len += 1;
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Token indices of the pairs.
    pub fn indices(&self) -> &[u32] {
        &self.indices[..self.len]
    }

    /// Exponentials of the pairs.
    pub fn values(&self) -> &[f32] {
        &self.values[..self.len]
    }

    /// Removes every pair.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Bytes the buffers hold.
    pub fn held_bytes(&self) -> usize {
        self.indices.capacity() * std::mem::size_of::<u32>()
            + self.values.capacity() * std::mem::size_of::<f32>()
    }

    /// Keeps the pairs whose exponential is at or above `floor`, in order.
    pub fn retain_at_least(&mut self, floor: f32) {
        let mut kept = 0;
        for position in 0..self.len {
            let value = self.values[position];
            if value >= floor {
                self.values[kept] = value;
                self.indices[kept] = self.indices[position];
                kept += 1;
            }
        }
        self.len = kept;
    }
}

/// Bit patterns of exponentials are bucketed by their bits from this one up: exponent and the top
/// five mantissa bits, so a bucket spans a factor of at most `2^(1/32)`.
pub(crate) const HISTOGRAM_SHIFT: u32 = 18;
/// Buckets of [`RowLoops::histogram`]: every non-negative f32 bit pattern has one.
pub(crate) const HISTOGRAM_BUCKETS: usize = 1 << (31 - HISTOGRAM_SHIFT);

/// The row loops as plain function pointers, bound to one build (instruction set).
#[derive(Clone, Copy)]
pub(crate) struct RowLoops {
    /// Largest value and whether any value is NaN or +inf.
    pub scan: fn(&[f32]) -> (f32, bool),
    /// Largest value of a NaN-free row.
    pub max: fn(&[f32]) -> f32,
    /// Sum of fixed-point weights of `det_exp(x − max)`, prefetching the same positions of a
    /// second slice (the row sampled next) alongside.
    pub exp_sum: fn(&[f32], f32, &[f32]) -> u64,
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
    /// First index holding a value equal to the target.
    pub find_first: fn(&[f32], f32) -> Option<usize>,
    /// One chunk of the weights pass (sums and gathered candidates), prefetching the same
    /// positions of a second slice (the row sampled next) alongside.
    pub weigh: fn(&[f32], &[f32], &WeighSpec, u32, &mut Candidates) -> ChunkSums,
    /// Adds the weight of each exponential to its bucket (`bits >> HISTOGRAM_SHIFT`) of a
    /// histogram of [`HISTOGRAM_BUCKETS`] masses.
    pub histogram: fn(&[f32], &mut [u64]),
    /// Keeps the candidates at or above a floor, in order.
    pub retain: fn(&mut Candidates, f32),
    /// Writes the values in `[lower, upper)`, in order, to the start of the output and returns
    /// how many there are (the output may hold more after them).
    pub band: fn(&[f32], f32, f32, &mut Vec<f32>) -> usize,
}

/// Portable build of the loops.
const PORTABLE: RowLoops = RowLoops {
    scan: scan_body,
    max: max_body,
    exp_sum: exp_sum_portable,
    exp_store_sum: exp_store_sum_body,
    exp_in_place_sum: exp_in_place_sum_body,
    divide_store: divide_store_body,
    any_overflow: any_overflow_body,
    masked_sum: masked_sum_body,
    band_counts: band_counts_body,
    band_masses: band_masses_body,
    find_first: find_first_body,
    weigh: weigh_portable,
    histogram: histogram_body,
    retain: Candidates::retain_at_least,
    band: band_body,
};

/// [`exp_sum_body`]; the portable build gives no prefetch hints.
fn exp_sum_portable(values: &[f32], max: f32, _ahead: &[f32]) -> u64 {
    exp_sum_body(values, max)
}

/// [`weigh_body`]; the portable build gives no prefetch hints.
fn weigh_portable(
    source: &[f32],
    _ahead: &[f32],
    spec: &WeighSpec,
    first: u32,
    candidates: &mut Candidates,
) -> ChunkSums {
    weigh_body(source, spec, first, candidates)
}

impl RowLoops {
    /// The loops of [`cpu_instruction_set`]: the build [`set_cpu_instruction_set`] chose, else
    /// the fastest this processor supports.
    pub fn current() -> Self {
        cpu_instruction_set().loops().unwrap_or(PORTABLE)
    }

    /// The fastest build this processor supports.
    #[cfg(test)]
    pub fn detect() -> Self {
        CpuInstructionSet::best().loops().unwrap_or(PORTABLE)
    }

    /// The portable build (used to check that every build agrees with it).
    #[cfg(test)]
    pub fn portable() -> Self {
        PORTABLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detmath::det_exp;

    #[test]
    fn accelerated_and_portable_loops_agree_bitwise() {
        for (build, fast) in accelerated_builds() {
            eprintln!("checking the {build} build");
            accelerated_and_portable_loops_agree_bitwise_with(fast);
        }
    }

    fn accelerated_and_portable_loops_agree_bitwise_with(fast: RowLoops) {
        let slow = RowLoops::portable();
        let values: Vec<f32> = (0..5000)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 0.037)
            .chain([f32::NEG_INFINITY, -200.0])
            .collect();
        let (max, bad) = (fast.scan)(&values);
        assert_eq!((max, bad), (slow.scan)(&values));
        assert!(!bad);
        assert_eq!(
            (fast.exp_sum)(&values, max, &[]),
            (slow.exp_sum)(&values, max, &[])
        );
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

#[cfg(test)]
mod edge_tests {
    use super::*;
    use crate::detmath::{det_exp, fixed_weight};

    /// Deterministic test rows: spread values, ties, −inf, −0.0 and values far below the max.
    fn edge_row(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6_364_136_223_846_793_005) | 1;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let word = (state >> 33) as u32;
                match word % 11 {
                    0 => f32::NEG_INFINITY,
                    1 => -200.0 - (word % 1000) as f32,
                    2 => 3.0,
                    3 => -0.0,
                    4 => 0.0,
                    5 => -86.99 - (word % 7) as f32 * 0.01,
                    _ => ((word % 100_000) as f32 - 50_000.0) * 0.000_7,
                }
            })
            .collect()
    }

    #[test]
    fn exponential_loops_agree_on_edge_inputs() {
        for (build, fast) in accelerated_builds() {
            eprintln!("checking the {build} build");
            exponential_loops_agree_on_edge_inputs_with(fast);
        }
    }

    fn exponential_loops_agree_on_edge_inputs_with(fast: RowLoops) {
        let slow = RowLoops::portable();
        let lengths = (0..72).chain([1023, 1024, 1025, 5003]);
        for (seed, len) in lengths.enumerate() {
            let values = edge_row(len, seed as u64);
            let (max, _) = (slow.scan)(&values);
            assert_eq!((fast.scan)(&values).0.to_bits(), max.to_bits());
            // Shifts below the max give exponentials above 1, which no sampler call produces (it
            // shifts by the row's max). Their exponentials must still agree bit for bit; their
            // weights agree only below 2^12, where every build's conversion is exact (at and
            // above it the f64 route's bit trick stops giving the integer), so the sums are
            // compared only there: the third shift stays inside that range, the fourth may not.
            for shift in [max, max + 0.5, f32::max(3.0, max - 5.0), 3.0] {
                let mut out_fast = vec![0.0; len];
                let mut out_slow = vec![0.0; len];
                let fast_sum = (fast.exp_store_sum)(&values, shift, &mut out_fast);
                let sum = (slow.exp_store_sum)(&values, shift, &mut out_slow);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&out_fast), bits(&out_slow), "len {len} shift {shift}");
                for (&value, &out) in values.iter().zip(&out_slow) {
                    assert_eq!(out.to_bits(), det_exp(value - shift).to_bits());
                }
                let mut in_place = values.clone();
                let in_place_sum = (fast.exp_in_place_sum)(&mut in_place, shift);
                assert_eq!(bits(&in_place), bits(&out_slow));
                assert_eq!((slow.exp_sum)(&values, shift, &[]), sum, "len {len}");
                let weights_exact = out_slow.iter().all(|&e| e < 4096.0);
                // Only a shift more than 5 below the max leaves the exact range.
                assert!(
                    weights_exact || shift < max - 5.0,
                    "len {len} shift {shift}"
                );
                if !weights_exact {
                    continue;
                }
                assert_eq!(fast_sum, sum, "len {len} shift {shift}");
                assert_eq!(in_place_sum, sum, "len {len} shift {shift}");
                assert_eq!((fast.exp_sum)(&values, shift, &[]), sum, "len {len}");
                // The prefetched slice is a hint only: any length gives the same sum.
                assert_eq!((fast.exp_sum)(&values, shift, &values), sum, "len {len}");
                for floor in [0.0, 1e-30, 0.01, 0.5, 1.0] {
                    let expected: u64 = out_slow
                        .iter()
                        .filter(|&&e| e >= floor)
                        .map(|&e| fixed_weight(e))
                        .sum();
                    assert_eq!((fast.masked_sum)(&out_slow, floor), expected);
                    assert_eq!((slow.masked_sum)(&out_slow, floor), expected);
                }
            }
            for target in [max, 3.0, 0.0, -0.0, f32::NEG_INFINITY, 17.5] {
                assert_eq!(
                    (fast.find_first)(&values, target),
                    values.iter().position(|&v| v == target)
                );
            }
        }
    }

    /// Exponentials whose fixed-point weights are exact ties, or sit next to them, and other edges.
    fn weight_edges() -> Vec<f32> {
        let tie = |k: u32| k as f32 * f32::powi(2.0, -41);
        let mut values: Vec<f32> = (0..40u32).map(tie).collect();
        values.extend((0..40u32).map(|k| f32::from_bits(tie(2 * k + 1).to_bits() + 1)));
        values.extend((1..40u32).map(|k| f32::from_bits(tie(2 * k + 1).to_bits() - 1)));
        values.extend([
            1.0,
            f32::from_bits(1.0f32.to_bits() - 1),
            0.5,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            1.6e-38,
            f32::powi(2.0, -17),
            f32::powi(2.0, -17) * 1.5,
            f32::powi(2.0, -18) * 1.25,
        ]);
        values
    }

    #[test]
    fn weights_round_half_to_even_in_every_build() {
        let values = weight_edges();
        let expected: u64 = values.iter().map(|&e| fixed_weight(e)).sum();
        assert_eq!(fixed_weight(f32::powi(2.0, -41)), 0);
        assert_eq!(fixed_weight(3.0 * f32::powi(2.0, -41)), 2);
        for (build, fast) in accelerated_builds()
            .into_iter()
            .chain([("portable", RowLoops::portable())])
        {
            eprintln!("checking the {build} build");
            assert_eq!((fast.masked_sum)(&values, 0.0), expected, "{build}");
            // One value per call, filling whole vectors, so errors cannot cancel in a sum.
            for &value in &values {
                let row = [value; 32];
                let weight = fixed_weight(value);
                assert_eq!(
                    (fast.masked_sum)(&row, 0.0),
                    32 * weight,
                    "{build} {value:e}"
                );
            }
            let mut histogram = vec![0u64; HISTOGRAM_BUCKETS];
            (fast.histogram)(&values, &mut histogram);
            assert_eq!(histogram.iter().sum::<u64>(), expected, "{build}");
        }
    }

    #[test]
    fn weighing_loops_agree_on_edge_inputs() {
        for (build, fast) in accelerated_builds() {
            eprintln!("checking the {build} build");
            weighing_loops_agree_on_edge_inputs_with(fast);
        }
    }

    fn weighing_loops_agree_on_edge_inputs_with(fast: RowLoops) {
        let slow = RowLoops::portable();
        for (seed, len) in (0..72).chain([1000, 1024, 1031]).enumerate() {
            let values = edge_row(len, 100 + seed as u64);
            let (max, _) = (slow.scan)(&values);
            let exponentials: Vec<f32> = values.iter().map(|&v| det_exp(v - max)).collect();
            for floor in [0.0, 1e-9, 0.05, 1.0] {
                for gather in [f32::INFINITY, 0.0, 1e-12, 0.3, 1.0] {
                    let spec = WeighSpec { max, floor, gather };
                    let context = format!("len {len} floor {floor} gather {gather}");
                    // Appending to candidates already held, as later chunks of a row do.
                    let mut held = Candidates::default();
                    for index in 0..5 {
                        held.push(index, 0.5);
                    }
                    let mut fast_held = held.clone();
                    let mut slow_held = held;
                    let a = (fast.weigh)(&values, &values, &spec, 77, &mut fast_held);
                    let b = (slow.weigh)(&values, &[], &spec, 77, &mut slow_held);
                    assert_eq!(a, b, "{context} (appending)");
                    assert_eq!(fast_held, slow_held, "{context} (appending)");
                    let mut fast_candidates = Candidates::default();
                    let mut slow_candidates = Candidates::default();
                    let a = (fast.weigh)(&values, &values, &spec, 77, &mut fast_candidates);
                    let b = (slow.weigh)(&values, &[], &spec, 77, &mut slow_candidates);
                    assert_eq!(a, b, "{context}");
                    assert_eq!(fast_candidates, slow_candidates, "{context}");
                    assert_eq!(b.all, (slow.masked_sum)(&exponentials, 0.0));
                    assert_eq!(b.kept, (slow.masked_sum)(&exponentials, floor));
                    let expected: Vec<u32> = (0..len as u32)
                        .filter(|&i| exponentials[i as usize] >= gather)
                        .map(|i| i + 77)
                        .collect();
                    assert_eq!(slow_candidates.indices(), &expected[..]);
                    for (lower, upper) in [(0.0, 1e-20), (1e-9, 0.3), (0.01, 2.0), (0.5, 0.5)] {
                        let mut fast_band = vec![7.0];
                        let mut slow_band = Vec::new();
                        let fast_len =
                            (fast.band)(slow_candidates.values(), lower, upper, &mut fast_band);
                        let slow_len =
                            (slow.band)(slow_candidates.values(), lower, upper, &mut slow_band);
                        assert_eq!(
                            fast_band[..fast_len],
                            slow_band[..slow_len],
                            "{context} band {lower} {upper}"
                        );
                    }
                    for retained in [0.0, 1e-20, 0.01, 0.5, 1.0, 2.0] {
                        let mut fast_kept = slow_candidates.clone();
                        let mut slow_kept = slow_candidates.clone();
                        (fast.retain)(&mut fast_kept, retained);
                        (slow.retain)(&mut slow_kept, retained);
                        assert_eq!(fast_kept, slow_kept, "{context} retain {retained}");
                        assert!(slow_kept.values().iter().all(|&v| v >= retained));
                    }
                }
            }
            let mut fast_histogram = vec![0u64; HISTOGRAM_BUCKETS];
            let mut slow_histogram = vec![0u64; HISTOGRAM_BUCKETS];
            (fast.histogram)(&exponentials, &mut fast_histogram);
            (slow.histogram)(&exponentials, &mut slow_histogram);
            assert_eq!(fast_histogram, slow_histogram);
            let total: u64 = slow_histogram.iter().sum();
            assert_eq!(total, (slow.masked_sum)(&exponentials, 0.0));
            for (&value, bucket) in exponentials.iter().zip(0..) {
                let _ = bucket;
                assert!(
                    slow_histogram[(value.to_bits() >> HISTOGRAM_SHIFT) as usize]
                        >= fixed_weight(value)
                );
            }
        }
    }
}
