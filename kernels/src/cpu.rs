//! The CPU sampling backend (rows in parallel on scoped threads) and the batch checks shared by
//! every backend.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use crate::detmath::MAX_VOCAB_SIZE;
use crate::error::KernelError;
use crate::history::{check_histories, row_history, TokenCounts};
use crate::params::{SampledToken, SamplingParams};
use crate::philox::RandomKey;
use crate::row::{sample_row_before, sample_row_in, RowWorkspace};
use crate::Sampler;

/// Below this many logits per batch the rows run on the calling thread.
const PARALLEL_MIN_LOGITS: usize = 1 << 16;

/// Most workspaces kept between calls.
const MAX_SPARE_WORKSPACES: usize = 64;
/// Workspaces holding more than this many bytes are dropped instead of kept (a 151,936-token
/// vocabulary needs a few MB).
const MAX_SPARE_WORKSPACE_BYTES: usize = 32 << 20;

/// Workspaces kept between calls, so that a batch does not allocate (and fault in) its buffers
/// again, as a caching allocator keeps its blocks. Their contents never reach a result: every
/// buffer is cleared or overwritten before it is read.
static SPARE_WORKSPACES: Mutex<Vec<RowWorkspace>> = Mutex::new(Vec::new());

/// A workspace from the spares, or a new one.
fn take_workspace() -> RowWorkspace {
    // The list stays consistent whatever panicked while holding it, so a poisoned lock is fine.
    let kept = SPARE_WORKSPACES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop();
    kept.unwrap_or_else(RowWorkspace::new)
}

/// Keeps a workspace for the next call, unless enough are kept or it holds too much memory.
fn give_back_workspace(workspace: RowWorkspace) {
    if workspace.held_bytes() > MAX_SPARE_WORKSPACE_BYTES {
        return;
    }
    let mut spare = SPARE_WORKSPACES
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if spare.len() < MAX_SPARE_WORKSPACES {
        spare.push(workspace);
    }
}

/// Checks a batch's shapes, per-row parameters and history count; returns the number of rows.
pub fn check_batch(
    logits: &[f32],
    vocab_size: usize,
    params: &[SamplingParams],
    keys: &[RandomKey],
    histories: &[&[u32]],
) -> Result<usize, KernelError> {
    check_batch_len(logits.len(), vocab_size, params, keys, histories)
}

/// [`check_batch`] for a logits buffer of `logits_len` values that may live off the host.
pub(crate) fn check_batch_len(
    logits_len: usize,
    vocab_size: usize,
    params: &[SamplingParams],
    keys: &[RandomKey],
    histories: &[&[u32]],
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
    check_histories(histories, rows)?;
    let expected = rows
        .checked_mul(vocab_size)
        .ok_or(KernelError::ShapeOverflow { rows, vocab_size })?;
    if logits_len != expected {
        return Err(KernelError::ShapeMismatch {
            expected,
            got: logits_len,
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

/// Samples one row on the CPU (`row` only labels errors; `history` feeds the penalties).
pub fn sample_row(
    row_logits: &[f32],
    params: &SamplingParams,
    history: &[u32],
    key: RandomKey,
    row: usize,
) -> Result<SampledToken, KernelError> {
    params
        .validate()
        .map_err(|error| KernelError::InvalidParams {
            row,
            reason: error.to_string(),
        })?;
    let counts = TokenCounts::from_history(history, row_logits.len(), row)?;
    let mut workspace = take_workspace();
    let sampled = sample_row_in(&mut workspace, row_logits, params, &counts, key, row);
    give_back_workspace(workspace);
    sampled
}

/// The CPU backend: rows split over scoped threads (one per available core), each row in a few
/// linear passes (no sort of the vocabulary).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSampler;

impl CpuSampler {
    /// Number of workers to use for `rows` rows of `vocab_size` logits.
    fn workers(rows: usize, vocab_size: usize) -> usize {
        if rows.saturating_mul(vocab_size) < PARALLEL_MIN_LOGITS {
            return 1;
        }
        std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(rows)
            .max(1)
    }
}

/// Samples rows `first..first + count` sequentially with one workspace.
fn sample_range(
    logits: &[f32],
    vocab_size: usize,
    params: &[SamplingParams],
    keys: &[RandomKey],
    histories: &[&[u32]],
    first: usize,
    count: usize,
) -> Vec<Result<SampledToken, KernelError>> {
    let mut workspace = take_workspace();
    let sampled = (first..first + count)
        .map(|row| {
            let counts = TokenCounts::from_history(row_history(histories, row), vocab_size, row)?;
            let start = row * vocab_size;
            // The row this worker samples next is prefetched during this one's passes.
            let next_row = if row + 1 < first + count {
                &logits[start + vocab_size..start + 2 * vocab_size]
            } else {
                &[]
            };
            sample_row_before(
                &mut workspace,
                &logits[start..start + vocab_size],
                next_row,
                &params[row],
                &counts,
                keys[row],
                row,
            )
        })
        .collect();
    give_back_workspace(workspace);
    sampled
}

impl Sampler for CpuSampler {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn sample_with_history(
        &self,
        logits: &[f32],
        vocab_size: usize,
        params: &[SamplingParams],
        keys: &[RandomKey],
        histories: &[&[u32]],
    ) -> Result<Vec<SampledToken>, KernelError> {
        let rows = check_batch(logits, vocab_size, params, keys, histories)?;
        let workers = Self::workers(rows, vocab_size);
        let results = if workers <= 1 {
            sample_range(logits, vocab_size, params, keys, histories, 0, rows)
        } else {
            let per_worker = rows.div_ceil(workers);
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..rows)
                    .step_by(per_worker)
                    .map(|first| {
                        let count = per_worker.min(rows - first);
                        scope.spawn(move || {
                            sample_range(logits, vocab_size, params, keys, histories, first, count)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| handle.join().map_err(|_| KernelError::WorkerPanicked))
                    .collect::<Result<Vec<_>, _>>()
            })?
            .into_iter()
            .flatten()
            .collect()
        };
        results.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits with a few large values over many near-equal ones, so top-p gathers most of the row.
    fn wide_rows(rows: usize, vocab: usize, seed: u32) -> Vec<f32> {
        (0..rows * vocab)
            .map(|i| {
                let hashed = (i as u32 ^ seed).wrapping_mul(2_654_435_761) >> 8;
                let base = hashed as f32 / (1u32 << 24) as f32 * 0.4 - 0.2;
                if i % 991 == 0 {
                    base + 6.0
                } else {
                    base
                }
            })
            .collect()
    }

    #[test]
    fn kept_workspaces_give_the_results_of_fresh_ones() {
        let calls = [
            (60_000, SamplingParams::new(1.0, 0, 0.9)),
            (500, SamplingParams::new(0.8, 20, 0.95)),
            (80_000, SamplingParams::new(1.0, 40, 1.0)),
            (2_000, SamplingParams::default()),
            (500, SamplingParams::new(1.0, 0, 0.5)),
        ];
        for round in 0..2u32 {
            for (call, &(vocab, params)) in calls.iter().enumerate() {
                let rows = 3;
                let logits = wide_rows(rows, vocab, round * 31 + call as u32);
                let keys: Vec<RandomKey> = (0..rows as u64)
                    .map(|row| RandomKey::new(11, row, u64::from(round)))
                    .collect();
                let pooled = CpuSampler
                    .sample(&logits, vocab, &vec![params; rows], &keys)
                    .expect("pooled sampling");
                for (row, pooled) in pooled.iter().enumerate() {
                    let counts = TokenCounts::from_history(&[], vocab, row).expect("counts");
                    let fresh = sample_row_in(
                        &mut RowWorkspace::new(),
                        &logits[row * vocab..(row + 1) * vocab],
                        &params,
                        &counts,
                        keys[row],
                        row,
                    )
                    .expect("fresh sampling");
                    assert_eq!(*pooled, fresh, "round {round}, call {call}, row {row}");
                }
            }
        }
    }

    #[test]
    fn oversized_workspaces_are_not_kept() {
        let mut workspace = RowWorkspace::new();
        assert!(workspace.held_bytes() < MAX_SPARE_WORKSPACE_BYTES);
        let vocab = 3 << 20;
        let logits = vec![0.0f32; vocab];
        let counts = TokenCounts::from_history(&[], vocab, 0).expect("counts");
        let params = SamplingParams::new(1.0, 0, 0.9);
        sample_row_in(
            &mut workspace,
            &logits,
            &params,
            &counts,
            RandomKey::new(1, 0, 0),
            0,
        )
        .expect("sampling");
        assert!(workspace.held_bytes() > MAX_SPARE_WORKSPACE_BYTES);
        give_back_workspace(workspace);
        let spare = SPARE_WORKSPACES
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        assert!(spare
            .iter()
            .all(|kept| kept.held_bytes() <= MAX_SPARE_WORKSPACE_BYTES));
    }
}
