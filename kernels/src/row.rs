//! One row on the CPU: checks, penalties, temperature, filters, the integer draw and log-probs.

use crate::detmath::{
    det_ln_fixed, fixed_weight, multiply_high, top_p_fixed, top_p_target, MAX_VOCAB_SIZE,
};
use crate::error::KernelError;
use crate::history::TokenCounts;
use crate::params::{SampledToken, SamplingParams};
use crate::philox::RandomKey;
use crate::select::{threshold, Measure, SelectScratch};
use crate::simd::RowLoops;

/// Rows are walked in chunks of this many tokens when locating the drawn token.
const DRAW_CHUNK: usize = 1024;

/// Buffers one worker reuses across rows.
pub(crate) struct RowWorkspace {
    /// Processed logits, then their exponentials.
    values: Vec<f32>,
    /// Buffers of the threshold selection.
    select: SelectScratch,
    /// Loops bound to the processor's instruction set.
    loops: RowLoops,
}

impl RowWorkspace {
    /// An empty workspace using the fastest loops this processor supports.
    pub fn new() -> Self {
        Self {
            values: Vec::new(),
            select: SelectScratch::default(),
            loops: RowLoops::detect(),
        }
    }

    /// An empty workspace using the given loops.
    #[cfg(test)]
    pub fn with_loops(loops: RowLoops) -> Self {
        Self {
            loops,
            ..Self::new()
        }
    }
}

/// A row after every filter: what both the draw and [`filtered_distribution`] need.
struct PreparedRow {
    /// Largest raw logit.
    raw_max: f32,
    /// Fixed-point sum of the raw exponentials.
    raw_total: u64,
    /// Largest processed logit.
    processed_max: f32,
    /// Exponentials at or above this value are kept.
    floor: f32,
    /// Fixed-point mass of the kept tokens.
    kept_total: u64,
}

/// The random 64-bit word of a draw: Philox output words 0 (high half) and 1 (low half).
pub fn draw_word(key: RandomKey) -> u64 {
    let block = key.block();
    (u64::from(block[0]) << 32) | u64::from(block[1])
}

/// Error for the first NaN or +inf logit of a row.
fn first_bad_logit(row_logits: &[f32], row: usize) -> KernelError {
    row_logits
        .iter()
        .enumerate()
        .find(|(_, value)| value.is_nan() || **value == f32::INFINITY)
        .map(|(index, &value)| KernelError::NonFiniteLogit { row, index, value })
        .unwrap_or(KernelError::NoFiniteLogit { row })
}

/// Validates the row and returns (raw max, whether greedy arithmetic can skip the scratch copy).
fn check_row(loops: &RowLoops, row_logits: &[f32], row: usize) -> Result<f32, KernelError> {
    if row_logits.len() > MAX_VOCAB_SIZE {
        return Err(KernelError::VocabularyTooLarge {
            vocab_size: row_logits.len(),
        });
    }
    let (raw_max, bad) = (loops.scan)(row_logits);
    if bad {
        return Err(first_bad_logit(row_logits, row));
    }
    if raw_max == f32::NEG_INFINITY {
        return Err(KernelError::NoFiniteLogit { row });
    }
    Ok(raw_max)
}

/// The processed logit of one token: penalties, then `/ temperature` (skipped for greedy).
fn processed_logit(
    logit: f32,
    count: u32,
    params: &SamplingParams,
    index: usize,
    row: usize,
) -> Result<f32, KernelError> {
    let penalised = params.penalised_logit(logit, count);
    if logit.is_finite() && !penalised.is_finite() {
        return Err(KernelError::PenalisedLogitOverflow {
            row,
            index,
            logit,
            penalised,
        });
    }
    if params.is_greedy() {
        return Ok(penalised);
    }
    let scaled = penalised / params.temperature;
    if penalised.is_finite() && !scaled.is_finite() {
        return Err(KernelError::ScaledLogitOverflow {
            row,
            index,
            logit: penalised,
            temperature: params.temperature,
        });
    }
    Ok(scaled)
}

/// Fills `values` with the processed logits (penalties, then temperature) of a row.
fn fill_processed(
    workspace: &mut RowWorkspace,
    row_logits: &[f32],
    params: &SamplingParams,
    counts: &TokenCounts,
    row: usize,
) -> Result<(), KernelError> {
    let loops = workspace.loops;
    let values = &mut workspace.values;
    if params.is_greedy() {
        values.copy_from_slice(row_logits);
    } else {
        (loops.divide_store)(row_logits, params.temperature, values);
        if params.temperature < 1.0 && (loops.any_overflow)(row_logits, values) {
            if let Some(index) =
                (0..row_logits.len()).find(|&i| row_logits[i].is_finite() && !values[i].is_finite())
            {
                return Err(KernelError::ScaledLogitOverflow {
                    row,
                    index,
                    logit: row_logits[index],
                    temperature: params.temperature,
                });
            }
        }
    }
    if params.has_penalties() {
        for &(token, count) in &counts.pairs {
            let index = token as usize;
            values[index] = processed_logit(row_logits[index], count, params, index, row)?;
        }
    }
    Ok(())
}

/// Greedy choice: the first index holding the largest processed logit, and its raw log-prob.
fn sample_greedy(
    workspace: &mut RowWorkspace,
    row_logits: &[f32],
    params: &SamplingParams,
    counts: &TokenCounts,
    raw_max: f32,
    row: usize,
) -> Result<SampledToken, KernelError> {
    let loops = workspace.loops;
    let raw_total = (loops.exp_sum)(row_logits, raw_max);
    let penalised = params.has_penalties() && !counts.is_empty();
    let (values, target): (&[f32], f32) = if penalised {
        workspace.values.resize(row_logits.len(), 0.0);
        fill_processed(workspace, row_logits, params, counts, row)?;
        let max = (loops.max)(&workspace.values);
        (&workspace.values, max)
    } else {
        (row_logits, raw_max)
    };
    let index = values
        .iter()
        .position(|&value| value == target)
        .ok_or(KernelError::NoFiniteLogit { row })?;
    Ok(SampledToken {
        token: index as u32,
        logprob: raw_logprob(row_logits[index], raw_max, raw_total),
        processed_logprob: 0.0,
    })
}

/// `(x − max) − ln(total × 2^-40)`, the subtraction in f32 and the rest in f64, rounded to f32.
fn raw_logprob(logit: f32, max: f32, total: u64) -> f32 {
    (f64::from(logit - max) - det_ln_fixed(total)) as f32
}

/// Computes exponentials, filters and the kept mass of a non-greedy row into `workspace.values`.
fn prepare(
    workspace: &mut RowWorkspace,
    row_logits: &[f32],
    params: &SamplingParams,
    counts: &TokenCounts,
    raw_max: f32,
    row: usize,
) -> Result<PreparedRow, KernelError> {
    let loops = workspace.loops;
    let vocab = row_logits.len();
    workspace.values.resize(vocab, 0.0);
    let penalised = params.has_penalties() && !counts.is_empty();
    let identity = params.temperature == 1.0 && !penalised;
    let (raw_total, processed_max, all_total) = if identity {
        let total = (loops.exp_store_sum)(row_logits, raw_max, &mut workspace.values);
        (total, raw_max, total)
    } else {
        let raw_total = (loops.exp_sum)(row_logits, raw_max);
        fill_processed(workspace, row_logits, params, counts, row)?;
        let processed_max = (loops.max)(&workspace.values);
        if processed_max == f32::NEG_INFINITY {
            return Err(KernelError::NoFiniteLogit { row });
        }
        let all_total = (loops.exp_in_place_sum)(&mut workspace.values, processed_max);
        (raw_total, processed_max, all_total)
    };
    let values = &workspace.values;
    let mut floor = if params.min_p > 0.0 {
        params.min_p
    } else {
        0.0
    };
    if params.top_k > 0 && params.top_k < vocab {
        if let Some(kth) = threshold(
            &loops,
            values,
            0.0,
            params.top_k as u64,
            Measure::Count,
            &mut workspace.select,
        ) {
            floor = floor.max(kth);
        }
    }
    if params.top_p < 1.0 {
        let filtered_total = if floor == 0.0 {
            all_total
        } else {
            (loops.masked_sum)(values, floor)
        };
        let target = top_p_target(filtered_total, top_p_fixed(params.top_p));
        if let Some(cut) = threshold(
            &loops,
            values,
            floor,
            target,
            Measure::Mass,
            &mut workspace.select,
        ) {
            floor = floor.max(cut);
        }
    }
    let kept_total = if floor == 0.0 {
        all_total
    } else {
        (loops.masked_sum)(values, floor)
    };
    Ok(PreparedRow {
        raw_max,
        raw_total,
        processed_max,
        floor,
        kept_total,
    })
}

/// Index of the first kept token whose inclusive prefix mass exceeds `target`.
fn locate(loops: &RowLoops, exponentials: &[f32], floor: f32, target: u64) -> Option<usize> {
    let mut before = 0u64;
    for (chunk_index, chunk) in exponentials.chunks(DRAW_CHUNK).enumerate() {
        let chunk_mass = (loops.masked_sum)(chunk, floor);
        if before + chunk_mass > target {
            for (offset, &value) in chunk.iter().enumerate() {
                if value >= floor {
                    before += fixed_weight(value);
                    if before > target {
                        return Some(chunk_index * DRAW_CHUNK + offset);
                    }
                }
            }
        }
        before += chunk_mass;
    }
    None
}

/// Samples one row on the CPU with a reusable workspace (`row` labels errors).
pub(crate) fn sample_row_in(
    workspace: &mut RowWorkspace,
    row_logits: &[f32],
    params: &SamplingParams,
    counts: &TokenCounts,
    key: RandomKey,
    row: usize,
) -> Result<SampledToken, KernelError> {
    let raw_max = check_row(&workspace.loops, row_logits, row)?;
    if params.is_greedy() {
        return sample_greedy(workspace, row_logits, params, counts, raw_max, row);
    }
    let prepared = prepare(workspace, row_logits, params, counts, raw_max, row)?;
    let target = multiply_high(draw_word(key), prepared.kept_total);
    let index = locate(&workspace.loops, &workspace.values, prepared.floor, target)
        .ok_or(KernelError::DrawFailed { row })?;
    let processed = processed_logit(
        row_logits[index],
        counts.count(index as u32),
        params,
        index,
        row,
    )?;
    Ok(SampledToken {
        token: index as u32,
        logprob: raw_logprob(row_logits[index], prepared.raw_max, prepared.raw_total),
        processed_logprob: raw_logprob(processed, prepared.processed_max, prepared.kept_total),
    })
}

/// The distribution one row is sampled from: the kept tokens and their fixed-point weights.
#[derive(Debug, Clone, PartialEq)]
pub struct FilteredDistribution {
    /// Kept token ids with a non-zero weight, strictly increasing.
    pub tokens: Vec<u32>,
    /// Fixed-point weight `round(e × 2^40)` of each kept token (same order as `tokens`).
    pub weights: Vec<u64>,
    /// Sum of `weights`.
    pub total: u64,
}

impl FilteredDistribution {
    /// Number of kept tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token was kept (never true for a valid row).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Final probability of the kept token at `position`.
    pub fn probability(&self, position: usize) -> Option<f64> {
        self.weights
            .get(position)
            .map(|&weight| weight as f64 / self.total as f64)
    }

    /// Final probability of `token` (0.0 when it was filtered out).
    pub fn probability_of(&self, token: u32) -> f64 {
        self.tokens
            .binary_search(&token)
            .ok()
            .and_then(|position| self.probability(position))
            .unwrap_or(0.0)
    }
}

/// The exact distribution a non-greedy row is drawn from (greedy parameters are an error: their
/// distribution is a point mass, see [`crate::sample_row`]).
pub fn filtered_distribution(
    row_logits: &[f32],
    params: &SamplingParams,
    history: &[u32],
    row: usize,
) -> Result<FilteredDistribution, KernelError> {
    params
        .validate()
        .map_err(|error| KernelError::InvalidParams {
            row,
            reason: error.to_string(),
        })?;
    if params.is_greedy() {
        return Err(KernelError::InvalidParams {
            row,
            reason: "filtered_distribution needs temperature > 0".into(),
        });
    }
    let counts = TokenCounts::from_history(history, row_logits.len(), row)?;
    let mut workspace = RowWorkspace::new();
    let raw_max = check_row(&workspace.loops, row_logits, row)?;
    let prepared = prepare(&mut workspace, row_logits, params, &counts, raw_max, row)?;
    let mut distribution = FilteredDistribution {
        tokens: Vec::new(),
        weights: Vec::new(),
        total: prepared.kept_total,
    };
    for (index, &value) in workspace.values.iter().enumerate() {
        let weight = fixed_weight(value);
        if value >= prepared.floor && weight > 0 {
            distribution.tokens.push(index as u32);
            distribution.weights.push(weight);
        }
    }
    Ok(distribution)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_and_accelerated_rows_agree() {
        let logits: Vec<f32> = (0..4000)
            .map(|i| ((i * 104_729 % 997) as f32 - 498.0) * 0.02)
            .collect();
        let counts = TokenCounts::from_history(&[3, 3, 17, 2500], logits.len(), 0).expect("ok");
        let mut params = SamplingParams::new(0.7, 40, 0.8);
        params.min_p = 0.01;
        params.repetition_penalty = 1.3;
        params.frequency_penalty = 0.2;
        params.presence_penalty = 0.1;
        let mut fast = RowWorkspace::new();
        let mut slow = RowWorkspace::with_loops(RowLoops::portable());
        for step in 0..50 {
            let key = RandomKey::new(5, 1, step);
            let a = sample_row_in(&mut fast, &logits, &params, &counts, key, 0).expect("ok");
            let b = sample_row_in(&mut slow, &logits, &params, &counts, key, 0).expect("ok");
            assert_eq!(a.token, b.token);
            assert_eq!(a.logprob.to_bits(), b.logprob.to_bits());
            assert_eq!(a.processed_logprob.to_bits(), b.processed_logprob.to_bits());
        }
    }

    #[test]
    fn locate_walks_prefix_mass() {
        let loops = RowLoops::detect();
        let values = [1.0f32, 0.0, 0.5, 1.0];
        let unit = 1u64 << 40;
        assert_eq!(locate(&loops, &values, 0.0, 0), Some(0));
        assert_eq!(locate(&loops, &values, 0.0, unit - 1), Some(0));
        assert_eq!(locate(&loops, &values, 0.0, unit), Some(2));
        assert_eq!(locate(&loops, &values, 0.0, unit + unit / 2), Some(3));
        assert_eq!(locate(&loops, &values, 0.6, unit), Some(3));
        assert_eq!(locate(&loops, &values, 0.0, 3 * unit), None);
    }
}
