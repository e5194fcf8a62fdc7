//! Edge cases of the row semantics: one finite logit, NaN, all ties, k >= vocab, p = 1,
//! temperature → 0, min-p inclusiveness, penalties and empty histories.

mod common;

use medgym_kernels::{
    filtered_distribution, sample_row, CpuSampler, KernelError, RandomKey, SampledToken, Sampler,
    SamplingParams,
};

const NEG_INF: f32 = f32::NEG_INFINITY;

fn draw(logits: &[f32], params: SamplingParams, history: &[u32], step: u64) -> SampledToken {
    sample_row(logits, &params, history, RandomKey::new(21, 3, step), 0).expect("sampling succeeds")
}

#[test]
fn one_finite_logit_is_certain_under_every_mode() {
    let logits = [NEG_INF, NEG_INF, NEG_INF, -3.5, NEG_INF];
    let modes = [
        SamplingParams::greedy(),
        SamplingParams::default(),
        SamplingParams::new(0.2, 1, 0.05),
        SamplingParams {
            min_p: 1.0,
            ..SamplingParams::default()
        },
        SamplingParams {
            presence_penalty: 2.0,
            ..SamplingParams::default()
        },
    ];
    for params in modes {
        for step in 0..20 {
            let token = draw(&logits, params, &[3, 3], step);
            assert_eq!(token.token, 3, "{params:?}");
            assert_eq!(token.logprob, 0.0);
            assert_eq!(token.processed_logprob, 0.0);
        }
    }
}

#[test]
fn nan_is_an_error_naming_row_and_index_in_every_mode() {
    let logits = [0.0, 1.0, 2.0, 0.5, f32::NAN, 1.5];
    for params in [
        SamplingParams::greedy(),
        SamplingParams::new(0.7, 2, 0.5),
        SamplingParams {
            min_p: 0.2,
            ..SamplingParams::default()
        },
    ] {
        let result = CpuSampler.sample(
            &logits,
            3,
            &[params; 2],
            &[RandomKey::new(0, 0, 0), RandomKey::new(0, 1, 0)],
        );
        assert!(
            matches!(
                result,
                Err(KernelError::NonFiniteLogit { row: 1, index: 1, value }) if value.is_nan()
            ),
            "{params:?}: {result:?}"
        );
    }
}

#[test]
fn all_ties_are_uniform_and_kept_by_every_filter() {
    let logits = [0.75f32; 16];
    for params in [
        SamplingParams::new(1.0, 3, 1.0),
        SamplingParams::new(0.4, 0, 0.1),
        SamplingParams {
            min_p: 1.0,
            ..SamplingParams::default()
        },
    ] {
        let distribution = filtered_distribution(&logits, &params, &[], 0).expect("distribution");
        assert_eq!(distribution.len(), 16, "{params:?}");
        assert!(distribution.weights.iter().all(|&w| w == 1 << 40));
        let token = draw(&logits, params, &[], 1);
        assert!((f64::from(token.processed_logprob) + 16f64.ln()).abs() < 1e-6);
        assert!((f64::from(token.logprob) + 16f64.ln()).abs() < 1e-6);
    }
    let greedy = draw(&logits, SamplingParams::greedy(), &[], 0);
    assert_eq!(greedy.token, 0);
}

#[test]
fn top_k_at_or_above_vocabulary_equals_no_top_k() {
    let logits: Vec<f32> = (0..40)
        .map(|i| ((i * 13) % 17) as f32 * 0.4 - 3.0)
        .collect();
    let off = SamplingParams::new(0.9, 0, 1.0);
    for top_k in [40, 41, usize::MAX] {
        let params = SamplingParams::new(0.9, top_k, 1.0);
        for step in 0..50 {
            assert_eq!(
                draw(&logits, params, &[], step),
                draw(&logits, off, &[], step)
            );
        }
    }
}

#[test]
fn top_p_of_one_equals_no_top_p_and_keeps_every_weighted_token() {
    let logits: Vec<f32> = (0..300).map(|i| ((i * 31) % 97) as f32 * 0.1).collect();
    let params = SamplingParams::new(1.0, 0, 1.0);
    let distribution = filtered_distribution(&logits, &params, &[], 0).expect("distribution");
    assert_eq!(distribution.len(), 300);
    let nearly = SamplingParams::new(1.0, 0, 0.99);
    let trimmed = filtered_distribution(&logits, &nearly, &[], 0).expect("distribution");
    assert!(trimmed.len() < 300);
}

#[test]
fn temperature_towards_zero_converges_to_greedy() {
    let logits = [0.3f32, 1.9, -0.4, 1.8, 0.0];
    let greedy = draw(&logits, SamplingParams::greedy(), &[], 0).token;
    assert_eq!(greedy, 1);
    for step in 0..200 {
        let token = draw(&logits, SamplingParams::new(1e-3, 0, 1.0), &[], step);
        assert_eq!(token.token, greedy);
        assert!(token.processed_logprob.abs() < 1e-6);
    }
    let warm: std::collections::BTreeSet<u32> = (0..200)
        .map(|step| draw(&logits, SamplingParams::new(1.0, 0, 1.0), &[], step).token)
        .collect();
    assert!(warm.len() >= 3, "temperature 1 must explore, got {warm:?}");
}

#[test]
fn min_p_is_inclusive_at_the_threshold() {
    // e^{ln 0.5} is 0.5 up to rounding of det_exp: probe both sides with exact halves.
    let logits = [
        0.0f32,
        -std::f32::consts::LN_2,
        -std::f32::consts::LN_2 - 1e-3,
        -5.0,
    ];
    let half = medgym_kernels::detmath::det_exp(-std::f32::consts::LN_2);
    let at = SamplingParams {
        min_p: half,
        ..SamplingParams::default()
    };
    let kept = filtered_distribution(&logits, &at, &[], 0)
        .expect("distribution")
        .tokens;
    assert_eq!(kept, vec![0, 1], "a token exactly at min_p × max is kept");
    let above = SamplingParams {
        min_p: f32::from_bits(half.to_bits() + 1),
        ..SamplingParams::default()
    };
    let kept = filtered_distribution(&logits, &above, &[], 0)
        .expect("distribution")
        .tokens;
    assert_eq!(kept, vec![0]);
}

#[test]
fn empty_history_and_zero_penalties_change_nothing() {
    let logits = [1.0f32, 2.0, 0.5, -1.0, 1.5];
    let plain = SamplingParams::new(0.8, 0, 0.95);
    let penalised = SamplingParams {
        repetition_penalty: 1.7,
        frequency_penalty: 0.5,
        presence_penalty: 0.5,
        ..plain
    };
    for step in 0..100 {
        let reference = draw(&logits, plain, &[], step);
        assert_eq!(draw(&logits, penalised, &[], step), reference);
        assert_eq!(draw(&logits, plain, &[1, 1, 4], step), reference);
    }
}

#[test]
fn penalties_follow_documented_arithmetic() {
    let params = SamplingParams {
        repetition_penalty: 2.0,
        frequency_penalty: 0.25,
        presence_penalty: 0.5,
        ..SamplingParams::default()
    };
    assert_eq!(params.penalised_logit(3.0, 0), 3.0);
    assert_eq!(params.penalised_logit(3.0, 2), 3.0 / 2.0 - 0.5 - 0.5);
    assert_eq!(params.penalised_logit(-3.0, 1), -6.0 - 0.25 - 0.5);
    // A heavily repeated top token loses to the runner-up under greedy decoding.
    let logits = [2.0f32, 1.9, 0.0];
    assert_eq!(draw(&logits, SamplingParams::greedy(), &[], 0).token, 0);
    let greedy_penalised = SamplingParams {
        frequency_penalty: 0.1,
        ..SamplingParams::greedy()
    };
    let token = draw(&logits, greedy_penalised, &[0, 0], 0);
    assert_eq!(token.token, 1);
    let raw = [2.0f64, 1.9, 0.0];
    let normaliser: f64 = raw.iter().map(|x| x.exp()).sum();
    assert!((f64::from(token.logprob) - (1.9 - normaliser.ln())).abs() < 1e-5);
}

#[test]
fn penalty_overflow_and_bad_history_are_errors() {
    let logits = [3.0e38f32, 0.0];
    let params = SamplingParams {
        frequency_penalty: -3.0e38,
        ..SamplingParams::default()
    };
    let result = sample_row(&logits, &params, &[0], RandomKey::new(0, 0, 0), 4);
    assert!(
        matches!(
            result,
            Err(KernelError::PenalisedLogitOverflow {
                row: 4,
                index: 0,
                ..
            })
        ),
        "{result:?}"
    );
    let result = CpuSampler.sample_with_history(
        &[0.0, 1.0],
        2,
        &[SamplingParams::default()],
        &[RandomKey::new(0, 0, 0)],
        &[&[1, 2]],
    );
    assert!(matches!(
        result,
        Err(KernelError::HistoryTokenOutOfRange {
            row: 0,
            position: 1,
            token: 2,
            vocab_size: 2
        })
    ));
    let result = CpuSampler.sample_with_history(
        &[0.0, 1.0],
        1,
        &[SamplingParams::default(); 2],
        &[RandomKey::new(0, 0, 0); 2],
        &[&[0]],
    );
    assert_eq!(
        result,
        Err(KernelError::HistoryCountMismatch {
            rows: 2,
            histories: 1
        })
    );
}

#[test]
fn invalid_new_parameters_are_named() {
    for (params, field) in [
        (
            SamplingParams {
                min_p: 1.5,
                ..SamplingParams::default()
            },
            "min_p",
        ),
        (
            SamplingParams {
                min_p: -0.1,
                ..SamplingParams::default()
            },
            "min_p",
        ),
        (
            SamplingParams {
                repetition_penalty: 0.0,
                ..SamplingParams::default()
            },
            "repetition_penalty",
        ),
        (
            SamplingParams {
                presence_penalty: f32::NAN,
                ..SamplingParams::default()
            },
            "presence_penalty",
        ),
        (
            SamplingParams {
                frequency_penalty: f32::INFINITY,
                ..SamplingParams::default()
            },
            "frequency_penalty",
        ),
    ] {
        match CpuSampler.sample(&[0.0], 1, &[params], &[RandomKey::new(0, 0, 0)]) {
            Err(KernelError::InvalidParams { row: 0, reason }) => {
                assert!(reason.contains(field), "{reason}")
            }
            other => panic!("expected InvalidParams naming {field}, got {other:?}"),
        }
    }
}

#[test]
fn old_configurations_deserialise_with_new_fields_off() {
    let params: SamplingParams =
        serde_json::from_str(r#"{"temperature":0.7,"top_k":40,"top_p":0.9}"#).expect("parse");
    assert_eq!(params, SamplingParams::new(0.7, 40, 0.9));
    assert!(!params.has_penalties());
}
