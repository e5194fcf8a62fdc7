//! The streamed path against the full-buffer path: same token and log-probs, bit for bit.

use super::*;
use crate::simd::accelerated_builds;

/// The full-buffer path's result for a non-greedy row.
fn full_path(
    row_logits: &[f32],
    params: &SamplingParams,
    counts: &TokenCounts,
    key: RandomKey,
) -> Result<SampledToken, KernelError> {
    let mut workspace = RowWorkspace::new();
    let raw_max = check_row(&workspace.loops(), row_logits, 0)?;
    let drawn = draw_full(&mut workspace, row_logits, params, counts, raw_max, key, 0)?;
    let index = drawn.index;
    let processed = processed_logit(
        row_logits[index],
        counts.count(index as u32),
        params,
        index,
        0,
    )?;
    Ok(SampledToken {
        token: index as u32,
        logprob: raw_logprob(row_logits[index], drawn.raw_max, drawn.raw_total),
        processed_logprob: raw_logprob(processed, drawn.processed_max, drawn.kept_total),
    })
}

/// A result reduced to comparable bits (token and both log-probs) or the error's message.
fn bits(result: &Result<SampledToken, KernelError>) -> Result<(u32, u32, u32), String> {
    result
        .as_ref()
        .map(|t| (t.token, t.logprob.to_bits(), t.processed_logprob.to_bits()))
        .map_err(|error| error.to_string())
}

/// Deterministic pseudo-random words.
struct Words(u64);

impl Words {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn unit(&mut self) -> f32 {
        self.next() as f32 / 4_294_967_296.0
    }
}

/// Rows of several shapes: LM-like, heavy-tailed, quantised with many ties, −inf holes, flat.
fn test_rows() -> Vec<Vec<f32>> {
    let mut words = Words(99);
    let mut rows = Vec::new();
    for &vocab in &[1usize, 2, 7, 9, 33, 1000, 1024, 1025, 5003, 20_000] {
        let lm: Vec<f32> = (0..vocab)
            .map(|_| {
                let sum: f32 = (0..4).map(|_| words.unit()).sum();
                let strong = if words.next() < u32::MAX / 500 {
                    12.0
                } else {
                    0.0
                };
                (sum - 2.0) * 4.0 + strong
            })
            .collect();
        let heavy: Vec<f32> = (0..vocab)
            .map(|_| {
                let u = words.unit().max(1e-7);
                -u.ln() * 6.0 - 30.0
            })
            .collect();
        let ties: Vec<f32> = (0..vocab)
            .map(|_| match words.next() % 9 {
                0 => f32::NEG_INFINITY,
                1 => -120.0,
                value => value as f32 * 0.5,
            })
            .collect();
        let mut holes = lm.clone();
        for (index, value) in holes.iter_mut().enumerate() {
            if index % 3 != 0 {
                *value = f32::NEG_INFINITY;
            }
        }
        rows.extend([lm, heavy, ties, holes, vec![1.5; vocab]]);
    }
    // One token on top of many tiny ones holding a third of the mass: top-p's first, optimistic
    // gathering floor lies above the tiny ones and the pass is repeated from the provable floor.
    let mut tiny = vec![-12.0f32; 80_000];
    tiny[40_000] = 0.0;
    rows.push(tiny);
    // Nearly flat and distinct: top-p's nucleus holds most of the row, beyond every gathering
    // count but the last (p = 0.5) or all of them (p = 0.99).
    rows.push((0..100_000).map(|i| -(i as f32) * 1e-5).collect());
    rows
}

/// Parameter sets covering every filter, their combinations and both sides of temperature 1.
fn test_params(vocab: usize) -> Vec<SamplingParams> {
    let mut all = Vec::new();
    for temperature in [1.0f32, 0.6, 1.7] {
        for top_k in [0, 1, 3, 50, vocab.saturating_sub(1), vocab, vocab + 5] {
            for top_p in [1.0f32, 0.9, 0.3, 0.001] {
                for min_p in [0.0f32, 0.05, 1.0] {
                    let mut params = SamplingParams::new(temperature, top_k, top_p);
                    params.min_p = min_p;
                    all.push(params);
                }
            }
        }
    }
    let mut penalised = SamplingParams::new(1.0, 0, 0.8);
    penalised.repetition_penalty = 1.3;
    penalised.frequency_penalty = 0.4;
    penalised.presence_penalty = -0.2;
    all.push(penalised);
    all.push(SamplingParams {
        top_k: 20,
        min_p: 0.01,
        ..penalised
    });
    all
}

#[test]
fn streamed_path_equals_full_buffer_path() {
    for (build, loops) in accelerated_builds() {
        eprintln!("checking the {build} build");
        streamed_path_equals_full_buffer_path_with(loops);
    }
}

fn streamed_path_equals_full_buffer_path_with(loops: RowLoops) {
    let mut fast = RowWorkspace::with_loops(loops);
    let mut slow = RowWorkspace::with_loops(RowLoops::portable());
    let mut checked = 0;
    for (row_index, row_logits) in test_rows().iter().enumerate() {
        let vocab = row_logits.len();
        let history: Vec<u32> = [0u32, 3, 3, 8, 5000]
            .iter()
            .copied()
            .filter(|&t| (t as usize) < vocab)
            .collect();
        let counts = TokenCounts::from_history(&history, vocab, 0).expect("valid history");
        let params_list = test_params(vocab);
        let stride = if vocab > 10_000 { 7 } else { 1 };
        for (params_index, params) in params_list.iter().enumerate().step_by(stride) {
            for step in 0..2u64 {
                let key = RandomKey::new(3, row_index as u64, step + params_index as u64 * 2);
                let expected = full_path(row_logits, params, &counts, key);
                let got = sample_row_in(&mut fast, row_logits, params, &counts, key, 0);
                let portable = sample_row_in(&mut slow, row_logits, params, &counts, key, 0);
                let context = format!("row {row_index} (vocab {vocab}) params {params:?}");
                assert_eq!(bits(&got), bits(&expected), "{context}");
                assert_eq!(bits(&portable), bits(&expected), "{context}");
                checked += usize::from(expected.is_ok());
            }
        }
    }
    assert!(checked > 1000, "only {checked} rows compared");
}

#[test]
fn top_p_settles_rows_whose_mass_arrives_late() {
    // Little mass early, most of it in the last two thirds of the row.
    let mut late = vec![-12.0f32; 90_000];
    late[0] = 0.0;
    for value in late.iter_mut().skip(30_000) {
        *value = -3.0;
    }
    let mut workspace = RowWorkspace::new();
    let params = SamplingParams::new(1.0, 0, 0.5);
    let settled = streamed::weigh_row(
        &workspace.loops(),
        &mut workspace.stream,
        &mut workspace.select,
        &late,
        &[],
        0.0,
        &params,
    );
    assert!(settled.is_some());
    let counts = TokenCounts::default();
    for step in 0..20 {
        let key = RandomKey::new(8, 0, step);
        let expected = full_path(&late, &params, &counts, key);
        let got = sample_row_in(&mut workspace, &late, &params, &counts, key, 0);
        assert_eq!(bits(&got), bits(&expected));
    }
}

#[test]
fn top_p_gathers_again_from_the_provable_floor_when_the_first_misses_the_cut() {
    let mut tiny = vec![-12.0f32; 80_000];
    tiny[40_000] = 0.0;
    let mut workspace = RowWorkspace::new();
    let settled = streamed::weigh_row(
        &workspace.loops(),
        &mut workspace.stream,
        &mut workspace.select,
        &tiny,
        &[],
        0.0,
        &SamplingParams::new(1.0, 0, 0.9),
    )
    .expect("settled from the provable floor");
    // Every token is tied or above the cut: all of them are kept.
    assert_eq!(workspace.stream.candidates.len(), 80_000);
    assert_eq!(settled.kept_total, settled.all_total);
}
