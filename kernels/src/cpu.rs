//! The CPU sampling backend (rows in parallel on scoped threads) and the batch checks shared by
//! every backend.

use std::num::NonZeroUsize;
use std::sync::Mutex;

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

/// Workspaces kept between calls, so that a batch does not allocate (and fault in) its buffers
/// again: a few MB per worker at a 151,936-token vocabulary, kept like a caching allocator keeps
/// its blocks. Their contents never reach a result.
static SPARE_WORKSPACES: Mutex<Vec<RowWorkspace>> = Mutex::new(Vec::new());

/// A workspace from the spares, or a new one.
fn take_workspace() -> RowWorkspace {
    SPARE_WORKSPACES
        .lock()
        .ok()
        .and_then(|mut spare| spare.pop())
        .unwrap_or_else(RowWorkspace::new)
}

/// Keeps a workspace for the next call (dropped when enough are kept).
fn give_back_workspace(workspace: RowWorkspace) {
    if let Ok(mut spare) = SPARE_WORKSPACES.lock() {
        if spare.len() < MAX_SPARE_WORKSPACES {
            spare.push(workspace);
        }
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
