//! Qwen2 text checkpoints against transformers: logits, greedy tokens, padding, dtypes, errors, saving.

mod hf_common;

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor, D};
use hf_common::{fixture, ids, max_abs_diff, reference_json, reference_tensors};
use medgym_policy::hf::weights::{load_weights, save_weights};
use medgym_policy::hf::{HfConfig, HfInput, HfModel};

fn text_input(ids: Vec<u32>) -> HfInput {
    HfInput {
        token_ids: ids,
        images: Vec::new(),
    }
}

fn check_parity(name: &str) {
    hf_common::check_against_transformers(name, &Device::Cpu);
}

#[test]
fn tied_qwen2_matches_transformers() {
    check_parity("qwen2_tied");
}

#[test]
fn untied_sharded_qwen2_matches_transformers() {
    assert!(fixture("qwen2_untied")
        .join("model.safetensors.index.json")
        .exists());
    check_parity("qwen2_untied");
}

#[test]
fn left_padded_batch_matches_single_sequences() {
    let name = "qwen2_untied";
    let model = HfModel::load(&fixture(name), DType::F32, &Device::Cpu).expect("load");
    let reference = reference_tensors(name);
    let json = reference_json(name);
    let inputs: Vec<HfInput> = json["prompts"]
        .as_array()
        .expect("prompts")
        .iter()
        .map(|p| text_input(ids(&p["ids"])))
        .collect();
    let (logits, pads) = model.forward(&inputs).expect("forward");
    let logprobs = model.token_logprobs(&inputs).expect("logprobs");
    for (i, input) in inputs.iter().enumerate() {
        let n = input.token_ids.len();
        let row = logits
            .get(i)
            .expect("row")
            .narrow(0, pads[i], n)
            .expect("narrow");
        let expected = &reference[&format!("logits_{i}")];
        let diff = max_abs_diff(&row, expected);
        assert!(diff < 1e-4, "row {i}: max logit diff {diff}");
        // Log-prob of token t is the log-softmax of the reference logits at t - 1.
        let ref_logp = candle_nn::ops::log_softmax(expected, D::Minus1).expect("log_softmax");
        let got = logprobs.get(i).expect("row").to_vec1::<f32>().expect("vec");
        for t in 1..n {
            let want = ref_logp
                .get(t - 1)
                .and_then(|r| r.get(input.token_ids[t] as usize))
                .and_then(|v| v.to_scalar::<f32>())
                .expect("ref logp");
            assert!((got[pads[i] + t] - want).abs() < 1e-4, "row {i} token {t}");
        }
        assert!(
            got[..=pads[i]].iter().all(|&v| v == 0.0),
            "padding and first column hold 0"
        );
    }
}

#[test]
fn batched_kv_cache_decode_matches_full_forward() {
    let model = HfModel::load(&fixture("qwen2_tied"), DType::F32, &Device::Cpu).expect("load");
    let prompts = vec![text_input(vec![5, 6, 7, 8, 9]), text_input(vec![30, 31])];
    // Capacity 1 forces the buffers to grow while decoding.
    let (mut state, mut last) = model.prefill(&prompts, 1).expect("prefill");
    let mut rows: Vec<Vec<u32>> = prompts.iter().map(|p| p.token_ids.clone()).collect();
    for step in 0..4 {
        let next: Vec<u32> = last
            .argmax(D::Minus1)
            .expect("argmax")
            .to_vec1()
            .expect("vec");
        for (row, &t) in rows.iter_mut().zip(&next) {
            row.push(t);
        }
        let full: Vec<HfInput> = rows.iter().map(|r| text_input(r.clone())).collect();
        let (logits, _) = model.forward(&full).expect("forward");
        let width = logits.dim(1).expect("dim");
        last = model.decode(&mut state, &next).expect("decode");
        let expected = logits
            .narrow(1, width - 1, 1)
            .expect("narrow")
            .squeeze(1)
            .expect("squeeze");
        let diff = max_abs_diff(&last, &expected);
        assert!(
            diff < 1e-4,
            "step {step}: decode vs full forward differ by {diff}"
        );
    }
    state.keep_rows(&[1]).expect("keep");
    let logits = model.decode(&mut state, &[3]).expect("decode one row");
    assert_eq!(logits.dims(), &[1, model.config().text.vocab_size]);
    assert!(state.keep_rows(&[4]).is_err());
}

fn convert(tensors: &BTreeMap<String, Tensor>, dtype: DType) -> BTreeMap<String, Tensor> {
    tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.to_dtype(dtype).expect("convert")))
        .collect()
}

#[test]
fn bf16_and_f16_checkpoints_load_and_stay_close() {
    let name = "qwen2_tied";
    let tensors = load_weights(&fixture(name), &Device::Cpu).expect("weights");
    let reference = reference_tensors(name);
    let input = text_input(ids(&reference_json(name)["prompts"][0]["ids"]));
    for dtype in [DType::BF16, DType::F16] {
        let dir = tempfile::tempdir().expect("tempdir");
        save_weights(&convert(&tensors, dtype), dir.path(), None).expect("save");
        std::fs::copy(
            fixture(name).join("config.json"),
            dir.path().join("config.json"),
        )
        .expect("copy");
        let model = HfModel::load(dir.path(), DType::F32, &Device::Cpu).expect("load");
        let (logits, _) = model
            .forward(std::slice::from_ref(&input))
            .expect("forward");
        let diff = max_abs_diff(&logits.squeeze(0).expect("squeeze"), &reference["logits_0"]);
        let exact = if dtype == DType::BF16 { 0.25 } else { 0.05 };
        assert!(diff > 0.0 && diff < exact, "{dtype:?}: logit diff {diff}");
        // Computing in the stored dtype also works.
        let native = HfModel::load(dir.path(), dtype, &Device::Cpu).expect("load native");
        let (logits, _) = native
            .forward(std::slice::from_ref(&input))
            .expect("forward");
        assert_eq!(logits.dtype(), dtype);
    }
}

#[test]
fn load_error_names_every_missing_and_unexpected_tensor() {
    let dir = fixture("qwen2_untied");
    let config = HfConfig::from_dir(&dir).expect("config");
    let mut tensors = load_weights(&dir, &Device::Cpu).expect("weights");
    tensors.remove("lm_head.weight");
    tensors.remove("model.layers.1.self_attn.k_proj.bias");
    let bad = tensors["model.norm.weight"]
        .narrow(0, 0, 4)
        .expect("narrow");
    tensors.insert("model.norm.weight".into(), bad);
    tensors.insert(
        "model.layers.9.mlp.extra.weight".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).expect("zeros"),
    );
    let err = HfModel::from_tensors(
        &config,
        tensors,
        "test.safetensors",
        DType::F32,
        &Device::Cpu,
    )
    .expect_err("mismatch must fail")
    .to_string();
    for needle in [
        "test.safetensors",
        "lm_head.weight: missing",
        "model.layers.1.self_attn.k_proj.bias: missing",
        "model.norm.weight: shape [4], expected [32]",
        "model.layers.9.mlp.extra.weight: unexpected",
    ] {
        assert!(err.contains(needle), "error lacks `{needle}`: {err}");
    }
}

#[test]
fn save_in_hf_layout_round_trips_sharded_and_single() {
    let name = "qwen2_untied";
    let model = HfModel::load(&fixture(name), DType::F32, &Device::Cpu).expect("load");
    let input = text_input(ids(&reference_json(name)["prompts"][1]["ids"]));
    let (expected, _) = model
        .forward(std::slice::from_ref(&input))
        .expect("forward");
    for shard in [None, Some(20_000)] {
        let dir = tempfile::tempdir().expect("tempdir");
        model.save(dir.path(), shard).expect("save");
        let sharded = dir.path().join("model.safetensors.index.json").exists();
        assert_eq!(sharded, shard.is_some());
        let again = HfModel::load(dir.path(), DType::F32, &Device::Cpu).expect("reload");
        let (logits, _) = again
            .forward(std::slice::from_ref(&input))
            .expect("forward");
        assert_eq!(max_abs_diff(&logits, &expected), 0.0);
    }
}

#[test]
fn configs_parse_in_transformers_4_and_5_layouts() {
    let v5 = HfConfig::from_dir(&fixture("qwen2_tied")).expect("v5 config");
    assert_eq!(v5.text.rope_theta, 1_000_000.0);
    assert!(v5.text.tie_word_embeddings);
    let v4 = serde_json::json!({
        "model_type": "qwen2_5_vl", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "rope_theta": 500000.0, "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
        "image_token_id": 99, "eos_token_id": [7, 8],
        "vision_config": {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
                          "out_hidden_size": 64, "fullatt_block_indexes": [1], "hidden_act": "silu"}
    });
    let cfg = HfConfig::from_value(v4, "v4.json").expect("v4 config");
    assert_eq!(cfg.text.rope_theta, 500000.0);
    assert_eq!(cfg.text.mrope_section, Some(vec![2, 3, 3]));
    assert_eq!(cfg.text.eos_token_ids, vec![7, 8]);
    assert_eq!(cfg.vision.as_ref().map(|v| v.window_size), Some(112));
    let broken = serde_json::json!({"model_type": "qwen2", "vocab_size": 10, "hidden_size": 8,
        "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 3});
    let err = HfConfig::from_value(broken, "broken.json")
        .expect_err("bad heads")
        .to_string();
    assert!(
        err.contains("num_key_value_heads") && err.contains("broken.json"),
        "{err}"
    );
    let missing = serde_json::json!({"model_type": "qwen2", "hidden_size": 8});
    let err = HfConfig::from_value(missing, "m.json")
        .expect_err("missing")
        .to_string();
    assert!(err.contains("m.json"), "{err}");
}
