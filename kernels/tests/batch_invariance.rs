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
            2 => SamplingParams::new(0.7, 10, 1.0),
            _ => SamplingParams {
                min_p: 0.05,
                repetition_penalty: 1.2,
                frequency_penalty: 0.3,
                ..SamplingParams::new(1.3, 0, 0.8)
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

/// Histories of the rows (row r repeats a few tokens it "generated").
fn histories(rows: usize) -> Vec<Vec<u32>> {
    (0..rows)
        .map(|row| {
            (0..row % 7)
                .map(|i| ((row * 5 + i * 3) % VOCAB) as u32)
                .collect()
        })
        .collect()
}

#[test]
fn histories_follow_their_rows_when_shuffled() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let batch = build_batch(20, &mut rng);
    let owned = histories(20);
    let refs: Vec<&[u32]> = owned.iter().map(Vec::as_slice).collect();
    let original = CpuSampler
        .sample_with_history(&batch.logits, VOCAB, &batch.params, &batch.keys, &refs)
        .expect("batch sampling");
    let mut order: Vec<usize> = (0..20).collect();
    order.shuffle(&mut rng);
    let logits: Vec<f32> = order
        .iter()
        .flat_map(|&row| row_logits(&batch, row).iter().copied())
        .collect();
    let params: Vec<SamplingParams> = order.iter().map(|&row| batch.params[row]).collect();
    let keys: Vec<RandomKey> = order.iter().map(|&row| batch.keys[row]).collect();
    let shuffled_refs: Vec<&[u32]> = order.iter().map(|&row| refs[row]).collect();
    let shuffled = CpuSampler
        .sample_with_history(&logits, VOCAB, &params, &keys, &shuffled_refs)
        .expect("shuffled sampling");
    let expected: Vec<SampledToken> = order.iter().map(|&row| original[row]).collect();
    assert_eq!(shuffled, expected);
}

#[test]
fn threaded_large_batch_matches_rows_sampled_alone() {
    let vocab = 20_000;
    let rows = 12;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let logits: Vec<f32> = (0..rows * vocab)
        .map(|_| rng.random_range(-6.0f32..6.0))
        .collect();
    let params: Vec<SamplingParams> = (0..rows)
        .map(|row| match row % 4 {
            0 => SamplingParams::new(1.0, 50, 1.0),
            1 => SamplingParams::new(0.8, 0, 0.9),
            2 => SamplingParams {
                min_p: 0.1,
                ..SamplingParams::default()
            },
            _ => SamplingParams::greedy(),
        })
        .collect();
    let keys: Vec<RandomKey> = (0..rows as u64)
        .map(|row| RandomKey::new(4, row, 2))
        .collect();
    let together = CpuSampler
        .sample(&logits, vocab, &params, &keys)
        .expect("batch sampling");
    for row in 0..rows {
        let alone = medgym_kernels::sample_row(
            &logits[row * vocab..(row + 1) * vocab],
            &params[row],
            &[],
            keys[row],
            row,
        )
        .expect("row sampling");
        assert_eq!(together[row], alone, "row {row}");
    }
}

/// A row of `vocab` logits: a few large ones over many near-equal ones, so top-p gathers most of
/// the row and every scratch buffer grows.
fn wide_row(vocab: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..vocab)
        .map(|i| {
            let base = rng.random_range(-0.2f32..0.2);
            if i % 997 == 0 {
                base + 6.0
            } else {
                base
            }
        })
        .collect()
}

#[test]
fn workspaces_kept_between_calls_change_no_result() {
    // Calls of different vocabularies and filters run one after another, so workspaces kept
    // from a large call serve a small one and the other way round; each result must equal the
    // first time the same call was made.
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let calls: Vec<(usize, Vec<f32>, SamplingParams)> = [
        (50_000, SamplingParams::new(1.0, 0, 0.9)),
        (300, SamplingParams::new(0.8, 20, 0.95)),
        (70_000, SamplingParams::new(1.0, 40, 1.0)),
        (1_000, SamplingParams::default()),
    ]
    .into_iter()
    .map(|(vocab, params)| (vocab, wide_row(vocab, &mut rng), params))
    .collect();
    let sample = |(vocab, logits, params): &(usize, Vec<f32>, SamplingParams), rows: usize| {
        let batch: Vec<f32> = (0..rows).flat_map(|_| logits.iter().copied()).collect();
        let keys: Vec<RandomKey> = (0..rows as u64)
            .map(|row| RandomKey::new(9, row, 3))
            .collect();
        CpuSampler
            .sample(&batch, *vocab, &vec![*params; rows], &keys)
            .expect("sampling")
    };
    let first: Vec<Vec<SampledToken>> = calls.iter().map(|call| sample(call, 4)).collect();
    for round in 0..3 {
        for (call, expected) in calls.iter().zip(&first).rev() {
            assert_eq!(
                &sample(call, 4),
                expected,
                "round {round}, vocab {}",
                call.0
            );
        }
    }
}
