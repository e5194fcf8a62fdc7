//! KV-cached greedy generation equals full recomputation token for token; checkpoints round-trip.

mod common;

use candle_core::{DType, Device, Tensor};
use medgym_policy::{Policy, SequenceInput};

fn argmax_rows(logits: &Tensor) -> Vec<u32> {
    let rows: Vec<Vec<f32>> = logits.to_vec2().unwrap();
    rows.iter()
        .map(|r| {
            let mut best = 0;
            for (i, &v) in r.iter().enumerate() {
                if v > r[best] {
                    best = i;
                }
            }
            best as u32
        })
        .collect()
}

fn prompts() -> Vec<SequenceInput> {
    vec![
        common::prompt_with_image(1, &[7, 8, 9, 10, 11]),
        common::prompt_with_image(2, &[12]),
        SequenceInput {
            token_ids: vec![1, 14, 15],
            image: None,
        },
    ]
}

#[test]
fn cached_greedy_equals_full_recomputation() {
    let policy = Policy::new_random(&common::tiny_config(), 11, DType::F32, &Device::Cpu).unwrap();
    let steps = 12;
    // Cached path.
    let (mut state, mut logits) = policy.prefill(&prompts()).unwrap();
    let mut cached: Vec<Vec<u32>> = vec![Vec::new(); 3];
    let mut cached_logits = Vec::new();
    for _ in 0..steps {
        let next = argmax_rows(&logits);
        cached_logits.push(logits.to_vec2::<f32>().unwrap());
        for (row, &t) in next.iter().enumerate() {
            cached[row].push(t);
        }
        logits = policy.decode(&mut state, &next).unwrap();
    }
    // Full recomputation, one sequence at a time (no padding at all).
    for (row, prompt) in prompts().into_iter().enumerate() {
        let mut seq = prompt.clone();
        for step in 0..steps {
            let (logits, layout) = policy.forward(std::slice::from_ref(&seq)).unwrap();
            let last = logits.get(0).unwrap().get(layout.len - 1).unwrap();
            let full: Vec<f32> = last.to_vec1().unwrap();
            let next = argmax_rows(&last.unsqueeze(0).unwrap())[0];
            assert_eq!(next, cached[row][step], "row {row} step {step}");
            for (a, b) in full.iter().zip(&cached_logits[step][row]) {
                assert!((a - b).abs() < 1e-4, "row {row} step {step}: {a} vs {b}");
            }
            seq.token_ids.push(next);
        }
    }
}

#[test]
fn keep_rows_drops_finished_rows_without_changing_the_others() {
    let policy = Policy::new_random(&common::tiny_config(), 12, DType::F32, &Device::Cpu).unwrap();
    let (mut all, logits) = policy.prefill(&prompts()).unwrap();
    let first = argmax_rows(&logits);
    let full = policy
        .decode(&mut all, &first)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let (mut some, _) = policy.prefill(&prompts()).unwrap();
    some.keep_rows(&[2, 0]).unwrap();
    let part = policy
        .decode(&mut some, &[first[2], first[0]])
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for (a, b) in part[0].iter().zip(&full[2]) {
        assert!((a - b).abs() < 1e-5);
    }
    for (a, b) in part[1].iter().zip(&full[0]) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn wrong_placeholder_count_is_an_error_naming_the_row() {
    let policy = Policy::new_random(&common::tiny_config(), 1, DType::F32, &Device::Cpu).unwrap();
    let mut bad = common::prompt_with_image(1, &[7]);
    bad.token_ids.retain(|&t| t != 5);
    let err = policy
        .forward(&[common::prompt_with_image(2, &[7]), bad])
        .unwrap_err();
    assert!(err.to_string().contains("row 1"), "{err}");
}
