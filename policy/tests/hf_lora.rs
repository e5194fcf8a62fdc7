//! LoRA adapters: PEFT layout round trip, no-op start, gradients only where wanted.

mod hf_common;

use candle_core::{DType, Device};
use hf_common::{fixture, ids, max_abs_diff, reference_json};
use medgym_policy::hf::{HfInput, HfModel, LoraConfig, LoraInit};

fn lora_config() -> LoraConfig {
    LoraConfig::all_projections(4, 8.0)
}

fn input() -> HfInput {
    HfInput {
        token_ids: ids(&reference_json("qwen2_tied")["prompts"][0]["ids"]),
        images: Vec::new(),
    }
}

fn base() -> HfModel {
    HfModel::load(&fixture("qwen2_tied"), DType::F32, &Device::Cpu).expect("load")
}

#[test]
fn standard_init_is_a_no_op_and_trains_only_adapters() {
    let plain = base();
    let mut adapted = base();
    adapted
        .add_lora(&lora_config(), LoraInit::Standard { seed: 1 })
        .expect("lora");
    let (a, _) = plain.forward(&[input()]).expect("forward");
    let (b, _) = adapted.forward(&[input()]).expect("forward");
    assert_eq!(max_abs_diff(&a, &b), 0.0, "B starts at zero");
    let lora = adapted.lora_vars();
    // 2 layers × 7 projections × (A, B).
    assert_eq!(lora.len(), 28);
    assert!(lora
        .iter()
        .all(|(n, _)| n.starts_with("base_model.model.model.layers.")));
    let loss = adapted
        .token_logprobs(&[input()])
        .expect("logprobs")
        .sum_all()
        .expect("sum");
    let grads = loss.backward().expect("backward");
    for (name, var) in &lora {
        if name.contains("lora_A") {
            continue; // A's gradient is zero while B is zero; B's is not.
        }
        let g = grads.get(var.as_tensor()).expect("grad for B");
        let norm = g
            .sqr()
            .expect("sqr")
            .sum_all()
            .expect("sum")
            .to_scalar::<f32>()
            .expect("scalar");
        assert!(norm > 0.0, "{name} has a zero gradient");
    }
}

#[test]
fn adapters_round_trip_in_peft_layout() {
    let mut adapted = base();
    adapted
        .add_lora(
            &lora_config(),
            LoraInit::RandomBoth {
                seed: 3,
                bound: 0.2,
            },
        )
        .expect("lora");
    let (expected, _) = adapted.forward(&[input()]).expect("forward");
    let (plain, _) = base().forward(&[input()]).expect("forward");
    assert!(
        max_abs_diff(&expected, &plain) > 1e-3,
        "random adapters change the logits"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    adapted.save_lora(dir.path(), "qwen2_tied").expect("save");
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("adapter_config.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["r"], 4);
    let mut loaded = base();
    loaded.load_lora(dir.path()).expect("load adapter");
    let (logits, _) = loaded.forward(&[input()]).expect("forward");
    assert_eq!(max_abs_diff(&logits, &expected), 0.0);
    // An adapter for a different rank does not fit: every tensor is named.
    let mut wrong = lora_config();
    wrong.r = 2;
    std::fs::write(
        dir.path().join("adapter_config.json"),
        wrong.to_peft_json("x").to_string(),
    )
    .expect("write");
    let err = base()
        .load_lora(dir.path())
        .expect_err("rank mismatch")
        .to_string();
    assert!(
        err.contains("lora_A.weight: shape [4, 32], expected (2, 32)"),
        "{err}"
    );
}

#[test]
fn vision_language_adapters_use_transformers_5_paths_and_round_trip() {
    let load = || HfModel::load(&fixture("qwen25vl"), DType::F32, &Device::Cpu).expect("load");
    let input = HfInput {
        token_ids: ids(&reference_json("qwen25vl")["prompts"][1]["ids"]),
        images: Vec::new(),
    };
    let mut adapted = load();
    adapted
        .add_lora(
            &lora_config(),
            LoraInit::RandomBoth {
                seed: 4,
                bound: 0.2,
            },
        )
        .expect("lora");
    let (expected, _) = adapted
        .forward(std::slice::from_ref(&input))
        .expect("forward");
    let dir = tempfile::tempdir().expect("tempdir");
    adapted.save_lora(dir.path(), "qwen25vl").expect("save");
    let saved =
        candle_core::safetensors::load(dir.path().join("adapter_model.safetensors"), &Device::Cpu)
            .expect("adapter file");
    assert!(saved
        .keys()
        .all(|k| k.starts_with("base_model.model.model.language_model.layers.")));
    let mut loaded = load();
    loaded.load_lora(dir.path()).expect("load adapter");
    let (logits, _) = loaded
        .forward(std::slice::from_ref(&input))
        .expect("forward");
    assert_eq!(max_abs_diff(&logits, &expected), 0.0);
}
