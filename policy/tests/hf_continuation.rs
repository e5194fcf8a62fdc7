//! Responses scored after shared prompts (each prompt run once) against the same responses scored
//! on the concatenated sequences: values and every parameter's gradient, and the refusals.

mod hf_common;

use candle_core::{DType, Device, Tensor};
use hf_common::{fixture, ids, reference_json};
use medgym_policy::hf::{patchify, HfInput, HfModel, LoraConfig, LoraInit, DECODER_PROJECTIONS};

const NAME: &str = "qwen25vl";

/// Two prompts of the fixture `name` (for a vision checkpoint, the first with its image), and
/// five responses: three after the first prompt (one of a single token), two after the second.
fn prompts_and_rows(model: &HfModel, name: &str) -> (Vec<HfInput>, Vec<(usize, Vec<u32>)>) {
    let json = reference_json(name);
    let images = match model.config().vision.clone() {
        Some(cfg) => vec![patchify(&hf_common::fixture_image(name), &cfg).expect("patchify")],
        None => Vec::new(),
    };
    let prompts = vec![
        HfInput {
            token_ids: ids(&json["prompts"][0]["ids"]),
            images,
        },
        HfInput {
            token_ids: ids(&json["prompts"][1]["ids"]),
            images: Vec::new(),
        },
    ];
    // Text tokens of the second prompt, rotated so that every response differs.
    let words = &prompts[1].token_ids;
    let response = |start: usize, len: usize| {
        (0..len)
            .map(|t| words[(start + 3 * t) % words.len()])
            .collect()
    };
    let rows = vec![
        (0, response(0, 4)),
        (1, response(5, 3)),
        (0, response(2, 1)),
        (0, response(7, 6)),
        (1, response(1, 5)),
    ];
    (prompts, rows)
}

/// The same log-probabilities from one forward of each prompt followed by its response.
fn concatenated_logprobs(
    model: &HfModel,
    prompts: &[HfInput],
    rows: &[(usize, Vec<u32>)],
    t_max: usize,
) -> Tensor {
    let sequences: Vec<HfInput> = rows
        .iter()
        .map(|(prompt, response)| HfInput {
            token_ids: prompts[*prompt]
                .token_ids
                .iter()
                .chain(response)
                .copied()
                .collect(),
            images: prompts[*prompt].images.clone(),
        })
        .collect();
    let mut picks = Vec::new();
    let mut keep = Vec::new();
    for (row, (prompt, response)) in rows.iter().enumerate() {
        let first = prompts[*prompt].token_ids.len();
        for t in 0..t_max {
            picks.push((row, first + t.min(response.len() - 1)));
            keep.push(if t < response.len() { 1.0 } else { 0.0 });
        }
    }
    let logp = model
        .position_logprobs(&sequences, &picks)
        .and_then(|t| Ok(t.reshape((rows.len(), t_max))?))
        .expect("concatenated log-probs");
    let keep = Tensor::from_vec(keep, (rows.len(), t_max), &Device::Cpu)
        .and_then(|k| k.to_dtype(logp.dtype()))
        .expect("keep");
    (logp * keep).expect("masked")
}

fn shared_logprobs(model: &HfModel, prompts: &[HfInput], rows: &[(usize, Vec<u32>)]) -> Tensor {
    let continuations: Vec<(usize, &[u32])> =
        rows.iter().map(|(p, r)| (*p, r.as_slice())).collect();
    model
        .continuation_logprobs(prompts, &continuations)
        .expect("shared log-probs")
}

/// In f64, so that the only difference left is the order of a few sums: the shared-prompt values
/// equal the concatenated ones within 1e-10, and the gradient of each variable that gets one
/// (every one named by `must_train`) within 1e-9 of its largest entry.
fn check_against_concatenated(model: &HfModel, name: &str, must_train: impl Fn(&str) -> bool) {
    let (prompts, rows) = prompts_and_rows(model, name);
    let t_max = rows.iter().map(|(_, r)| r.len()).max().expect("rows");
    let shared = shared_logprobs(model, &prompts, &rows);
    let concatenated = concatenated_logprobs(model, &prompts, &rows, t_max);
    assert_eq!(shared.dims(), &[rows.len(), t_max]);
    let a: Vec<Vec<f64>> = shared.to_vec2().expect("shared");
    let b: Vec<Vec<f64>> = concatenated.to_vec2().expect("concatenated");
    for (row, (x, y)) in a.iter().zip(&b).enumerate() {
        for (t, (u, v)) in x.iter().zip(y).enumerate() {
            assert!((u - v).abs() < 1e-10, "row {row} token {t}: {u} vs {v}");
            if t >= rows[row].1.len() {
                assert_eq!(*u, 0.0, "row {row} slot {t} past the end");
            } else {
                assert!(*u < 0.0, "row {row} token {t} has log-prob {u}");
            }
        }
    }
    // A weighted sum, so that each row and token pulls differently.
    let weights: Vec<f64> = (0..rows.len() * t_max)
        .map(|i| 0.5 + ((i * 7) % 5) as f64)
        .collect();
    let weights = Tensor::from_vec(weights, (rows.len(), t_max), &Device::Cpu).expect("weights");
    let loss = |logp: &Tensor| (logp * &weights).and_then(|t| t.sum_all()).expect("loss");
    let shared_grads = loss(&shared).backward().expect("backward");
    let concatenated_grads = loss(&concatenated).backward().expect("backward");
    let vars: Vec<_> = model
        .named_vars()
        .into_iter()
        .chain(model.lora_vars())
        .collect();
    assert!(vars.iter().any(|(name, _)| must_train(name)));
    for (name, var) in &vars {
        let get = |grads: &candle_core::backprop::GradStore| -> Option<Vec<f64>> {
            grads
                .get(var.as_tensor())
                .map(|g| g.flatten_all().and_then(|g| g.to_vec1()).expect("gradient"))
        };
        let (x, y) = match (get(&shared_grads), get(&concatenated_grads)) {
            (Some(x), Some(y)) => (x, y),
            (None, None) => {
                assert!(!must_train(name), "{name} has no gradient");
                continue;
            }
            (x, y) => panic!(
                "{name}: a gradient on one path only (shared {}, concatenated {})",
                x.is_some(),
                y.is_some()
            ),
        };
        let scale = y.iter().fold(0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{name} has a zero gradient");
        let worst = x
            .iter()
            .zip(&y)
            .fold(0f64, |m, (u, v)| m.max((u - v).abs()));
        assert!(
            worst <= 1e-9 * scale,
            "{name}: gradients differ by {worst} (largest {scale})"
        );
    }
}

#[test]
fn shared_prompts_give_the_concatenated_values_and_gradients_on_qwen25_vl() {
    let mut model = HfModel::load(&fixture(NAME), DType::F64, &Device::Cpu).expect("load");
    model.unfreeze(|_| true).expect("unfreeze");
    check_against_concatenated(&model, NAME, |_| true);
}

#[test]
fn shared_prompts_give_the_concatenated_values_and_gradients_on_qwen2_vl() {
    let name = "qwen2vl";
    let mut model = HfModel::load(&fixture(name), DType::F64, &Device::Cpu).expect("load");
    model.unfreeze(|_| true).expect("unfreeze");
    check_against_concatenated(&model, name, |_| true);
}

#[test]
fn shared_prompts_give_the_concatenated_adapter_gradients() {
    // A frozen text checkpoint with random adapters on every projection: only they train.
    let name = "qwen2_tied";
    let mut model = HfModel::load(&fixture(name), DType::F64, &Device::Cpu).expect("load");
    model.freeze(|_| true).expect("freeze");
    let lora = LoraConfig {
        r: 2,
        lora_alpha: 4.0,
        target_modules: DECODER_PROJECTIONS.iter().map(|m| m.to_string()).collect(),
    };
    model
        .add_lora(
            &lora,
            LoraInit::RandomBoth {
                seed: 5,
                bound: 0.2,
            },
        )
        .expect("adapters");
    check_against_concatenated(&model, name, |var| var.contains("lora_"));
}

#[test]
fn shared_prompts_match_in_f32_with_every_row_on_one_prompt() {
    let model = HfModel::load(&fixture(NAME), DType::F32, &Device::Cpu).expect("load");
    let (prompts, rows) = prompts_and_rows(&model, NAME);
    // One prompt only, as in a GRPO group, and the other prompt unused.
    let group: Vec<(usize, Vec<u32>)> = rows.iter().map(|(_, r)| (0, r.clone())).collect();
    let t_max = group.iter().map(|(_, r)| r.len()).max().expect("rows");
    let shared = shared_logprobs(&model, &prompts, &group);
    let concatenated = concatenated_logprobs(&model, &prompts, &group, t_max);
    let diff = (shared - concatenated)
        .and_then(|d| d.abs())
        .and_then(|d| d.max_all())
        .and_then(|d| d.to_scalar::<f32>())
        .expect("difference");
    assert!(diff < 1e-5, "shared and concatenated differ by {diff}");
}

#[test]
fn bad_rows_and_prompts_are_refused_by_row_and_token() {
    let model = HfModel::load(&fixture(NAME), DType::F32, &Device::Cpu).expect("load");
    let (prompts, _) = prompts_and_rows(&model, NAME);
    let vocab = model.config().text.vocab_size as u32;
    let image_token = model.config().image_token_id.expect("image token");
    let refusal = |prompts: &[HfInput], rows: &[(usize, &[u32])]| {
        model
            .continuation_logprobs(prompts, rows)
            .expect_err("refused")
            .to_string()
    };
    let message = refusal(&prompts, &[(0, &[1, 2]), (2, &[1])]);
    assert!(message.contains("row 1 names prompt 2 of 2"), "{message}");
    let message = refusal(&prompts, &[(1, &[1, vocab])]);
    assert!(message.contains("row 0: token"), "{message}");
    let message = refusal(&prompts, &[(0, &[3]), (1, &[4, image_token])]);
    assert!(message.contains("row 1: response token 1"), "{message}");
    assert!(refusal(&prompts, &[]).contains("no rows"));
    // A bad prompt is named by the first row that continues it, even with nothing to score.
    let mut bad = prompts.clone();
    bad[1].token_ids[3] = vocab;
    let message = refusal(&bad, &[(0, &[5]), (1, &[6]), (1, &[7])]);
    assert!(message.contains("the prompt of row 1: token"), "{message}");
    let message = refusal(&bad, &[(0, &[]), (1, &[])]);
    assert!(message.contains("the prompt of row 1: token"), "{message}");
    let message = refusal(&bad, &[(0, &[5])]);
    assert!(
        message.contains("prompt 1, which no row continues"),
        "{message}"
    );
    bad[1].token_ids.clear();
    let message = refusal(&bad, &[(1, &[5])]);
    assert!(
        message.contains("the prompt of row 0 has no tokens"),
        "{message}"
    );
    // Empty responses score nothing.
    let empty = model
        .continuation_logprobs(&prompts, &[(0, &[]), (1, &[])])
        .expect("empty responses");
    assert_eq!(empty.dims(), &[2, 0]);
}
