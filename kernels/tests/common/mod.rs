//! Sorting-based reference of the documented row semantics, written independently of the crate's
//! radix selection and integer draw so the two can be checked against each other.

#![allow(dead_code)]

use std::collections::HashMap;

use medgym_kernels::detmath::{det_exp, fixed_weight, top_p_fixed, top_p_target};
use medgym_kernels::SamplingParams;

/// Processed logits: penalties from the history counts, then temperature.
pub fn processed_logits(logits: &[f32], params: &SamplingParams, history: &[u32]) -> Vec<f32> {
    let mut counts: HashMap<u32, u32> = HashMap::new();
    for &token in history {
        *counts.entry(token).or_default() += 1;
    }
    logits
        .iter()
        .enumerate()
        .map(|(index, &logit)| {
            let count = counts.get(&(index as u32)).copied().unwrap_or(0);
            let penalised = if params.has_penalties() {
                params.penalised_logit(logit, count)
            } else {
                logit
            };
            penalised / params.temperature
        })
        .collect()
}

/// Kept fixed-point weight of every token (0 for filtered-out tokens), thresholds found by sorting.
pub fn reference_weights(logits: &[f32], params: &SamplingParams, history: &[u32]) -> Vec<u64> {
    let scaled = processed_logits(logits, params, history);
    let max = scaled.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exponentials: Vec<f32> = scaled.iter().map(|&s| det_exp(s - max)).collect();
    let mut descending = exponentials.clone();
    descending.sort_by(|a, b| b.total_cmp(a));
    let mut floor = if params.min_p > 0.0 {
        params.min_p
    } else {
        0.0
    };
    if params.top_k > 0 && params.top_k < logits.len() {
        floor = floor.max(descending[params.top_k - 1]);
    }
    if params.top_p < 1.0 {
        let kept: Vec<f32> = descending.iter().copied().filter(|&e| e >= floor).collect();
        let total: u64 = kept.iter().map(|&e| fixed_weight(e)).sum();
        let target = top_p_target(total, top_p_fixed(params.top_p));
        let mut accumulated = 0u64;
        for (position, &value) in kept.iter().enumerate() {
            accumulated += fixed_weight(value);
            let ends_tie_group = kept.get(position + 1) != Some(&value);
            if accumulated >= target && ends_tie_group {
                floor = floor.max(value);
                break;
            }
        }
    }
    exponentials
        .iter()
        .map(|&e| if e >= floor { fixed_weight(e) } else { 0 })
        .collect()
}

/// Final probability of every token under the documented (fixed-point) semantics.
pub fn reference_probabilities(
    logits: &[f32],
    params: &SamplingParams,
    history: &[u32],
) -> Vec<f64> {
    let weights = reference_weights(logits, params, history);
    let total: u64 = weights.iter().sum();
    weights.iter().map(|&w| w as f64 / total as f64).collect()
}

/// The same filters applied to exact f64 softmax probabilities (for tolerance checks).
pub fn ideal_probabilities(logits: &[f32], params: &SamplingParams, history: &[u32]) -> Vec<f64> {
    let support = reference_weights(logits, params, history);
    let scaled = processed_logits(logits, params, history);
    let max = scaled.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let raw: Vec<f64> = scaled
        .iter()
        .zip(&support)
        .map(|(&s, &w)| {
            if w > 0 {
                (f64::from(s) - f64::from(max)).exp()
            } else {
                0.0
            }
        })
        .collect();
    let total: f64 = raw.iter().sum();
    raw.iter().map(|p| p / total).collect()
}

/// Pearson chi-square statistic of `counts` against `probabilities` (tokens with zero probability skipped).
pub fn chi_square(counts: &[u64], probabilities: &[f64]) -> f64 {
    let draws: u64 = counts.iter().sum();
    counts
        .iter()
        .zip(probabilities)
        .filter(|(_, &p)| p > 0.0)
        .map(|(&observed, &p)| {
            let expected = p * draws as f64;
            (observed as f64 - expected).powi(2) / expected
        })
        .sum()
}
