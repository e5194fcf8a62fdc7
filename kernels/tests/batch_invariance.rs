//! The same random key yields the same token regardless of batch size and row order.

use medgym_kernels::{CpuSampler, RandomKey, SampledToken, Sampler, SamplingParams};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VOCAB: usize = 64;

struct Batch {
    logits: Vec<f32>,
    params: Vec<SamplingParams>,
    keys: Vec<RandomKey>,
}

fn build_batch(rows: usize, rng: &mut ChaCha8Rng) -> Batch {
    let logits = (0..rows * VOCAB)
        .map(|_| rng.random_range(-4.0f32..4.0))
        .collect();
    let params = (0..rows)
        .map(|row| match row % 4 {
            0 => SamplingParams::default(),
            1 => SamplingParams::greedy(),
            2 => SamplingParams {
                temperature: 0.7,
                top_k: 10,
                top_p: 1.0,
            },
            _ => SamplingParams {
                temperature: 1.3,
                top_k: 0,
                top_p: 0.8,
            },
        })
        .collect();
    let keys = (0..rows as u64)
        .map(|row| RandomKey::new(31337, row, 17 + row))
        .collect();
    Batch {
        logits,
        params,
        keys,
    }
}

fn row_logits(batch: &Batch, row: usize) -> &[f32] {
    &batch.logits[row * VOCAB..(row + 1) * VOCAB]
}

#[test]
fn rows_sampled_alone_match_the_batch() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let batch = build_batch(16, &mut rng);
    let together = CpuSampler
        .sample(&batch.logits, VOCAB, &batch.params, &batch.keys)
        .expect("batch sampling");
    assert_eq!(together.len(), 16);
    for (row, batch_token) in together.iter().enumerate() {
        let alone = CpuSampler
            .sample(
                row_logits(&batch, row),
                VOCAB,
                &batch.params[row..=row],
                &batch.keys[row..=row],
            )
            .expect("single-row sampling");
        assert_eq!(alone, vec![*batch_token], "row {row}");
    }
    let prefix = CpuSampler
        .sample(
            &batch.logits[..5 * VOCAB],
            VOCAB,
            &batch.params[..5],
            &batch.keys[..5],
        )
        .expect("prefix sampling");
    assert_eq!(prefix, together[..5].to_vec());
}

#[test]
fn shuffled_rows_keep_their_tokens() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let batch = build_batch(24, &mut rng);
    let original = CpuSampler
        .sample(&batch.logits, VOCAB, &batch.params, &batch.keys)
        .expect("batch sampling");
    for _ in 0..5 {
        let mut order: Vec<usize> = (0..24).collect();
        order.shuffle(&mut rng);
        let logits: Vec<f32> = order
            .iter()
            .flat_map(|&row| row_logits(&batch, row).iter().copied())
            .collect();
        let params: Vec<SamplingParams> = order.iter().map(|&row| batch.params[row]).collect();
        let keys: Vec<RandomKey> = order.iter().map(|&row| batch.keys[row]).collect();
        let shuffled = CpuSampler
            .sample(&logits, VOCAB, &params, &keys)
            .expect("shuffled sampling");
        let expected: Vec<SampledToken> = order.iter().map(|&row| original[row]).collect();
        assert_eq!(shuffled, expected, "order {order:?}");
    }
}

#[test]
fn different_steps_explore_different_tokens() {
    let logits = vec![0.0f32; VOCAB];
    let tokens: std::collections::BTreeSet<u32> = (0..200u64)
        .map(|step| {
            CpuSampler
                .sample(
                    &logits,
                    VOCAB,
                    &[SamplingParams::default()],
                    &[RandomKey::new(1, 1, step)],
                )
                .expect("sampling")[0]
                .token
        })
        .collect();
    assert!(
        tokens.len() > VOCAB / 2,
        "only {} distinct tokens",
        tokens.len()
    );
}
