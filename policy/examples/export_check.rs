//! Write a checkpoint and a LoRA adapter saved by this crate, with their logits, so that
//! `scripts/make_policy_fixtures.py --check-export` can load them in transformers/PEFT and compare.
//!
//! cargo run -p medgym-policy --example export_check -- SOURCE_DIR OUT_DIR

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use medgym_policy::hf::{HfInput, HfModel, LoraConfig, LoraInit};
use medgym_policy::{PolicyError, Result};

fn save_logits(model: &HfModel, ids: &[u32], path: PathBuf) -> Result<()> {
    let input = HfInput {
        token_ids: ids.to_vec(),
        images: Vec::new(),
    };
    let (logits, _) = model.forward(&[input])?;
    let ids = Tensor::from_vec(
        ids.iter().map(|&i| i as i64).collect::<Vec<_>>(),
        ids.len(),
        &Device::Cpu,
    )?;
    let tensors: HashMap<String, Tensor> = [
        ("input_ids".to_string(), ids),
        ("logits".to_string(), logits.squeeze(0)?),
    ]
    .into_iter()
    .collect();
    candle_core::safetensors::save(&tensors, path)?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(source), Some(out)) = (args.get(1), args.get(2)) else {
        return Err(PolicyError::InvalidInput(
            "usage: export_check SOURCE_DIR OUT_DIR".into(),
        ));
    };
    let out = PathBuf::from(out);
    let ids: Vec<u32> = (0..24).map(|i| (i * 37 + 11) % 400).collect();
    let model = HfModel::load(&PathBuf::from(source), DType::F32, &Device::Cpu)?;
    let full = out.join("full");
    model.save(&full, None)?;
    save_logits(&model, &ids, full.join("medgym_logits.safetensors"))?;
    let mut adapted = model.clone();
    let lora = LoraConfig {
        r: 4,
        lora_alpha: 8.0,
        target_modules: ["q_proj", "v_proj", "o_proj", "gate_proj", "down_proj"]
            .map(String::from)
            .to_vec(),
    };
    adapted.add_lora(
        &lora,
        LoraInit::RandomBoth {
            seed: 5,
            bound: 0.2,
        },
    )?;
    let adapter = out.join("adapter");
    adapted.save_lora(&adapter, &full.display().to_string())?;
    save_logits(&adapted, &ids, adapter.join("medgym_logits.safetensors"))?;
    println!("wrote {} and {}", full.display(), adapter.display());
    Ok(())
}
