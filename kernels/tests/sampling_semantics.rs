//! Row-level sampling semantics: greedy, top-k, top-p, banned tokens, errors and log-probabilities.

mod common;

use medgym_kernels::{
    filtered_distribution, CpuSampler, KernelError, RandomKey, SampledToken, Sampler,
    SamplingParams,
};

const NEG_INF: f32 = f32::NEG_INFINITY;

fn params(temperature: f32, top_k: usize, top_p: f32) -> SamplingParams {
    SamplingParams::new(temperature, top_k, top_p)
}

fn sample_one(logits: &[f32], row_params: SamplingParams, key: RandomKey) -> SampledToken {
    let tokens = CpuSampler
        .sample(logits, logits.len(), &[row_params], &[key])
        .expect("sampling succeeds");
    assert_eq!(tokens.len(), 1);
    tokens[0]
}

/// Tokens drawn for `draws` consecutive steps of one sequence.
fn draw_many(logits: &[f32], row_params: SamplingParams, draws: u64) -> Vec<u32> {
    (0..draws)
        .map(|step| sample_one(logits, row_params, RandomKey::new(99, 5, step)).token)
        .collect()
}

fn direct_log_softmax(logits: &[f32], index: usize) -> f64 {
    let normaliser: f64 = logits.iter().map(|&l| f64::from(l).exp()).sum();
    (f64::from(logits[index]).exp() / normaliser).ln()
}

#[test]
fn sampler_reports_its_name() {
    assert_eq!(CpuSampler.name(), "cpu");
}

#[test]
fn greedy_breaks_ties_towards_lowest_index() {
    let cases: [(&[f32], u32); 4] = [
        (&[1.0, 3.0, 3.0, 2.0], 1),
        (&[NEG_INF, NEG_INF, 0.5, 0.5], 2),
        (&[-5.0, -3.0, -3.0, -4.0], 1),
        (&[2.0, 2.0, 2.0], 0),
    ];
    for (logits, expected) in cases {
        for step in 0..5 {
            let token = sample_one(logits, SamplingParams::greedy(), RandomKey::new(1, 2, step));
            assert_eq!(token.token, expected, "logits {logits:?}");
            assert_eq!(token.processed_logprob, 0.0);
        }
    }
}

#[test]
fn greedy_logprob_is_raw_log_softmax() {
    let logits = [0.5f32, 2.5, -1.0, 2.0];
    let token = sample_one(&logits, SamplingParams::greedy(), RandomKey::new(0, 0, 0));
    assert_eq!(token.token, 1);
    assert!((f64::from(token.logprob) - direct_log_softmax(&logits, 1)).abs() < 1e-6);
}

#[test]
fn top_k_keeps_every_token_tied_at_the_threshold() {
    let logits = [1.0f32, 3.0, 2.0, 2.0, 2.0, 0.0];
    let row_params = params(1.0, 3, 1.0);
    let distribution = filtered_distribution(&logits, &row_params, &[], 0).expect("distribution");
    assert_eq!(distribution.tokens, vec![1, 2, 3, 4]);
    let drawn = draw_many(&logits, row_params, 400);
    for expected in [1u32, 2, 3, 4] {
        assert!(drawn.contains(&expected), "token {expected} never drawn");
    }
    assert!(drawn.iter().all(|t| [1, 2, 3, 4].contains(t)));
}

#[test]
fn top_k_at_or_above_vocabulary_is_off() {
    let logits = [0.3f32, -1.2, 2.2, 0.9, NEG_INF, 1.1];
    let unfiltered = draw_many(&logits, params(0.9, 0, 1.0), 200);
    for top_k in [logits.len(), logits.len() + 5, usize::MAX] {
        let row_params = params(0.9, top_k, 1.0);
        let distribution =
            filtered_distribution(&logits, &row_params, &[], 0).expect("distribution");
        assert_eq!(distribution.tokens, vec![0, 1, 2, 3, 5], "top_k {top_k}");
        assert_eq!(
            draw_many(&logits, row_params, 200),
            unfiltered,
            "top_k {top_k}"
        );
    }
    let narrower = filtered_distribution(&logits, &params(0.9, logits.len() - 1, 1.0), &[], 0)
        .expect("distribution");
    assert_eq!(narrower.tokens, vec![0, 1, 2, 3, 5]);
    let narrowest =
        filtered_distribution(&logits, &params(0.9, 2, 1.0), &[], 0).expect("distribution");
    assert_eq!(narrowest.tokens, vec![2, 5]);
}

#[test]
fn top_p_of_one_keeps_every_finite_token() {
    let logits: Vec<f32> = (0..1000)
        .map(|i| {
            if i % 97 == 0 {
                NEG_INF
            } else {
                ((i * 37) % 101) as f32 * 0.2 - 12.0
            }
        })
        .collect();
    let distribution =
        filtered_distribution(&logits, &params(1.0, 0, 1.0), &[], 0).expect("distribution");
    let finite: Vec<u32> = (0..1000u32)
        .filter(|&i| logits[i as usize].is_finite())
        .collect();
    assert_eq!(distribution.tokens, finite);
    let trimmed =
        filtered_distribution(&logits, &params(1.0, 0, 0.5), &[], 0).expect("distribution");
    assert!(trimmed.len() < finite.len());
}

#[test]
fn top_p_keeps_smallest_prefix_plus_ties() {
    let logits = [4f32.ln(), 2f32.ln(), 0.0, 0.0];
    let kept = |top_p: f32| {
        filtered_distribution(&logits, &params(1.0, 0, top_p), &[], 0)
            .expect("distribution")
            .tokens
    };
    assert_eq!(kept(0.3), vec![0]);
    assert_eq!(kept(0.6), vec![0, 1]);
    assert_eq!(kept(0.8), vec![0, 1, 2, 3]);
    let flat = [0.0f32; 4];
    let flat_kept =
        filtered_distribution(&flat, &params(1.0, 0, 0.3), &[], 0).expect("distribution");
    assert_eq!(flat_kept.tokens, vec![0, 1, 2, 3]);
}

#[test]
fn single_finite_logit_is_always_chosen_with_certainty() {
    let logits = [NEG_INF, NEG_INF, 4.2, NEG_INF];
    for row_params in [
        params(1.0, 0, 1.0),
        params(0.3, 1, 0.1),
        params(2.0, 3, 0.5),
    ] {
        for step in 0..50 {
            let token = sample_one(&logits, row_params, RandomKey::new(3, 1, step));
            assert_eq!(token.token, 2);
            assert_eq!(token.logprob, 0.0);
            assert_eq!(token.processed_logprob, 0.0);
        }
    }
}

#[test]
fn banned_tokens_are_never_sampled() {
    let logits = [1.0f32, NEG_INF, 1.0, NEG_INF, 1.0];
    let drawn = draw_many(&logits, params(5.0, 0, 1.0), 300);
    assert!(drawn.iter().all(|&token| token % 2 == 0));
}

#[test]
fn nan_and_positive_infinity_are_errors_naming_row_and_index() {
    let vocab = 3;
    for bad in [f32::NAN, f32::INFINITY] {
        let logits = [0.0, 1.0, 2.0, 0.5, 1.5, bad];
        for row_params in [SamplingParams::default(), SamplingParams::greedy()] {
            let result = CpuSampler.sample(
                &logits,
                vocab,
                &[row_params; 2],
                &[RandomKey::new(0, 0, 0), RandomKey::new(0, 1, 0)],
            );
            match result {
                Err(KernelError::NonFiniteLogit { row, index, value }) => {
                    assert_eq!((row, index), (1, 2));
                    assert_eq!(value.is_nan(), bad.is_nan());
                }
                other => panic!("expected NonFiniteLogit for {bad}, got {other:?}"),
            }
        }
    }
}

#[test]
fn row_without_finite_logit_is_an_error() {
    let logits = [0.0, 1.0, NEG_INF, NEG_INF];
    let result = CpuSampler.sample(
        &logits,
        2,
        &[SamplingParams::default(); 2],
        &[RandomKey::new(0, 0, 0); 2],
    );
    assert_eq!(result, Err(KernelError::NoFiniteLogit { row: 1 }));
}

#[test]
fn shape_and_parameter_errors_are_reported() {
    let logits = [0.0f32; 6];
    let keys = [RandomKey::new(0, 0, 0); 2];
    let good = [SamplingParams::default(); 2];
    assert_eq!(
        CpuSampler.sample(&logits, 4, &good, &keys),
        Err(KernelError::ShapeMismatch {
            expected: 8,
            got: 6
        })
    );
    assert_eq!(
        CpuSampler.sample(&logits, 3, &good, &keys[..1]),
        Err(KernelError::RowCountMismatch { params: 2, keys: 1 })
    );
    let bad = [SamplingParams::default(), params(-1.0, 0, 1.0)];
    match CpuSampler.sample(&logits, 3, &bad, &keys) {
        Err(KernelError::InvalidParams { row, reason }) => {
            assert_eq!(row, 1);
            assert!(reason.contains("temperature"), "{reason}");
        }
        other => panic!("expected InvalidParams, got {other:?}"),
    }
    assert_eq!(CpuSampler.sample(&[], 7, &[], &[]), Ok(Vec::new()));
}

#[test]
fn temperature_overflow_is_an_error() {
    let logits = [1.0e30f32, 0.0];
    match CpuSampler.sample(
        &logits,
        2,
        &[params(1.0e-10, 0, 1.0)],
        &[RandomKey::new(0, 0, 0)],
    ) {
        Err(KernelError::ScaledLogitOverflow { row, index, .. }) => {
            assert_eq!((row, index), (0, 0))
        }
        other => panic!("expected ScaledLogitOverflow, got {other:?}"),
    }
}

#[test]
fn logprobs_match_direct_computation() {
    let logits = [1.0f32, 2.0, 3.0, NEG_INF, 0.5, 2.5];
    let cases = [
        params(1.0, 0, 1.0),
        params(0.5, 2, 1.0),
        params(0.7, 4, 0.6),
        params(1.3, 0, 0.8),
    ];
    for row_params in cases {
        let reference = common::reference_probabilities(&logits, &row_params, &[]);
        for step in 0..100 {
            let token = sample_one(&logits, row_params, RandomKey::new(11, 0, step));
            let index = token.token as usize;
            assert!(
                reference[index] > 0.0,
                "{row_params:?} drew filtered token {index}"
            );
            assert!(
                (f64::from(token.logprob) - direct_log_softmax(&logits, index)).abs() < 1e-5,
                "{row_params:?} token {index} logprob {}",
                token.logprob
            );
            assert!(
                (f64::from(token.processed_logprob) - reference[index].ln()).abs() < 1e-5,
                "{row_params:?} token {index} processed {}",
                token.processed_logprob
            );
        }
    }
}

#[test]
fn processed_logprob_with_top_k_is_renormalised_tempered_softmax() {
    let logits = [1.0f32, 2.0, 3.0, 0.0];
    let temperature = 0.5f64;
    let token = sample_one(&logits, params(0.5, 2, 1.0), RandomKey::new(8, 8, 8));
    let kept_weight = |index: usize| (f64::from(logits[index]) / temperature).exp();
    let expected = (kept_weight(token.token as usize) / (kept_weight(1) + kept_weight(2))).ln();
    assert!([1, 2].contains(&token.token));
    assert!((f64::from(token.processed_logprob) - expected).abs() < 1e-6);
}

#[test]
fn sampling_params_round_trip_through_serde() {
    let row_params = params(0.7, 40, 0.95);
    let text = serde_json::to_string(&row_params).expect("serialise");
    let back: SamplingParams = serde_json::from_str(&text).expect("deserialise");
    assert_eq!(back, row_params);
}
