//! The streamed path of a non-greedy row: one weights pass over the processed logits yields the
//! total mass, the kept mass per chunk and, for top-k and top-p, the candidates: every token whose
//! exponential could be kept, in index order. Thresholds are then selected among the candidates
//! and the draw walks them (or recomputes one chunk), so no buffer of the row's exponentials is
//! written. The results equal the full-buffer path bit for bit: every kept token is a candidate,
//! and the exact sums do not depend on the order of summation.
//!
//! Top-k gathers during the pass, raising its gathering threshold to the k-th largest candidate
//! so far. Top-p needs the total mass before its cut is known: the pass gathers every token above
//! a floor that provably lies below the cut, one mass histogram of those candidates gives their
//! total (checking the floor) and names the bucket holding the cut, and the exact cut is selected
//! among that bucket's members alone.

use super::DRAW_CHUNK;
use crate::detmath::{fixed_weight, top_p_fixed, top_p_target};
use crate::params::SamplingParams;
use crate::select::{threshold, threshold_in_bucket, Measure, SelectScratch};
use crate::simd::{Candidates, RowLoops, WeighSpec, HISTOGRAM_BUCKETS, HISTOGRAM_SHIFT};

/// Tokens weighed per call while the first chunk's gathering threshold settles.
const FIRST_GATHER: usize = 128;
/// Factor between top-p's first, optimistic gathering floor and the provable one.
const TOP_P_OPTIMISM: f32 = 16.0;
/// `2^40`, the weight of an exponential of 1, as f64.
const UNIT: f64 = (1u64 << 40) as f64;

/// Buffers of the streamed path, reused across rows.
#[derive(Debug, Default)]
pub(super) struct StreamScratch {
    /// Kept mass of each chunk of [`DRAW_CHUNK`] tokens.
    chunk_kept: Vec<u64>,
    /// Tokens that may be kept, in index order (after top-p, also those below its cut: every
    /// later sum filters by the settled floor).
    pub(super) candidates: Candidates,
    /// Top-p's mass histogram of the candidates.
    histogram: Vec<u64>,
    /// Exponentials of the candidates in top-p's crossing bucket, at its start (it only grows).
    bucket: Vec<f32>,
    /// Bit patterns for selecting the k-th largest candidate.
    order: Vec<u32>,
    /// Exponentials of the chunk the draw lands in.
    exponentials: Vec<f32>,
    /// Whether the kept set is drawn from the candidates (else from the chunk masses).
    drawn_from_candidates: bool,
}

impl StreamScratch {
    /// Bytes the buffers hold.
    pub(super) fn held_bytes(&self) -> usize {
        self.chunk_kept.capacity() * std::mem::size_of::<u64>()
            + self.candidates.held_bytes()
            + self.histogram.capacity() * std::mem::size_of::<u64>()
            + (self.bucket.capacity() + self.exponentials.capacity()) * std::mem::size_of::<f32>()
            + self.order.capacity() * std::mem::size_of::<u32>()
    }
}

/// What the streamed weights pass settled for one row.
#[derive(Debug, Clone, Copy)]
pub(super) struct StreamedRow {
    /// Fixed-point mass of every token.
    pub all_total: u64,
    /// Exponentials at or above this value are kept.
    pub floor: f32,
    /// Fixed-point mass of the kept tokens.
    pub kept_total: u64,
}

/// The k-th largest value of the candidates (counting duplicates); `None` when fewer than k.
fn kth_largest(values: &[f32], k: usize, order: &mut Vec<u32>) -> Option<f32> {
    if k == 0 || values.len() < k {
        return None;
    }
    order.clear();
    order.extend(values.iter().map(|value| value.to_bits()));
    let position = values.len() - k;
    let (_, kth, _) = order.select_nth_unstable(position);
    Some(f32::from_bits(*kth))
}

/// A floor below top-p's cut for any min-p mass of at least `2^40` (the top token's weight): the
/// tokens under it weigh at most `L × 2^40 + 1` each, together at most `kept − target`.
fn top_p_gather_floor(top_p_fixed: u64, vocab: usize) -> f32 {
    let kept = 1u64 << 40;
    // `kept − target` never shrinks as `kept` grows, so the least kept gives a valid floor.
    let slack = kept.saturating_sub(top_p_target(kept, top_p_fixed));
    let per_token = slack.saturating_sub(vocab as u64) as f64 / vocab.max(1) as f64;
    // Shrunk a little, so the bound survives the roundings to f64 and f32.
    bucket_edge_below((per_token / UNIT * 0.999) as f32)
}

/// Top-p's first gathering floor: [`top_p_gather_floor`] times [`TOP_P_OPTIMISM`], which holds
/// the cut unless tokens below it carry more than `1 − top_p` of the mass between them (then the
/// pass is repeated from the provable floor).
fn top_p_first_floor(top_p_fixed: u64, vocab: usize) -> f32 {
    bucket_edge_below(top_p_gather_floor(top_p_fixed, vocab) * TOP_P_OPTIMISM).min(1.0)
}

/// The lower edge of the histogram bucket holding `value` (non-negative).
fn bucket_edge_below(value: f32) -> f32 {
    f32::from_bits((value.to_bits() >> HISTOGRAM_SHIFT) << HISTOGRAM_SHIFT)
}

/// The histogram bucket where the mass counted from the top reaches `target`, and the mass of
/// the buckets above it (less than `target`).
fn crossing_bucket(histogram: &[u64], target: u64) -> Option<(u32, u64)> {
    let mut above = 0u64;
    for (bucket, &mass) in histogram.iter().enumerate().rev() {
        if above + mass >= target {
            return Some((bucket as u32, above));
        }
        above += mass;
    }
    None
}

/// Runs the weights pass over `source` (processed logits, largest `max`) and settles the floor and
/// kept mass; `None` when the candidates cannot settle the row (the caller then takes the
/// full-buffer path).
pub(super) fn weigh_row(
    loops: &RowLoops,
    scratch: &mut StreamScratch,
    select: &mut SelectScratch,
    source: &[f32],
    next_row: &[f32],
    max: f32,
    params: &SamplingParams,
) -> Option<StreamedRow> {
    let vocab = source.len();
    let min_floor = if params.min_p > 0.0 {
        params.min_p
    } else {
        0.0
    };
    let top_k = (params.top_k > 0 && params.top_k < vocab).then_some(params.top_k);
    let top_p = (params.top_p < 1.0).then(|| top_p_fixed(params.top_p));
    let top_p_alone = top_p.filter(|_| top_k.is_none());
    let gathering = match (top_k, top_p_alone) {
        (Some(k), _) => Gathering::TopK(k),
        (None, Some(q)) => Gathering::Above(top_p_first_floor(q, vocab).max(min_floor)),
        (None, None) => Gathering::Off,
    };
    let mut pass = run_pass(loops, scratch, source, next_row, max, min_floor, gathering);
    let mut crossing = None;
    if let Some(q) = top_p_alone {
        let target = top_p_target(pass.min_p_total, q);
        let mut gathered_mass = candidate_histogram(loops, scratch);
        if gathered_mass < target {
            // The cut lies below the optimistic floor: gather again from the provable one.
            let floor = Gathering::Above(top_p_gather_floor(q, vocab).max(min_floor));
            pass = run_pass(loops, scratch, source, next_row, max, min_floor, floor);
            gathered_mass = candidate_histogram(loops, scratch);
        }
        debug_assert!(gathered_mass >= target);
        crossing = Some((target, crossing_bucket(&scratch.histogram, target)?));
    }
    let mut pass = Pass {
        top_p,
        top_k,
        ..pass
    };
    if let Some((target, (bucket, above))) = crossing {
        // The cut lies in the crossing bucket, above which the mass is `above`: select it among
        // the bucket's members alone. The candidates below stay: every later sum filters by the
        // cut, and dropping them would cost a rewrite of the candidates for little.
        let lower = f32::from_bits(bucket << HISTOGRAM_SHIFT);
        let upper = f32::from_bits((bucket + 1) << HISTOGRAM_SHIFT);
        let members = (loops.band)(
            scratch.candidates.values(),
            lower,
            upper,
            &mut scratch.bucket,
        );
        let members = &scratch.bucket[..members];
        let cut = threshold_in_bucket(
            members,
            HISTOGRAM_SHIFT,
            target - above,
            Measure::Mass,
            select,
        )?;
        // The kept mass: the buckets above, and the crossing bucket's members from the cut up.
        pass.top_p_cut = Some((cut, above + (loops.masked_sum)(members, cut)));
    }
    settle(scratch, select, loops, &pass)
}

/// How a pass gathers candidates.
#[derive(Debug, Clone, Copy)]
enum Gathering {
    /// Nothing gathered.
    Off,
    /// The largest k exponentials (ties included); the k-th largest so far bounds the final k-th
    /// largest from below, so the gathering threshold rises to it.
    TopK(usize),
    /// Every exponential at or above a fixed floor (a histogram bucket edge or the min-p floor).
    Above(f32),
}

/// One weights pass: the sums, and candidates at or above `min_floor` gathered as `gathering` says;
/// each piece prefetches the same part of `next_row`.
fn run_pass(
    loops: &RowLoops,
    scratch: &mut StreamScratch,
    source: &[f32],
    next_row: &[f32],
    max: f32,
    min_floor: f32,
    gathering: Gathering,
) -> Pass {
    let vocab = source.len();
    let (gather, top_k) = match gathering {
        Gathering::Off => (f32::INFINITY, None),
        Gathering::TopK(k) => (min_floor, Some(k)),
        Gathering::Above(floor) => (floor, None),
    };
    let mut spec = WeighSpec {
        max,
        floor: min_floor,
        gather,
    };
    scratch.chunk_kept.clear();
    scratch.candidates.clear();
    let mut all_total = 0u64;
    let mut min_p_total = 0u64;
    let batch = top_k.map_or(usize::MAX, |k| FIRST_GATHER.max(2 * k));
    let mut next_raise = batch;
    let mut chunk_start = 0;
    while chunk_start < vocab {
        let chunk_end = (chunk_start + DRAW_CHUNK).min(vocab);
        let mut chunk_kept = 0u64;
        let mut piece_start = chunk_start;
        while piece_start < chunk_end {
            // Top-k's first chunk goes in short pieces, so its gathering threshold can rise
            // from the lowest value before many tokens are gathered.
            let piece = if chunk_start == 0 && top_k.is_some() {
                FIRST_GATHER
            } else {
                DRAW_CHUNK
            };
            let piece_end = (piece_start + piece).min(chunk_end);
            let sums = (loops.weigh)(
                &source[piece_start..piece_end],
                next_row.get(piece_start..piece_end).unwrap_or(&[]),
                &spec,
                piece_start as u32,
                &mut scratch.candidates,
            );
            all_total += sums.all;
            min_p_total += sums.kept;
            chunk_kept += sums.kept;
            piece_start = piece_end;
            let candidates = &mut scratch.candidates;
            if candidates.len() < next_raise {
                continue;
            }
            // The k-th largest so far bounds the final k-th largest from below.
            let kth = top_k.and_then(|k| kth_largest(candidates.values(), k, &mut scratch.order));
            if let Some(kth) = kth.filter(|&kth| kth > spec.gather) {
                spec.gather = kth;
                (loops.retain)(candidates, kth);
            }
            next_raise = batch.max(2 * candidates.len());
        }
        scratch.chunk_kept.push(chunk_kept);
        chunk_start = chunk_end;
    }
    Pass {
        spec,
        all_total,
        min_p_total,
        top_k,
        top_p: None,
        top_p_cut: None,
    }
}

/// Sum of the weights of the candidates at or above `floor`.
fn candidate_mass(loops: &RowLoops, candidates: &Candidates, floor: f32) -> u64 {
    (loops.masked_sum)(candidates.values(), floor)
}

/// Fills top-p's mass histogram of the candidates and returns their total mass.
fn candidate_histogram(loops: &RowLoops, scratch: &mut StreamScratch) -> u64 {
    scratch.histogram.clear();
    scratch.histogram.resize(HISTOGRAM_BUCKETS, 0);
    (loops.histogram)(scratch.candidates.values(), &mut scratch.histogram);
    scratch.histogram.iter().sum()
}

/// The sums and filters of a finished weights pass.
struct Pass {
    /// The thresholds the pass ran with (top-k's gathering threshold as it ended).
    spec: WeighSpec,
    /// Mass of every token.
    all_total: u64,
    /// Mass of the tokens at or above the min-p floor.
    min_p_total: u64,
    /// Top-k, when active.
    top_k: Option<usize>,
    /// Fixed-point top-p, when active.
    top_p: Option<u64>,
    /// Top-p's cut when already selected, and the mass of the candidates at or above it.
    top_p_cut: Option<(f32, u64)>,
}

/// Thresholds of top-k and top-p among the candidates, and the kept mass.
fn settle(
    scratch: &mut StreamScratch,
    select: &mut SelectScratch,
    loops: &RowLoops,
    pass: &Pass,
) -> Option<StreamedRow> {
    let Pass {
        spec,
        all_total,
        min_p_total,
        top_k,
        top_p,
        top_p_cut,
    } = *pass;
    let candidates = &scratch.candidates;
    let mut floor = spec.floor;
    if let Some(k) = top_k {
        // Every token at or above the min-p floor was gathered until k of them were, so fewer
        // than k candidates means the k-th largest lies below the floor.
        if let Some(kth) = kth_largest(candidates.values(), k, &mut scratch.order) {
            floor = floor.max(kth);
        }
    }
    if let Some((cut, _)) = top_p_cut {
        floor = floor.max(cut);
    } else if let Some(q) = top_p {
        let filtered_total = if top_k.is_some() {
            candidate_mass(loops, candidates, floor)
        } else if floor == 0.0 {
            all_total
        } else {
            min_p_total
        };
        let target = top_p_target(filtered_total, q);
        if top_k.is_none() && candidate_mass(loops, candidates, floor) < target {
            return None;
        }
        if let Some(cut) = threshold(
            loops,
            candidates.values(),
            floor,
            target,
            Measure::Mass,
            select,
        ) {
            floor = floor.max(cut);
        }
    }
    scratch.drawn_from_candidates = top_k.is_some() || top_p.is_some();
    let kept_total = if !scratch.drawn_from_candidates {
        min_p_total
    } else if floor < spec.gather {
        // Tokens below the gathering threshold may be kept: not covered by the candidates.
        return None;
    } else {
        match top_p_cut {
            // The cut lies at or above the min-p floor, so it is the floor.
            Some((cut, kept)) if cut == floor => kept,
            _ => candidate_mass(loops, candidates, floor),
        }
    };
    Some(StreamedRow {
        all_total,
        floor,
        kept_total,
    })
}

/// Index of the first kept token whose inclusive prefix mass exceeds `target`.
pub(super) fn locate(
    loops: &RowLoops,
    scratch: &mut StreamScratch,
    source: &[f32],
    max: f32,
    settled: &StreamedRow,
    target: u64,
) -> Option<usize> {
    let mut before = 0u64;
    if scratch.drawn_from_candidates {
        let candidates = &scratch.candidates;
        let values = candidates.values();
        let mut start = 0;
        // Whole chunks are skipped by their vectorised mass; the landing chunk is walked.
        while start < values.len() {
            let end = (start + DRAW_CHUNK).min(values.len());
            let chunk_mass = (loops.masked_sum)(&values[start..end], settled.floor);
            if before + chunk_mass > target {
                break;
            }
            before += chunk_mass;
            start = end;
        }
        for (&index, &value) in candidates.indices()[start..].iter().zip(&values[start..]) {
            if value >= settled.floor {
                before += fixed_weight(value);
                if before > target {
                    return Some(index as usize);
                }
            }
        }
        return None;
    }
    for (chunk_index, &chunk_mass) in scratch.chunk_kept.iter().enumerate() {
        if before + chunk_mass > target {
            let start = chunk_index * DRAW_CHUNK;
            let chunk = &source[start..(start + DRAW_CHUNK).min(source.len())];
            scratch.exponentials.resize(chunk.len(), 0.0);
            (loops.exp_store_sum)(chunk, max, &mut scratch.exponentials);
            for (offset, &value) in scratch.exponentials.iter().enumerate() {
                if value >= settled.floor {
                    before += fixed_weight(value);
                    if before > target {
                        return Some(start + offset);
                    }
                }
            }
            return None;
        }
        before += chunk_mass;
    }
    None
}
