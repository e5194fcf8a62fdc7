//! Statistical and property checks: samples follow the exact filtered distribution, including
//! min-p and the history penalties.

mod common;

use medgym_kernels::{filtered_distribution, CpuSampler, RandomKey, Sampler, SamplingParams};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Chi-square critical value for at most 9 degrees of freedom at roughly the 0.9999 level, rounded up.
const CHI_SQUARE_CRITICAL: f64 = 40.0;

fn histogram(
    logits: &[f32],
    row_params: SamplingParams,
    history: &[u32],
    draws: u64,
    seed: u64,
) -> Vec<u64> {
    let keys: Vec<RandomKey> = (0..draws)
        .map(|index| RandomKey::new(seed, index / 200, index % 200))
        .collect();
    let all_logits: Vec<f32> = keys.iter().flat_map(|_| logits.iter().copied()).collect();
    let histories = vec![history; keys.len()];
    let tokens = CpuSampler
        .sample_with_history(
            &all_logits,
            logits.len(),
            &vec![row_params; keys.len()],
            &keys,
            &histories,
        )
        .expect("sampling succeeds");
    let mut counts = vec![0u64; logits.len()];
    for token in tokens {
        counts[token.token as usize] += 1;
    }
    counts
}

/// Draws, checks that filtered tokens never appear and that the chi-square statistic passes.
fn assert_fits(logits: &[f32], row_params: SamplingParams, history: &[u32], seed: u64) -> Vec<u64> {
    let expected = common::reference_probabilities(logits, &row_params, history);
    let counts = histogram(logits, row_params, history, 20_000, seed);
    for (token, &count) in counts.iter().enumerate() {
        if expected[token] == 0.0 {
            assert_eq!(count, 0, "filtered token {token} was drawn");
        }
    }
    let statistic = common::chi_square(&counts, &expected);
    assert!(
        statistic < CHI_SQUARE_CRITICAL,
        "chi-square {statistic}, counts {counts:?}, expected {expected:?}"
    );
    counts
}

#[test]
fn samples_follow_top_k_then_top_p_chi_square() {
    let logits = [2.0f32, 1.5, 0.3, 1.0, -0.5, 0.8, 1.2, -1.0, 0.1, 0.6];
    let row_params = SamplingParams::new(0.8, 6, 0.9);
    let expected = common::reference_probabilities(&logits, &row_params, &[]);
    let kept = expected.iter().filter(|&&p| p > 0.0).count();
    assert!(
        kept > 2 && kept < 6,
        "top-p must cut inside the top-k set, kept {kept}"
    );
    let implementation = filtered_distribution(&logits, &row_params, &[], 0).expect("distribution");
    assert_eq!(implementation.len(), kept);
    for (position, &token) in implementation.tokens.iter().enumerate() {
        let probability = implementation
            .probability(position)
            .expect("position in range");
        assert!((probability - expected[token as usize]).abs() < 1e-15);
    }
    let counts = assert_fits(&logits, row_params, &[], 2024);
    let top_k_only = common::reference_probabilities(
        &logits,
        &SamplingParams {
            top_p: 1.0,
            ..row_params
        },
        &[],
    );
    let wrong_statistic = common::chi_square(&counts, &top_k_only);
    assert!(
        wrong_statistic > CHI_SQUARE_CRITICAL,
        "the test must be able to reject a wrong distribution ({wrong_statistic})"
    );
}

#[test]
fn samples_follow_plain_softmax_chi_square() {
    let logits = [0.0f32, 0.5, -0.7, 1.1, 0.2, f32::NEG_INFINITY, -0.1, 0.9];
    let row_params = SamplingParams::new(1.5, 0, 1.0);
    let counts = assert_fits(&logits, row_params, &[], 77);
    assert_eq!(counts[5], 0);
    let ideal = common::ideal_probabilities(&logits, &row_params, &[]);
    let reference = common::reference_probabilities(&logits, &row_params, &[]);
    for (a, b) in ideal.iter().zip(&reference) {
        assert!((a - b).abs() < 1e-6, "fixed-point {b} vs exact {a}");
    }
}

#[test]
fn samples_follow_min_p_chi_square() {
    let logits = [3.0f32, 2.6, 1.0, 2.0, 0.2, 2.9, -1.0, 1.7, 0.5, 2.2];
    let row_params = SamplingParams {
        min_p: 0.3,
        ..SamplingParams::new(1.0, 0, 1.0)
    };
    let expected = common::reference_probabilities(&logits, &row_params, &[]);
    let kept: Vec<usize> = (0..logits.len()).filter(|&i| expected[i] > 0.0).collect();
    // exp(x − 3) >= 0.3 ⇔ x >= 3 + ln 0.3 ≈ 1.796.
    assert_eq!(kept, vec![0, 1, 3, 5, 9]);
    let counts = assert_fits(&logits, row_params, &[], 5);
    let unfiltered = common::reference_probabilities(&logits, &SamplingParams::default(), &[]);
    assert!(common::chi_square(&counts, &unfiltered) > CHI_SQUARE_CRITICAL);
}

#[test]
fn samples_follow_penalised_distribution_chi_square() {
    let logits = [2.0f32, 1.8, -0.5, 1.5, 0.4, 1.9, 0.0, -1.2];
    let history = [0u32, 0, 0, 5, 2, 7];
    let row_params = SamplingParams {
        repetition_penalty: 1.5,
        frequency_penalty: 0.2,
        presence_penalty: 0.3,
        ..SamplingParams::new(0.9, 0, 1.0)
    };
    let counts = assert_fits(&logits, row_params, &history, 99);
    let no_penalty =
        common::reference_probabilities(&logits, &SamplingParams::new(0.9, 0, 1.0), &[]);
    assert!(
        common::chi_square(&counts, &no_penalty) > CHI_SQUARE_CRITICAL,
        "penalties must visibly change the distribution"
    );
}

fn logit_strategy() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => (-8i32..8).prop_map(|v| v as f32 * 0.5),
        4 => -20.0f32..20.0,
        1 => Just(f32::NEG_INFINITY),
    ]
}

fn fixed_config() -> Config {
    Config {
        cases: 300,
        rng_seed: RngSeed::Fixed(0x6d65_6467_796d),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(fixed_config())]

    #[test]
    fn sampled_token_matches_sorting_reference(
        logits in proptest::collection::vec(logit_strategy(), 1..48),
        temperature in 0.05f32..3.0,
        top_k in 0usize..52,
        top_p in prop_oneof![Just(1.0f32), 0.01f32..1.0],
        min_p in prop_oneof![Just(0.0f32), 0.0f32..1.0],
        repetition_penalty in prop_oneof![Just(1.0f32), 0.5f32..2.0],
        frequency_penalty in prop_oneof![Just(0.0f32), -1.0f32..1.0],
        history in proptest::collection::vec(0u32..48, 0..10),
        seed in any::<u64>(),
        step in any::<u64>(),
    ) {
        let row_params = SamplingParams {
            min_p,
            repetition_penalty,
            frequency_penalty,
            presence_penalty: frequency_penalty * 0.5,
            ..SamplingParams::new(temperature, top_k, top_p)
        };
        let history: Vec<u32> = history.into_iter().filter(|&t| (t as usize) < logits.len()).collect();
        let key = RandomKey::new(seed, 0, step);
        let result = CpuSampler.sample_with_history(&logits, logits.len(), &[row_params], &[key], &[&history]);
        if logits.iter().all(|l| *l == f32::NEG_INFINITY) {
            prop_assert!(result.is_err());
        } else {
            let token = result.expect("sampling succeeds")[0];
            let reference = common::reference_probabilities(&logits, &row_params, &history);
            let ideal = common::ideal_probabilities(&logits, &row_params, &history);
            let index = token.token as usize;
            prop_assert!(reference[index] > 0.0);
            prop_assert!((f64::from(token.processed_logprob) - ideal[index].ln()).abs() < 1e-4);
            let distribution = filtered_distribution(&logits, &row_params, &history, 0).expect("distribution");
            let reference_support: Vec<u32> = (0..logits.len() as u32)
                .filter(|&i| reference[i as usize] > 0.0)
                .collect();
            prop_assert_eq!(distribution.tokens, reference_support);
        }
    }
}
