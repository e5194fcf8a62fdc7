//! Reinforcement-learning and supervised objectives on candle tensors.
//!
//! Everything here is differentiable with respect to the tensors that carry
//! gradients (logits, current log-probabilities); reference quantities such as
//! old or reference log-probabilities are detached before use.

use candle_core::{DType, Tensor};

use crate::TrainError;

/// Largest magnitude allowed for a log-ratio before exponentiation.
const LOG_RATIO_LIMIT: f64 = 20.0;

/// How group advantages are computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AdvantageEstimator {
    /// (r - mean) / (std + eps); std unbiased (N-1) when `unbiased`, population otherwise. Singleton group → A = 0.
    Grpo {
        /// Added to the standard deviation before dividing.
        eps: f32,
        /// Use the unbiased (N-1) standard deviation instead of the population one.
        unbiased: bool,
    },
    /// r - mean (Dr. GRPO).
    DrGrpo,
    /// Leave-one-out: r_i - mean of the others (singleton → 0).
    Rloo,
}

impl Default for AdvantageEstimator {
    fn default() -> Self {
        Self::Grpo {
            eps: 1e-6,
            unbiased: true,
        }
    }
}

/// How per-token losses become one scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossAggregation {
    /// Σ m ℓ / Σ m over the whole batch.
    TokenMean,
    /// Mean over non-empty sequences of each sequence's masked token mean.
    SeqMeanTokenMean,
    /// Σ m ℓ / (b · max_len): a constant normaliser independent of lengths.
    SeqMeanTokenSumNorm {
        /// Fixed length used as the per-sequence normaliser.
        max_len: usize,
    },
}

fn invalid(what: impl Into<String>, reason: impl Into<String>) -> TrainError {
    TrainError::InvalidArgument {
        what: what.into(),
        reason: reason.into(),
    }
}

/// Advantages for rewards laid out group after group (len = n_groups * group_size). Error if len % group_size != 0 or group_size == 0 or a reward is non-finite.
pub fn group_advantages(
    rewards: &[f32],
    group_size: usize,
    estimator: AdvantageEstimator,
) -> Result<Vec<f32>, TrainError> {
    if group_size == 0 {
        return Err(invalid("group_size", "must be at least 1, got 0"));
    }
    if !rewards.len().is_multiple_of(group_size) {
        return Err(invalid(
            "rewards",
            format!(
                "length {} is not a multiple of group_size {group_size}",
                rewards.len()
            ),
        ));
    }
    if let Some((index, value)) = rewards.iter().enumerate().find(|(_, r)| !r.is_finite()) {
        return Err(invalid(
            format!("rewards[{index}]"),
            format!("reward must be finite, got {value}"),
        ));
    }
    if let AdvantageEstimator::Grpo { eps, .. } = estimator {
        if !eps.is_finite() || eps < 0.0 {
            return Err(invalid(
                "AdvantageEstimator::Grpo.eps",
                format!("must be finite and non-negative, got {eps}"),
            ));
        }
    }
    let mut advantages = Vec::with_capacity(rewards.len());
    for group in rewards.chunks(group_size) {
        advantages.extend(group_advantages_one(group, estimator));
    }
    Ok(advantages)
}

/// Advantages of one validated, non-empty group, computed in f64.
fn group_advantages_one(group: &[f32], estimator: AdvantageEstimator) -> Vec<f32> {
    let n = group.len();
    let all_equal = group.iter().all(|&r| r == group[0]);
    if n < 2 || all_equal {
        return vec![0.0; n];
    }
    let values: Vec<f64> = group.iter().map(|&r| f64::from(r)).collect();
    let count = n as f64;
    let sum: f64 = values.iter().sum();
    let mean = sum / count;
    match estimator {
        AdvantageEstimator::Grpo { eps, unbiased } => {
            let squared: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
            let dof = if unbiased { count - 1.0 } else { count };
            let std = (squared / dof).sqrt();
            let denominator = std + f64::from(eps);
            values
                .iter()
                .map(|v| ((v - mean) / denominator) as f32)
                .collect()
        }
        AdvantageEstimator::DrGrpo => values.iter().map(|v| (v - mean) as f32).collect(),
        AdvantageEstimator::Rloo => values
            .iter()
            .map(|v| (v - (sum - v) / (count - 1.0)) as f32)
            .collect(),
    }
}

/// Checks that two tensors have the same shape, naming both in the error.
fn check_same_shape(name_a: &str, a: &Tensor, name_b: &str, b: &Tensor) -> Result<(), TrainError> {
    if a.dims() != b.dims() {
        return Err(invalid(
            name_b,
            format!(
                "shape {:?} does not match {name_a} shape {:?}",
                b.dims(),
                a.dims()
            ),
        ));
    }
    Ok(())
}

/// Checks that a tensor has rank two and returns its dimensions.
fn dims2_named(name: &str, tensor: &Tensor) -> Result<(usize, usize), TrainError> {
    match tensor.dims() {
        [b, t] => Ok((*b, *t)),
        other => Err(invalid(
            name,
            format!("expected shape (batch, time), got {other:?}"),
        )),
    }
}

/// Log-probabilities of `targets` (b, t) u32 under `logits` (b, t, v): log_softmax then gather. Differentiable w.r.t. logits.
///
/// Half-precision logits are promoted to f32; f32 and f64 logits keep their dtype.
pub fn token_logprobs(logits: &Tensor, targets: &Tensor) -> Result<Tensor, TrainError> {
    let (batch, time, vocab) = match logits.dims() {
        [b, t, v] => (*b, *t, *v),
        other => {
            return Err(invalid(
                "logits",
                format!("expected shape (batch, time, vocab), got {other:?}"),
            ))
        }
    };
    if targets.dtype() != DType::U32 {
        return Err(invalid(
            "targets",
            format!("expected dtype u32, got {:?}", targets.dtype()),
        ));
    }
    let target_dims = dims2_named("targets", targets)?;
    if target_dims != (batch, time) {
        return Err(invalid(
            "targets",
            format!("shape {target_dims:?} does not match logits (batch, time) ({batch}, {time})"),
        ));
    }
    if vocab == 0 {
        return Err(invalid("logits", "vocabulary dimension is empty"));
    }
    if targets.elem_count() > 0 {
        let largest = targets.flatten_all()?.max(0)?.to_scalar::<u32>()?;
        if largest as usize >= vocab {
            return Err(invalid(
                "targets",
                format!("token id {largest} is out of range for vocabulary size {vocab}"),
            ));
        }
    }
    let target_ids: Vec<u32> = targets.flatten_all()?.to_vec1()?;
    let flat = logits.reshape((batch * time, vocab))?;
    let picked = medgym_policy::ops::target_logprobs(&flat, &target_ids)?;
    Ok(picked.reshape((batch, time))?)
}

/// Per-token PPO-clip loss −min(ρA, clip(ρ, 1−ε_low, 1+ε_high)A) with ρ = exp(logp − old_logp) (log-ratio clamped to [−20, 20]);
/// logp (b,t) differentiable, old_logp (b,t) treated as constant (detach it), advantages (b,).
pub fn clipped_surrogate(
    logp: &Tensor,
    old_logp: &Tensor,
    advantages: &Tensor,
    eps_low: f64,
    eps_high: f64,
) -> Result<Tensor, TrainError> {
    if !(0.0..=1.0).contains(&eps_low) {
        return Err(invalid(
            "eps_low",
            format!("must lie in [0, 1], got {eps_low}"),
        ));
    }
    if !eps_high.is_finite() || eps_high < 0.0 {
        return Err(invalid(
            "eps_high",
            format!("must be finite and non-negative, got {eps_high}"),
        ));
    }
    let (batch, _) = dims2_named("logp", logp)?;
    check_same_shape("logp", logp, "old_logp", old_logp)?;
    if advantages.dims() != [batch] {
        return Err(invalid(
            "advantages",
            format!(
                "expected shape ({batch},) to match logp batch, got {:?}",
                advantages.dims()
            ),
        ));
    }
    let log_ratio = (logp - old_logp.detach())?.clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)?;
    let ratio = log_ratio.exp()?;
    let per_token_advantage = advantages
        .detach()
        .to_dtype(ratio.dtype())?
        .unsqueeze(1)?
        .broadcast_as(ratio.shape())?;
    let unclipped = (&ratio * &per_token_advantage)?;
    let clipped_ratio = ratio.clamp(1.0 - eps_low, 1.0 + eps_high)?;
    let clipped = (&clipped_ratio * &per_token_advantage)?;
    // Choose the pessimistic branch explicitly so that ties (ratio inside the
    // clip range) send the whole gradient through the unclipped branch.
    let take_unclipped = unclipped.le(&clipped)?;
    let objective = take_unclipped.where_cond(&unclipped, &clipped)?;
    Ok(objective.neg()?)
}

/// k3 estimator exp(ref − logp) − (ref − logp) − 1 per token (ref constant), always ≥ 0.
///
/// The log-ratio is clamped to [−20, 20] before exponentiation and the result
/// is floored at zero to absorb floating-point rounding.
pub fn k3_kl(logp: &Tensor, ref_logp: &Tensor) -> Result<Tensor, TrainError> {
    check_same_shape("logp", logp, "ref_logp", ref_logp)?;
    let log_ratio = (ref_logp.detach() - logp)?.clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)?;
    let estimate = ((log_ratio.exp()? - &log_ratio)? - 1.0)?;
    Ok(estimate.relu()?)
}

/// Aggregate per-token values (b,t) with a 0/1 f32 mask (b,t). TokenMean = Σ m ℓ / Σ m; SeqMeanTokenMean = mean_i(Σ_t m ℓ / Σ_t m);
/// SeqMeanTokenSumNorm = Σ m ℓ / (b · max_len). Error when the mask is all zero.
///
/// For `SeqMeanTokenMean`, sequences whose mask is entirely zero are left out
/// of the mean over sequences.
pub fn aggregate(
    per_token: &Tensor,
    mask: &Tensor,
    mode: LossAggregation,
) -> Result<Tensor, TrainError> {
    let (batch, _) = dims2_named("per_token", per_token)?;
    check_same_shape("per_token", per_token, "mask", mask)?;
    let mask = mask.detach().to_dtype(per_token.dtype())?;
    let mask_total = mask.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    if mask_total <= 0.0 {
        return Err(invalid("mask", "no token is selected (mask sums to zero)"));
    }
    let masked = (per_token * &mask)?;
    match mode {
        LossAggregation::TokenMean => Ok((masked.sum_all()? / mask_total)?),
        LossAggregation::SeqMeanTokenMean => {
            let row_counts = mask.sum(1)?;
            let non_empty = row_counts.gt(0.0)?.to_dtype(per_token.dtype())?;
            let non_empty_rows = non_empty
                .to_dtype(DType::F64)?
                .sum_all()?
                .to_scalar::<f64>()?;
            // Empty rows have a zero numerator; dividing them by one keeps them at zero.
            let safe_counts = row_counts.maximum(1.0)?;
            let row_means = masked.sum(1)?.div(&safe_counts)?;
            Ok((row_means.sum_all()? / non_empty_rows)?)
        }
        LossAggregation::SeqMeanTokenSumNorm { max_len } => {
            if max_len == 0 {
                return Err(invalid(
                    "LossAggregation::SeqMeanTokenSumNorm.max_len",
                    "must be at least 1, got 0",
                ));
            }
            let normaliser = (batch * max_len) as f64;
            Ok((masked.sum_all()? / normaliser)?)
        }
    }
}

/// Masked cross-entropy (mean over mask==1 tokens) of logits (b,t,v) against targets (b,t) u32 — for SFT.
pub fn masked_cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    mask: &Tensor,
) -> Result<Tensor, TrainError> {
    let log_probs = token_logprobs(logits, targets)?;
    let mean_log_prob = aggregate(&log_probs, mask, LossAggregation::TokenMean)?;
    Ok(mean_log_prob.neg()?)
}
