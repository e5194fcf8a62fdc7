//! One row on the CPU: checks, penalties, temperature, filters, the integer draw and log-probs.

mod full;
mod streamed;

use crate::detmath::{det_ln_fixed, fixed_weight, multiply_high, MAX_VOCAB_SIZE};
use crate::error::KernelError;
use crate::history::TokenCounts;
use crate::params::{SampledToken, SamplingParams};
use crate::philox::RandomKey;
use crate::select::SelectScratch;
use crate::simd::RowLoops;
use streamed::StreamScratch;

/// Rows are walked in chunks of this many tokens when locating the drawn token.
const DRAW_CHUNK: usize = 1024;

/// Buffers one worker reuses across rows.
pub(crate) struct RowWorkspace {
    /// Processed logits (and their exponentials on the full-buffer path).
    values: Vec<f32>,
    /// Buffers of the threshold selection.
    select: SelectScratch,
    /// Buffers of the streamed path.
    stream: StreamScratch,
    /// Loops fixed for this workspace (tests), else those of the process-wide choice.
    pinned_loops: Option<RowLoops>,
}

impl RowWorkspace {
    /// An empty workspace using the fastest loops this processor supports.
    pub fn new() -> Self {
        Self {
            values: Vec::new(),
            select: SelectScratch::default(),
            stream: StreamScratch::default(),
            pinned_loops: None,
        }
    }

    /// The loops its rows run: the pinned ones, else the process-wide choice
    /// ([`crate::set_cpu_instruction_set`]).
    fn loops(&self) -> RowLoops {
        self.pinned_loops.unwrap_or_else(RowLoops::current)
    }

    /// Bytes its buffers hold.
    pub fn held_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<f32>()
            + self.select.held_bytes()
            + self.stream.held_bytes()
    }

    /// An empty workspace using the given loops.
    #[cfg(test)]
    pub fn with_loops(loops: RowLoops) -> Self {
        Self {
            pinned_loops: Some(loops),
            ..Self::new()
        }
    }
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
    let loops = workspace.loops();
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
    next_row: &[f32],
    params: &SamplingParams,
    counts: &TokenCounts,
    raw_max: f32,
    row: usize,
) -> Result<SampledToken, KernelError> {
    let loops = workspace.loops();
    let raw_total = (loops.exp_sum)(row_logits, raw_max, next_row);
    let penalised = params.has_penalties() && !counts.is_empty();
    let (values, target): (&[f32], f32) = if penalised {
        workspace.values.resize(row_logits.len(), 0.0);
        fill_processed(workspace, row_logits, params, counts, row)?;
        let max = (loops.max)(&workspace.values);
        (&workspace.values, max)
    } else {
        (row_logits, raw_max)
    };
    let index = (loops.find_first)(values, target).ok_or(KernelError::NoFiniteLogit { row })?;
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

/// The drawn token of a non-greedy row and the sums its log-probs need.
struct Drawn {
    /// Token index.
    index: usize,
    /// Largest raw logit.
    raw_max: f32,
    /// Fixed-point mass of the raw exponentials.
    raw_total: u64,
    /// Largest processed logit.
    processed_max: f32,
    /// Fixed-point mass of the kept tokens.
    kept_total: u64,
}

/// The streamed path: one weights pass, thresholds among candidates; `None` when it declines.
#[allow(clippy::too_many_arguments)]
fn draw_streamed(
    workspace: &mut RowWorkspace,
    row_logits: &[f32],
    next_row: &[f32],
    params: &SamplingParams,
    counts: &TokenCounts,
    raw_max: f32,
    key: RandomKey,
    row: usize,
) -> Result<Option<Drawn>, KernelError> {
    let loops = workspace.loops();
    let penalised = params.has_penalties() && !counts.is_empty();
    let identity = params.temperature == 1.0 && !penalised;
    let (raw_total, processed_max) = if identity {
        (None, raw_max)
    } else {
        let raw_total = (loops.exp_sum)(row_logits, raw_max, next_row);
        workspace.values.resize(row_logits.len(), 0.0);
        fill_processed(workspace, row_logits, params, counts, row)?;
        let processed_max = (loops.max)(&workspace.values);
        if processed_max == f32::NEG_INFINITY {
            return Err(KernelError::NoFiniteLogit { row });
        }
        (Some(raw_total), processed_max)
    };
    let source: &[f32] = if identity {
        row_logits
    } else {
        &workspace.values
    };
    // Without the identity, the raw sum above already prefetched the next row.
    let ahead: &[f32] = if identity { next_row } else { &[] };
    let stream = &mut workspace.stream;
    let Some(settled) = streamed::weigh_row(
        &loops,
        stream,
        &mut workspace.select,
        source,
        ahead,
        processed_max,
        params,
    ) else {
        return Ok(None);
    };
    let target = multiply_high(draw_word(key), settled.kept_total);
    let index = streamed::locate(&loops, stream, source, processed_max, &settled, target)
        .ok_or(KernelError::DrawFailed { row })?;
    Ok(Some(Drawn {
        index,
        raw_max,
        raw_total: raw_total.unwrap_or(settled.all_total),
        processed_max,
        kept_total: settled.kept_total,
    }))
}

/// The full-buffer path: every exponential stored, thresholds over the whole row.
fn draw_full(
    workspace: &mut RowWorkspace,
    row_logits: &[f32],
    params: &SamplingParams,
    counts: &TokenCounts,
    raw_max: f32,
    key: RandomKey,
    row: usize,
) -> Result<Drawn, KernelError> {
    let prepared = full::prepare(workspace, row_logits, params, counts, raw_max, row)?;
    let target = multiply_high(draw_word(key), prepared.kept_total);
    let index = full::locate(
        &workspace.loops(),
        &workspace.values,
        prepared.floor,
        target,
    )
    .ok_or(KernelError::DrawFailed { row })?;
    Ok(Drawn {
        index,
        raw_max: prepared.raw_max,
        raw_total: prepared.raw_total,
        processed_max: prepared.processed_max,
        kept_total: prepared.kept_total,
    })
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
    sample_row_before(workspace, row_logits, &[], params, counts, key, row)
}

/// [`sample_row_in`] that also prefetches `next_row` (the logits this worker samples next) while
/// the row's compute-bound passes run, so that the next row's first pass finds them in cache.
pub(crate) fn sample_row_before(
    workspace: &mut RowWorkspace,
    row_logits: &[f32],
    next_row: &[f32],
    params: &SamplingParams,
    counts: &TokenCounts,
    key: RandomKey,
    row: usize,
) -> Result<SampledToken, KernelError> {
    let raw_max = check_row(&workspace.loops(), row_logits, row)?;
    if params.is_greedy() {
        return sample_greedy(
            workspace, row_logits, next_row, params, counts, raw_max, row,
        );
    }
    let streamed = draw_streamed(
        workspace, row_logits, next_row, params, counts, raw_max, key, row,
    )?;
    let drawn = match streamed {
        Some(drawn) => drawn,
        None => draw_full(workspace, row_logits, params, counts, raw_max, key, row)?,
    };
    let index = drawn.index;
    let processed = processed_logit(
        row_logits[index],
        counts.count(index as u32),
        params,
        index,
        row,
    )?;
    Ok(SampledToken {
        token: index as u32,
        logprob: raw_logprob(row_logits[index], drawn.raw_max, drawn.raw_total),
        processed_logprob: raw_logprob(processed, drawn.processed_max, drawn.kept_total),
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
    let raw_max = check_row(&workspace.loops(), row_logits, row)?;
    let prepared = full::prepare(&mut workspace, row_logits, params, &counts, raw_max, row)?;
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
mod streamed_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_and_accelerated_rows_agree() {
        for (build, loops) in crate::simd::accelerated_builds() {
            eprintln!("checking the {build} build");
            portable_and_accelerated_rows_agree_with(loops);
        }
    }

    fn portable_and_accelerated_rows_agree_with(loops: RowLoops) {
        let logits: Vec<f32> = (0..4000)
            .map(|i| ((i * 104_729 % 997) as f32 - 498.0) * 0.02)
            .collect();
        let counts = TokenCounts::from_history(&[3, 3, 17, 2500], logits.len(), 0).expect("ok");
        let mut params = SamplingParams::new(0.7, 40, 0.8);
        params.min_p = 0.01;
        params.repetition_penalty = 1.3;
        params.frequency_penalty = 0.2;
        params.presence_penalty = 0.1;
        let mut fast = RowWorkspace::with_loops(loops);
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
        assert_eq!(full::locate(&loops, &values, 0.0, 0), Some(0));
        assert_eq!(full::locate(&loops, &values, 0.0, unit - 1), Some(0));
        assert_eq!(full::locate(&loops, &values, 0.0, unit), Some(2));
        assert_eq!(full::locate(&loops, &values, 0.0, unit + unit / 2), Some(3));
        assert_eq!(full::locate(&loops, &values, 0.6, unit), Some(3));
        assert_eq!(full::locate(&loops, &values, 0.0, 3 * unit), None);
    }
}
