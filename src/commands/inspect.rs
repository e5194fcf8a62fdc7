//! `medgym inspect`: describe a Hugging Face checkpoint folder.

use std::collections::BTreeMap;
use std::path::PathBuf;

use candle_core::{DType, Device};
use medgym_policy::hf::weights::list_tensors;
use medgym_policy::hf::{HfConfig, HfModel};

use crate::Result;

/// Arguments of `medgym inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Checkpoint folder.
    pub dir: PathBuf,
}

/// Runs `medgym inspect`.
pub fn run(args: InspectArgs) -> Result<()> {
    let config = HfConfig::from_dir(&args.dir)?;
    let t = &config.text;
    println!("architecture: {}", config.architecture.model_type());
    println!(
        "decoder: {} layers, hidden {}, mlp {}, heads {} (kv {}), head_dim {}, vocab {}, tied embeddings: {}, rope_theta {}{}",
        t.num_hidden_layers,
        t.hidden_size,
        t.intermediate_size,
        t.num_attention_heads,
        t.num_key_value_heads,
        t.head_dim,
        t.vocab_size,
        t.tie_word_embeddings,
        t.rope_theta,
        t.mrope_section
            .as_ref()
            .map(|s| format!(", mrope_section {s:?}"))
            .unwrap_or_default()
    );
    if let Some(v) = &config.vision {
        println!(
            "vision: {} blocks, hidden {}, heads {}, patch {}, merge {}, window {}, full-attention blocks {:?}",
            v.depth, v.hidden_size, v.num_heads, v.patch_size, v.spatial_merge_size, v.window_size, v.fullatt_block_indexes
        );
    }
    let tensors = list_tensors(&args.dir)?;
    let mut dtypes: BTreeMap<String, usize> = BTreeMap::new();
    let mut stored = 0usize;
    for (_, shape, dtype) in &tensors {
        let count: usize = shape.iter().product();
        stored += count;
        *dtypes.entry(dtype.clone()).or_default() += count;
    }
    println!("tensors: {} holding {stored} parameters", tensors.len());
    for (dtype, count) in &dtypes {
        println!("  {dtype}: {count} parameters");
    }
    match HfModel::load(&args.dir, DType::F32, &Device::Cpu) {
        Ok(model) => {
            println!("parameters (model): {}", model.parameter_count());
            let frozen = model.frozen_names();
            if !frozen.is_empty() {
                println!(
                    "frozen at load: {} tensors (the vision tower; HfModel::unfreeze trains them)",
                    frozen.len()
                );
            }
            println!("tensor problems: none");
        }
        Err(e) => println!("tensor problems:\n{e}"),
    }
    Ok(())
}
