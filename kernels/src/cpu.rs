//! The CPU sampling backend and the batch checks shared by every backend.

use crate::error::KernelError;
use crate::filter::{check_row_logits, filtered_distribution, greedy_index, raw_log_softmax};
use crate::params::{SampledToken, SamplingParams};
use crate::philox::{uniform, RandomKey};
use crate::Sampler;

/// Largest vocabulary whose token ids all fit in `u32`.
const MAX_VOCAB_SIZE: usize = u32::MAX as usize + 1;

/// Checks a batch's shapes and per-row parameters; returns the number of rows.
pub fn check_batch(
    logits: &[f32],
    vocab_size: usize,
    params: &[SamplingParams],
    keys: &[RandomKey],
) -> Result<usize, KernelError> {
    if params.len() != keys.len() {
        return Err(KernelError::RowCountMismatch {
            params: params.len(),
            keys: keys.len(),
        });
    }
    if vocab_size > MAX_VOCAB_SIZE {
        return Err(KernelError::VocabularyTooLarge { vocab_size });
    }
    let rows = params.len();
    let expected = rows
        .checked_mul(vocab_size)
        .ok_or(KernelError::ShapeOverflow { rows, vocab_size })?;
    if logits.len() != expected {
        return Err(KernelError::ShapeMismatch {
            expected,
            got: logits.len(),
        });
    }
    for (row, row_params) in params.iter().enumerate() {
        row_params
            .validate()
            .map_err(|error| KernelError::InvalidParams {
                row,
                reason: error.to_string(),
            })?;
    }
    Ok(rows)
}

/// Samples one row on the CPU (`row` is only used to label errors).
pub fn sample_row(
    row_logits: &[f32],
    params: &SamplingParams,
    key: RandomKey,
    row: usize,
) -> Result<SampledToken, KernelError> {
    params
        .validate()
        .map_err(|error| KernelError::InvalidParams {
            row,
            reason: error.to_string(),
        })?;
    if row_logits.len() > MAX_VOCAB_SIZE {
        return Err(KernelError::VocabularyTooLarge {
            vocab_size: row_logits.len(),
        });
    }
    check_row_logits(row_logits, row)?;
    if params.is_greedy() {
        let index = greedy_index(row_logits);
        let logprob =
            raw_log_softmax(row_logits, index).ok_or(KernelError::NoFiniteLogit { row })?;
        return Ok(SampledToken {
            token: index as u32,
            logprob: logprob as f32,
            processed_logprob: 0.0,
        });
    }
    let distribution = filtered_distribution(row_logits, params, row)?;
    let position = distribution.pick_position(uniform(key));
    let (token, probability) = distribution
        .tokens
        .get(position)
        .zip(distribution.probability(position))
        .ok_or(KernelError::NoFiniteLogit { row })?;
    let logprob =
        raw_log_softmax(row_logits, *token as usize).ok_or(KernelError::NoFiniteLogit { row })?;
    Ok(SampledToken {
        token: *token,
        logprob: logprob as f32,
        processed_logprob: probability.ln() as f32,
    })
}

/// The CPU backend (rows processed sequentially for now; no full sort of the vocabulary).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSampler;

impl Sampler for CpuSampler {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn sample(
        &self,
        logits: &[f32],
        vocab_size: usize,
        params: &[SamplingParams],
        keys: &[RandomKey],
    ) -> Result<Vec<SampledToken>, KernelError> {
        let rows = check_batch(logits, vocab_size, params, keys)?;
        (0..rows)
            .map(|row| {
                let start = row * vocab_size;
                sample_row(
                    &logits[start..start + vocab_size],
                    &params[row],
                    keys[row],
                    row,
                )
            })
            .collect()
    }
}
