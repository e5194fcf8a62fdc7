//! Golden-value, hand-computed and finite-difference tests for the RL objectives.

use candle_core::{DType, Device, Tensor, Var};
use medgym_train::objectives::{
    aggregate, clipped_surrogate, group_advantages, k3_kl, masked_cross_entropy, token_logprobs,
    AdvantageEstimator, LossAggregation,
};
use medgym_train::TrainError;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn assert_close(actual: &[f32], expected: &[f32], tolerance: f32) {
    assert_eq!(actual.len(), expected.len(), "length mismatch");
    for (index, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tolerance,
            "index {index}: got {a}, expected {e} (tolerance {tolerance})"
        );
    }
}

fn assert_close_f64(actual: &[f64], expected: &[f64], tolerance: f64) {
    assert_eq!(actual.len(), expected.len(), "length mismatch");
    for (index, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tolerance,
            "index {index}: got {a}, expected {e} (tolerance {tolerance})"
        );
    }
}

/// Central finite differences of a scalar function of a flat f64 vector reshaped to `shape`.
fn finite_difference(
    function: &dyn Fn(&Tensor) -> Result<Tensor, TrainError>,
    point: &[f64],
    shape: &[usize],
    step: f64,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let mut gradient = Vec::with_capacity(point.len());
    for index in 0..point.len() {
        let mut plus = point.to_vec();
        plus[index] += step;
        let mut minus = point.to_vec();
        minus[index] -= step;
        let plus = Tensor::from_vec(plus, shape, &Device::Cpu)?;
        let minus = Tensor::from_vec(minus, shape, &Device::Cpu)?;
        let f_plus = function(&plus)?.to_scalar::<f64>()?;
        let f_minus = function(&minus)?.to_scalar::<f64>()?;
        gradient.push((f_plus - f_minus) / (2.0 * step));
    }
    Ok(gradient)
}

/// Gradient of a scalar function at `point` through candle's backward pass.
fn backward_gradient(
    function: &dyn Fn(&Tensor) -> Result<Tensor, TrainError>,
    point: &[f64],
    shape: &[usize],
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let var = Var::from_tensor(&Tensor::from_vec(point.to_vec(), shape, &Device::Cpu)?)?;
    let value = function(var.as_tensor())?;
    let grads = value.backward()?;
    let grad = grads.get(var.as_tensor()).ok_or("no gradient for input")?;
    Ok(grad.flatten_all()?.to_vec1::<f64>()?)
}

fn grpo(eps: f32, unbiased: bool) -> AdvantageEstimator {
    AdvantageEstimator::Grpo { eps, unbiased }
}

#[test]
fn grpo_golden_vectors_match_reference_implementations() -> TestResult {
    let rewards = [1.0, 0.0, 0.0, 1.0];
    let a = 0.866_024;
    let verl = group_advantages(&rewards, 4, grpo(1e-6, true))?;
    assert_close(&verl, &[a, -a, -a, a], 2e-6);
    let b = 0.865_875;
    let trl = group_advantages(&rewards, 4, grpo(1e-4, true))?;
    assert_close(&trl, &[b, -b, -b, b], 2e-6);
    let population = group_advantages(&rewards, 4, grpo(1e-6, false))?;
    assert_close(&population, &[1.0, -1.0, -1.0, 1.0], 1e-5);
    let default = group_advantages(&rewards, 4, AdvantageEstimator::default())?;
    assert_eq!(default, verl);
    Ok(())
}

#[test]
fn grpo_group_of_eight_with_one_success() -> TestResult {
    let mut rewards = [0.0f32; 8];
    rewards[0] = 1.0;
    let advantages = group_advantages(&rewards, 8, grpo(1e-4, true))?;
    let mut expected = [-0.353_453f32; 8];
    expected[0] = 2.474_174;
    assert_close(&advantages, &expected, 2e-6);
    Ok(())
}

#[test]
fn dr_grpo_and_rloo_golden_vectors() -> TestResult {
    let rewards = [1.0, 0.0, 0.0, 1.0];
    let dr = group_advantages(&rewards, 4, AdvantageEstimator::DrGrpo)?;
    assert_close(&dr, &[0.5, -0.5, -0.5, 0.5], 1e-7);
    let rloo = group_advantages(&rewards, 4, AdvantageEstimator::Rloo)?;
    let third = 2.0 / 3.0;
    assert_close(&rloo, &[third, -third, -third, third], 1e-6);
    Ok(())
}

#[test]
fn groups_are_normalised_independently() -> TestResult {
    let rewards = [1.0, 0.0, 0.0, 1.0, 3.0, 3.0, 3.0, 3.0, 2.0, 0.0, 1.0, 1.0];
    let advantages = group_advantages(&rewards, 4, AdvantageEstimator::DrGrpo)?;
    assert_close(
        &advantages,
        &[
            0.5, -0.5, -0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0,
        ],
        1e-7,
    );
    Ok(())
}

#[test]
fn identical_rewards_and_singletons_give_zero_advantage() -> TestResult {
    let estimators = [
        grpo(1e-6, true),
        grpo(0.0, false),
        AdvantageEstimator::DrGrpo,
        AdvantageEstimator::Rloo,
    ];
    for estimator in estimators {
        let same = group_advantages(&[0.1, 0.1, 0.1, 0.7, 0.7, 0.7], 3, estimator)?;
        assert!(same.iter().all(|&a| a == 0.0), "{estimator:?}: {same:?}");
        let singletons = group_advantages(&[1.0, 0.0, 5.0], 1, estimator)?;
        assert!(
            singletons.iter().all(|&a| a == 0.0),
            "{estimator:?}: {singletons:?}"
        );
    }
    Ok(())
}

#[test]
fn group_advantages_rejects_bad_input() {
    let estimator = AdvantageEstimator::default();
    assert!(group_advantages(&[1.0, 0.0], 0, estimator).is_err());
    assert!(group_advantages(&[1.0, 0.0, 1.0], 2, estimator).is_err());
    let non_finite = group_advantages(&[1.0, f32::NAN], 2, estimator);
    let message = non_finite.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("rewards[1]"), "message: {message}");
    assert!(group_advantages(&[1.0, f32::INFINITY], 2, estimator).is_err());
    assert!(group_advantages(&[1.0, 0.0], 2, grpo(-1.0, true)).is_err());
}

#[test]
fn token_logprobs_matches_direct_computation() -> TestResult {
    let (batch, time, vocab) = (2usize, 3usize, 5usize);
    let logits: Vec<f32> = (0..batch * time * vocab)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.7)
        .collect();
    let targets: Vec<u32> = vec![0, 4, 2, 3, 1, 4];
    let logits_tensor = Tensor::from_vec(logits.clone(), (batch, time, vocab), &Device::Cpu)?;
    let targets_tensor = Tensor::from_vec(targets.clone(), (batch, time), &Device::Cpu)?;
    let result = token_logprobs(&logits_tensor, &targets_tensor)?;
    assert_eq!(result.dims(), &[batch, time]);
    let actual = result.flatten_all()?.to_vec1::<f32>()?;
    let mut expected = Vec::new();
    for (row, &target) in logits.chunks(vocab).zip(&targets) {
        let row: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
        let log_sum_exp = row.iter().map(|x| x.exp()).sum::<f64>().ln();
        expected.push((row[target as usize] - log_sum_exp) as f32);
    }
    assert_close(&actual, &expected, 1e-5);
    Ok(())
}

#[test]
fn token_logprobs_rejects_bad_shapes_and_ids() -> TestResult {
    let logits = Tensor::zeros((1, 2, 3), DType::F32, &Device::Cpu)?;
    let wrong_shape = Tensor::zeros((1, 3), DType::U32, &Device::Cpu)?;
    assert!(token_logprobs(&logits, &wrong_shape).is_err());
    let wrong_dtype = Tensor::zeros((1, 2), DType::F32, &Device::Cpu)?;
    assert!(token_logprobs(&logits, &wrong_dtype).is_err());
    let out_of_range = Tensor::new(&[[0u32, 3]], &Device::Cpu)?;
    assert!(token_logprobs(&logits, &out_of_range).is_err());
    Ok(())
}

#[test]
fn masked_cross_entropy_gradient_matches_finite_differences() -> TestResult {
    let (batch, time, vocab) = (2usize, 3usize, 4usize);
    let shape = [batch, time, vocab];
    let point: Vec<f64> = (0..batch * time * vocab)
        .map(|i| ((i * 7 % 13) as f64 - 6.0) * 0.3)
        .collect();
    let targets = Tensor::new(&[[1u32, 3, 0], [2, 2, 1]], &Device::Cpu)?;
    let mask = Tensor::new(&[[1.0f64, 1.0, 0.0], [1.0, 0.0, 1.0]], &Device::Cpu)?;
    let function = |logits: &Tensor| masked_cross_entropy(logits, &targets, &mask);
    let analytic = backward_gradient(&function, &point, &shape)?;
    let numeric = finite_difference(&function, &point, &shape, 1e-5)?;
    assert_close_f64(&analytic, &numeric, 1e-7);
    // Masked-out positions receive no gradient at all.
    let masked_row_start = 2 * vocab;
    assert!(analytic[masked_row_start..masked_row_start + vocab]
        .iter()
        .all(|&g| g == 0.0));
    // The loss is the mean negative log-probability of the selected tokens.
    let logits = Tensor::from_vec(point, &shape, &Device::Cpu)?;
    let loss = masked_cross_entropy(&logits, &targets, &mask)?.to_scalar::<f64>()?;
    let log_probs = token_logprobs(&logits, &targets)?.to_vec2::<f64>()?;
    let expected = -(log_probs[0][0] + log_probs[0][1] + log_probs[1][0] + log_probs[1][2]) / 4.0;
    assert!((loss - expected).abs() < 1e-12, "{loss} vs {expected}");
    Ok(())
}

/// Inputs of the surrogate tests: logp, old_logp, advantages and logp as a flat vector.
struct SurrogateCase {
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    logp_values: Vec<f64>,
}

/// Rows: A > 0 and A < 0; columns: ρ inside, above and below the clip range.
fn surrogate_case() -> Result<SurrogateCase, Box<dyn std::error::Error>> {
    let ratios = [1.1f64, 1.5, 0.5];
    let old = [-1.0f64, -2.0, -0.5];
    let mut logp = Vec::new();
    for _ in 0..2 {
        for (ratio, old) in ratios.iter().zip(&old) {
            logp.push(old + ratio.ln());
        }
    }
    let old_row: Vec<f64> = old.iter().chain(&old).copied().collect();
    let logp_tensor = Tensor::from_vec(logp.clone(), (2, 3), &Device::Cpu)?;
    let old_tensor = Tensor::from_vec(old_row, (2, 3), &Device::Cpu)?;
    let advantages = Tensor::new(&[2.0f64, -3.0], &Device::Cpu)?;
    Ok(SurrogateCase {
        logp: logp_tensor,
        old_logp: old_tensor,
        advantages,
        logp_values: logp,
    })
}

#[test]
fn clipped_surrogate_hand_computed_values() -> TestResult {
    let case = surrogate_case()?;
    let loss = clipped_surrogate(&case.logp, &case.old_logp, &case.advantages, 0.2, 0.28)?
        .to_vec2::<f64>()?;
    // A = 2: ρ=1.1 → −2.2; ρ=1.5 clipped to 1.28 → −2.56; ρ=0.5 unclipped (min) → −1.0.
    // A = −3: ρ=1.1 → 3.3; ρ=1.5 unclipped (min) → 4.5; ρ=0.5 clipped to 0.8 → 2.4.
    let expected = [[-2.2, -2.56, -1.0], [3.3, 4.5, 2.4]];
    for (row, expected_row) in loss.iter().zip(&expected) {
        assert_close_f64(row, expected_row, 1e-12);
    }
    Ok(())
}

#[test]
fn clipped_surrogate_gradient_is_minus_a_rho_or_zero() -> TestResult {
    let case = surrogate_case()?;
    let point = case.logp_values.clone();
    let function = |logp: &Tensor| -> Result<Tensor, TrainError> {
        Ok(clipped_surrogate(logp, &case.old_logp, &case.advantages, 0.2, 0.28)?.sum_all()?)
    };
    let analytic = backward_gradient(&function, &point, &[2, 3])?;
    let expected = [-2.0 * 1.1, 0.0, -2.0 * 0.5, 3.0 * 1.1, 3.0 * 1.5, 0.0];
    assert_close_f64(&analytic, &expected, 1e-12);
    let numeric = finite_difference(&function, &point, &[2, 3], 1e-6)?;
    assert_close_f64(&analytic, &numeric, 1e-7);
    Ok(())
}

#[test]
fn clipped_surrogate_on_policy_gradient_is_minus_advantage() -> TestResult {
    let point = vec![-0.3f64, -1.2, -2.5, -0.7];
    let old = Tensor::from_vec(point.clone(), (2, 2), &Device::Cpu)?;
    let advantages = Tensor::new(&[0.75f64, -1.25], &Device::Cpu)?;
    let function = |logp: &Tensor| -> Result<Tensor, TrainError> {
        Ok(clipped_surrogate(logp, &old, &advantages, 0.2, 0.2)?.sum_all()?)
    };
    let analytic = backward_gradient(&function, &point, &[2, 2])?;
    assert_close_f64(&analytic, &[-0.75, -0.75, 1.25, 1.25], 1e-12);
    Ok(())
}

#[test]
fn clipped_surrogate_does_not_differentiate_old_logp() -> TestResult {
    let logp = Tensor::new(&[[-1.0f32, -2.0]], &Device::Cpu)?;
    let old = Var::new(&[[-1.1f32, -1.9]], &Device::Cpu)?;
    let advantages = Tensor::new(&[1.0f32], &Device::Cpu)?;
    let loss = clipped_surrogate(&logp, old.as_tensor(), &advantages, 0.2, 0.2)?.sum_all()?;
    let grads = loss.backward()?;
    assert!(grads.get(old.as_tensor()).is_none());
    Ok(())
}

#[test]
fn clipped_surrogate_clamps_huge_log_ratios() -> TestResult {
    let logp = Tensor::new(&[[0.0f32, -200.0]], &Device::Cpu)?;
    let old = Tensor::new(&[[-200.0f32, 0.0]], &Device::Cpu)?;
    let advantages = Tensor::new(&[-1.0f32], &Device::Cpu)?;
    let loss = clipped_surrogate(&logp, &old, &advantages, 0.2, 0.2)?.to_vec2::<f32>()?;
    assert!(loss[0].iter().all(|v| v.is_finite()), "{loss:?}");
    assert!((loss[0][0] - 20f32.exp()).abs() / 20f32.exp() < 1e-5);
    Ok(())
}

#[test]
fn clipped_surrogate_rejects_bad_arguments() -> TestResult {
    let logp = Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?;
    let advantages = Tensor::zeros(2, DType::F32, &Device::Cpu)?;
    let wrong_old = Tensor::zeros((2, 4), DType::F32, &Device::Cpu)?;
    assert!(clipped_surrogate(&logp, &wrong_old, &advantages, 0.2, 0.2).is_err());
    let wrong_advantages = Tensor::zeros(3, DType::F32, &Device::Cpu)?;
    assert!(clipped_surrogate(&logp, &logp, &wrong_advantages, 0.2, 0.2).is_err());
    assert!(clipped_surrogate(&logp, &logp, &advantages, -0.1, 0.2).is_err());
    assert!(clipped_surrogate(&logp, &logp, &advantages, 0.2, f64::NAN).is_err());
    Ok(())
}

#[test]
fn k3_is_zero_when_equal_and_positive_otherwise() -> TestResult {
    let logp = Tensor::new(&[[-1.0f32, -2.0, -0.5], [-3.0, -0.1, -1.5]], &Device::Cpu)?;
    let same = k3_kl(&logp, &logp)?.flatten_all()?.to_vec1::<f32>()?;
    assert!(same.iter().all(|&v| v == 0.0), "{same:?}");
    let reference = Tensor::new(&[[-1.5f32, -1.0, -0.5], [-2.0, -0.3, -4.0]], &Device::Cpu)?;
    let values = k3_kl(&logp, &reference)?.to_vec2::<f32>()?;
    let logp_rows = logp.to_vec2::<f32>()?;
    let reference_rows = reference.to_vec2::<f32>()?;
    for (i, row) in values.iter().enumerate() {
        for (j, &value) in row.iter().enumerate() {
            let delta = f64::from(reference_rows[i][j] - logp_rows[i][j]);
            let expected = delta.exp() - delta - 1.0;
            assert!((f64::from(value) - expected).abs() < 1e-5, "({i},{j})");
            if delta != 0.0 {
                assert!(value > 0.0, "({i},{j}) should be positive: {value}");
            }
        }
    }
    Ok(())
}

#[test]
fn k3_gradient_matches_finite_differences() -> TestResult {
    let point = vec![-1.0f64, -2.0, -0.5, -3.0, -0.1, -1.5];
    let reference = Tensor::new(&[[-1.5f64, -1.0, -0.7], [-2.0, -0.3, -4.0]], &Device::Cpu)?;
    let function =
        |logp: &Tensor| -> Result<Tensor, TrainError> { Ok(k3_kl(logp, &reference)?.sum_all()?) };
    let analytic = backward_gradient(&function, &point, &[2, 3])?;
    let numeric = finite_difference(&function, &point, &[2, 3], 1e-6)?;
    assert_close_f64(&analytic, &numeric, 1e-7);
    // d/dlogp [e^(r−l) − (r−l) − 1] = 1 − e^(r−l).
    let expected: Vec<f64> = reference
        .flatten_all()?
        .to_vec1::<f64>()?
        .iter()
        .zip(&point)
        .map(|(r, l)| 1.0 - (r - l).exp())
        .collect();
    assert_close_f64(&analytic, &expected, 1e-12);
    Ok(())
}

#[test]
fn aggregate_modes_by_hand() -> TestResult {
    let per_token = Tensor::new(
        &[[1.0f32, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]],
        &Device::Cpu,
    )?;
    let mask = Tensor::new(
        &[[1.0f32, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]],
        &Device::Cpu,
    )?;
    let token_mean =
        aggregate(&per_token, &mask, LossAggregation::TokenMean)?.to_scalar::<f32>()?;
    assert!((token_mean - 16.0 / 4.0).abs() < 1e-6, "{token_mean}");
    let seq_mean =
        aggregate(&per_token, &mask, LossAggregation::SeqMeanTokenMean)?.to_scalar::<f32>()?;
    assert!((seq_mean - (2.0 + 10.0) / 2.0).abs() < 1e-6, "{seq_mean}");
    let sum_norm = aggregate(
        &per_token,
        &mask,
        LossAggregation::SeqMeanTokenSumNorm { max_len: 8 },
    )?
    .to_scalar::<f32>()?;
    assert!((sum_norm - 16.0 / 16.0).abs() < 1e-6, "{sum_norm}");
    Ok(())
}

#[test]
fn aggregate_skips_empty_sequences_and_rejects_empty_mask() -> TestResult {
    let per_token = Tensor::new(&[[1.0f32, 3.0], [5.0, 7.0], [9.0, 11.0]], &Device::Cpu)?;
    let mask = Tensor::new(&[[1.0f32, 1.0], [0.0, 0.0], [0.0, 1.0]], &Device::Cpu)?;
    let seq_mean =
        aggregate(&per_token, &mask, LossAggregation::SeqMeanTokenMean)?.to_scalar::<f32>()?;
    assert!((seq_mean - (2.0 + 11.0) / 2.0).abs() < 1e-6, "{seq_mean}");
    let empty = Tensor::zeros((3, 2), DType::F32, &Device::Cpu)?;
    for mode in [
        LossAggregation::TokenMean,
        LossAggregation::SeqMeanTokenMean,
        LossAggregation::SeqMeanTokenSumNorm { max_len: 2 },
    ] {
        assert!(aggregate(&per_token, &empty, mode).is_err(), "{mode:?}");
    }
    let bad_len = LossAggregation::SeqMeanTokenSumNorm { max_len: 0 };
    assert!(aggregate(&per_token, &mask, bad_len).is_err());
    let wrong_shape = Tensor::ones((2, 3), DType::F32, &Device::Cpu)?;
    assert!(aggregate(&per_token, &wrong_shape, LossAggregation::TokenMean).is_err());
    Ok(())
}

#[test]
fn aggregate_gradient_is_the_normalised_mask() -> TestResult {
    let point = vec![0.5f64, -1.0, 2.0, 3.0, 0.25, -0.75];
    let mask = Tensor::new(&[[1.0f64, 0.0, 1.0], [1.0, 1.0, 1.0]], &Device::Cpu)?;
    let token_mean = |x: &Tensor| aggregate(x, &mask, LossAggregation::TokenMean);
    let gradient = backward_gradient(&token_mean, &point, &[2, 3])?;
    assert_close_f64(&gradient, &[0.2, 0.0, 0.2, 0.2, 0.2, 0.2], 1e-12);
    let seq_mean = |x: &Tensor| aggregate(x, &mask, LossAggregation::SeqMeanTokenMean);
    let gradient = backward_gradient(&seq_mean, &point, &[2, 3])?;
    let third = 1.0 / 6.0;
    assert_close_f64(&gradient, &[0.25, 0.0, 0.25, third, third, third], 1e-12);
    Ok(())
}
