//! The full-buffer path of a non-greedy row: every exponential stored, thresholds by band
//! selection over the whole row, the draw by chunked prefix masses. It defines the reference
//! results that the streamed path reproduces, serves [`super::filtered_distribution`] and takes
//! over when the streamed path declines a row.

use super::{fill_processed, RowWorkspace, DRAW_CHUNK};
use crate::detmath::{fixed_weight, top_p_fixed, top_p_target};
use crate::error::KernelError;
use crate::history::TokenCounts;
use crate::params::SamplingParams;
use crate::select::{threshold, Measure};
use crate::simd::RowLoops;

/// A row after every filter: what both the draw and [`super::filtered_distribution`] need.
pub(super) struct PreparedRow {
    /// Largest raw logit.
    pub raw_max: f32,
    /// Fixed-point sum of the raw exponentials.
    pub raw_total: u64,
    /// Largest processed logit.
    pub processed_max: f32,
    /// Exponentials at or above this value are kept.
    pub floor: f32,
    /// Fixed-point mass of the kept tokens.
    pub kept_total: u64,
}

/// Computes exponentials, filters and the kept mass of a non-greedy row into `workspace.values`.
pub(super) fn prepare(
    workspace: &mut RowWorkspace,
    row_logits: &[f32],
    params: &SamplingParams,
    counts: &TokenCounts,
    raw_max: f32,
    row: usize,
) -> Result<PreparedRow, KernelError> {
    let loops = workspace.loops();
    let vocab = row_logits.len();
    workspace.values.resize(vocab, 0.0);
    let penalised = params.has_penalties() && !counts.is_empty();
    let identity = params.temperature == 1.0 && !penalised;
    let (raw_total, processed_max, all_total) = if identity {
        let total = (loops.exp_store_sum)(row_logits, raw_max, &mut workspace.values);
        (total, raw_max, total)
    } else {
        let raw_total = (loops.exp_sum)(row_logits, raw_max, &[]);
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
pub(super) fn locate(
    loops: &RowLoops,
    exponentials: &[f32],
    floor: f32,
    target: u64,
) -> Option<usize> {
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
