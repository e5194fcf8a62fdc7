//! Sorting-based reference implementation of the filtered distribution, written independently of the
//! crate's selection-based code so the two can be checked against each other.

#![allow(dead_code)]

use medgym_kernels::SamplingParams;

/// Final probability of every token (0.0 for filtered-out tokens) computed by full sorting.
pub fn reference_probabilities(logits: &[f32], params: &SamplingParams) -> Vec<f64> {
    let vocab = logits.len();
    let scaled: Vec<f32> = logits.iter().map(|l| l / params.temperature).collect();
    let mut all_sorted = scaled.clone();
    all_sorted.sort_by(|a, b| b.total_cmp(a));
    let top_k_threshold = if params.top_k > 0 && params.top_k < vocab {
        all_sorted[params.top_k - 1]
    } else {
        f32::NEG_INFINITY
    };
    let kept: Vec<usize> = (0..vocab)
        .filter(|&i| scaled[i].is_finite() && scaled[i] >= top_k_threshold)
        .collect();
    let max = kept
        .iter()
        .map(|&i| f64::from(scaled[i]))
        .fold(f64::NEG_INFINITY, f64::max);
    let normaliser: f64 = kept
        .iter()
        .map(|&i| (f64::from(scaled[i]) - max).exp())
        .sum();
    let mut probabilities = vec![0.0f64; vocab];
    for &i in &kept {
        probabilities[i] = (f64::from(scaled[i]) - max).exp() / normaliser;
    }
    if params.top_p < 1.0 {
        let mut descending: Vec<f64> = kept.iter().map(|&i| probabilities[i]).collect();
        descending.sort_by(|a, b| b.total_cmp(a));
        let mut cumulative = 0.0;
        let mut threshold = *descending.last().expect("at least one kept token");
        for (position, &value) in descending.iter().enumerate() {
            cumulative += value;
            let ends_tie_group = descending.get(position + 1) != Some(&value);
            if cumulative >= f64::from(params.top_p) && ends_tie_group {
                threshold = value;
                break;
            }
        }
        for probability in probabilities.iter_mut() {
            if *probability < threshold {
                *probability = 0.0;
            }
        }
    }
    let total: f64 = probabilities.iter().sum();
    probabilities.iter().map(|p| p / total).collect()
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
