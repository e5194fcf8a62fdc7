//! Row-level arithmetic: logit checks, greedy choice, raw log-softmax and the filtered
//! (tempered, top-k, top-p) distribution a token is drawn from.

use crate::error::KernelError;
use crate::params::SamplingParams;

/// The distribution one row is sampled from: the kept tokens in increasing index order.
#[derive(Debug, Clone, PartialEq)]
pub struct FilteredDistribution {
    /// Kept token ids, strictly increasing.
    pub tokens: Vec<u32>,
    /// Top-k-renormalised probability `p_i` of each kept token (same order as `tokens`).
    pub weights: Vec<f64>,
    /// Sum of `weights` accumulated in increasing token order (the final renormaliser).
    pub total: f64,
}

impl FilteredDistribution {
    /// Number of kept tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token was kept (never true for a distribution built by [`filtered_distribution`]).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Final probability of the kept token at `position` (`weights[position] / total`).
    pub fn probability(&self, position: usize) -> Option<f64> {
        self.weights.get(position).map(|weight| weight / self.total)
    }

    /// Final probability of `token` (0.0 when it was filtered out).
    pub fn probability_of(&self, token: u32) -> f64 {
        self.tokens
            .binary_search(&token)
            .ok()
            .and_then(|position| self.probability(position))
            .unwrap_or(0.0)
    }

    /// Position of the kept token picked by uniform draw `draw` in [0, 1): the first kept token (in
    /// increasing index order) whose cumulative weight exceeds `draw × total`, else the last kept token
    /// with a non-zero weight.
    pub fn pick_position(&self, draw: f64) -> usize {
        let target = draw * self.total;
        let mut cumulative = 0.0f64;
        let mut last_positive = 0;
        for (position, &weight) in self.weights.iter().enumerate() {
            cumulative += weight;
            if cumulative > target {
                return position;
            }
            if weight > 0.0 {
                last_positive = position;
            }
        }
        last_positive
    }
}

/// Rejects NaN and +inf logits and rows whose logits are all −inf.
pub fn check_row_logits(row_logits: &[f32], row: usize) -> Result<(), KernelError> {
    let mut any_finite = false;
    for (index, &value) in row_logits.iter().enumerate() {
        if value.is_nan() || value == f32::INFINITY {
            return Err(KernelError::NonFiniteLogit { row, index, value });
        }
        any_finite |= value.is_finite();
    }
    if any_finite {
        Ok(())
    } else {
        Err(KernelError::NoFiniteLogit { row })
    }
}

/// Index of the largest logit, ties broken towards the lowest index (0 when the row holds no finite logit).
pub fn greedy_index(row_logits: &[f32]) -> usize {
    let mut best_index = 0;
    let mut best_value = f32::NEG_INFINITY;
    for (index, &value) in row_logits.iter().enumerate() {
        if value > best_value {
            best_index = index;
            best_value = value;
        }
    }
    best_index
}

/// Log-softmax of the raw logits at `index`, accumulated in f64 (`None` when `index` is out of range).
///
/// The row should have passed [`check_row_logits`]; otherwise the result may be NaN.
pub fn raw_log_softmax(row_logits: &[f32], index: usize) -> Option<f64> {
    let logit = f64::from(*row_logits.get(index)?);
    let max = row_logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let max = f64::from(max);
    let normaliser: f64 = row_logits
        .iter()
        .map(|&value| (f64::from(value) - max).exp())
        .sum();
    Some((logit - max) - normaliser.ln())
}

/// Divides every logit by the temperature in f32; a finite logit whose quotient is not finite is an error.
fn scale_logits(row_logits: &[f32], temperature: f32, row: usize) -> Result<Vec<f32>, KernelError> {
    row_logits
        .iter()
        .enumerate()
        .map(|(index, &logit)| {
            let scaled = logit / temperature;
            if logit.is_finite() && !scaled.is_finite() {
                Err(KernelError::ScaledLogitOverflow {
                    row,
                    index,
                    logit,
                    temperature,
                })
            } else {
                Ok(scaled)
            }
        })
        .collect()
}

/// The k-th largest scaled value when 0 < k < vocabulary size, else −inf (top-k off).
fn top_k_threshold(scaled: &[f32], top_k: usize) -> f32 {
    if top_k == 0 || top_k >= scaled.len() {
        return f32::NEG_INFINITY;
    }
    let mut scratch = scaled.to_vec();
    let (_, kth_largest, _) =
        scratch.select_nth_unstable_by(top_k - 1, |left, right| right.total_cmp(left));
    *kth_largest
}

/// Moves the values satisfying `keep` to the front of `values` and returns how many there are.
fn partition_in_place(values: &mut [f64], keep: impl Fn(f64) -> bool) -> usize {
    let mut boundary = 0;
    for index in 0..values.len() {
        if keep(values[index]) {
            values.swap(boundary, index);
            boundary += 1;
        }
    }
    boundary
}

/// The largest probability value `t` among `values` such that the mass of `{p >= t}` reaches `top_p`.
///
/// Binary search over the value order by median selection (no full sort): each step partitions the
/// remaining candidates around their median into greater / equal / smaller and keeps one side.
/// If rounding leaves the whole mass below `top_p`, the smallest value is returned (keep everything).
fn top_p_threshold(values: &mut [f64], top_p: f64) -> f64 {
    let mut remaining: &mut [f64] = values;
    let mut mass_above = 0.0f64;
    let mut smallest_pivot = 0.0f64;
    while !remaining.is_empty() {
        let middle = remaining.len() / 2;
        let (_, median, _) =
            remaining.select_nth_unstable_by(middle, |left, right| right.total_cmp(left));
        let pivot = *median;
        let greater_count = partition_in_place(remaining, |value| value > pivot);
        let equal_count =
            partition_in_place(&mut remaining[greater_count..], |value| value == pivot);
        let greater_mass = mass_above + remaining[..greater_count].iter().sum::<f64>();
        let current = std::mem::take(&mut remaining);
        if greater_mass >= top_p {
            remaining = &mut current[..greater_count];
            continue;
        }
        let equal_end = greater_count + equal_count;
        let equal_mass: f64 = current[greater_count..equal_end].iter().sum();
        if greater_mass + equal_mass >= top_p {
            return pivot;
        }
        mass_above = greater_mass + equal_mass;
        smallest_pivot = pivot;
        remaining = &mut current[equal_end..];
    }
    smallest_pivot
}

/// Builds the tempered, top-k and top-p filtered distribution of one row (non-greedy parameters).
///
/// The row's logits must already have passed [`check_row_logits`] and `params` must be valid with a
/// non-zero temperature.
pub fn filtered_distribution(
    row_logits: &[f32],
    params: &SamplingParams,
    row: usize,
) -> Result<FilteredDistribution, KernelError> {
    let scaled = scale_logits(row_logits, params.temperature, row)?;
    let threshold_k = top_k_threshold(&scaled, params.top_k);
    let mut tokens = Vec::new();
    let mut kept_scaled = Vec::new();
    for (index, &value) in scaled.iter().enumerate() {
        if value.is_finite() && value >= threshold_k {
            tokens.push(index as u32);
            kept_scaled.push(value);
        }
    }
    let max = kept_scaled
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return Err(KernelError::NoFiniteLogit { row });
    }
    let max = f64::from(max);
    let exponentials: Vec<f64> = kept_scaled
        .iter()
        .map(|&value| (f64::from(value) - max).exp())
        .collect();
    let normaliser: f64 = exponentials.iter().sum();
    let mut weights: Vec<f64> = exponentials
        .iter()
        .map(|exponential| exponential / normaliser)
        .collect();
    if params.top_p < 1.0 {
        let mut scratch = weights.clone();
        let threshold_p = top_p_threshold(&mut scratch, f64::from(params.top_p));
        let mut kept_tokens = Vec::with_capacity(tokens.len());
        let mut kept_weights = Vec::with_capacity(tokens.len());
        for (&token, &weight) in tokens.iter().zip(&weights) {
            if weight >= threshold_p {
                kept_tokens.push(token);
                kept_weights.push(weight);
            }
        }
        tokens = kept_tokens;
        weights = kept_weights;
    }
    let total = weights.iter().sum();
    Ok(FilteredDistribution {
        tokens,
        weights,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorting reference: smallest prefix of the descending order reaching `top_p`, ties included.
    fn sorted_reference_threshold(values: &[f64], top_p: f64) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(|left, right| right.total_cmp(left));
        let mut cumulative = 0.0;
        for (position, &value) in sorted.iter().enumerate() {
            cumulative += value;
            let last_of_tie_group = sorted.get(position + 1) != Some(&value);
            if cumulative >= top_p && last_of_tie_group {
                return value;
            }
        }
        sorted.last().copied().unwrap_or(0.0)
    }

    #[test]
    fn top_p_threshold_matches_sorting_reference() {
        let value_sets: [&[f64]; 4] = [
            &[0.4, 0.3, 0.2, 0.1],
            &[0.1, 0.2, 0.3, 0.4],
            &[0.25, 0.25, 0.25, 0.25],
            &[0.05, 0.3, 0.05, 0.3, 0.2, 0.1],
        ];
        for values in value_sets {
            for top_p in [0.05, 0.3, 0.35, 0.5, 0.6, 0.69, 0.7, 0.71, 0.9, 0.95, 0.99] {
                let mut scratch = values.to_vec();
                assert_eq!(
                    top_p_threshold(&mut scratch, top_p),
                    sorted_reference_threshold(values, top_p),
                    "values {values:?} top_p {top_p}"
                );
            }
        }
    }

    #[test]
    fn top_p_mass_exactly_reaching_target_stops_there() {
        let values = [0.125, 0.5, 0.125, 0.25];
        for (top_p, expected) in [(0.5, 0.5), (0.75, 0.25), (0.875, 0.125), (1.0, 0.125)] {
            let mut scratch = values.to_vec();
            assert_eq!(
                top_p_threshold(&mut scratch, top_p),
                expected,
                "top_p {top_p}"
            );
        }
    }

    #[test]
    fn top_p_threshold_falls_back_to_smallest_value() {
        let mut values = vec![0.3, 0.2, 0.1];
        assert_eq!(top_p_threshold(&mut values, 0.9), 0.1);
    }

    #[test]
    fn top_k_threshold_is_kth_largest() {
        let scaled = [1.0, 5.0, 3.0, f32::NEG_INFINITY, 4.0, 2.0];
        assert_eq!(top_k_threshold(&scaled, 1), 5.0);
        assert_eq!(top_k_threshold(&scaled, 3), 3.0);
        assert_eq!(top_k_threshold(&scaled, 6), f32::NEG_INFINITY);
        assert_eq!(top_k_threshold(&scaled, 0), f32::NEG_INFINITY);
    }

    #[test]
    fn pick_position_walks_cumulative_mass() {
        let distribution = FilteredDistribution {
            tokens: vec![2, 5, 9],
            weights: vec![0.25, 0.5, 0.25],
            total: 1.0,
        };
        assert_eq!(distribution.pick_position(0.0), 0);
        assert_eq!(distribution.pick_position(0.2499), 0);
        assert_eq!(distribution.pick_position(0.25), 1);
        assert_eq!(distribution.pick_position(0.74), 1);
        assert_eq!(distribution.pick_position(0.75), 2);
        assert_eq!(distribution.pick_position(0.999), 2);
    }

    #[test]
    fn pick_position_fallback_skips_zero_weight_tail() {
        let distribution = FilteredDistribution {
            tokens: vec![0, 1, 2],
            weights: vec![0.5, 0.5, 0.0],
            total: 1.0,
        };
        assert_eq!(distribution.pick_position(1.0), 1);
    }
}
