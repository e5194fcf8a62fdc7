//! Save and load a policy as `model.safetensors` + `config.json` (+ `tokenizer.json`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::config::PolicyConfig;
use crate::error::{read_json_file, PolicyError, Result};
use crate::model::Policy;
use crate::tokenizer::PolicyTokenizer;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PolicyError + '_ {
    move |source| PolicyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Write the policy (and its tokenizer) into `dir`, creating it.
pub fn save_policy(policy: &Policy, tokenizer: &PolicyTokenizer, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tensors: HashMap<String, Tensor> = policy.snapshot_tensors()?.into_iter().collect();
    let weights = dir.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &weights)?;
    let config_path = dir.join("config.json");
    let json =
        serde_json::to_string_pretty(policy.config()).map_err(|source| PolicyError::Json {
            path: config_path.display().to_string(),
            source,
        })?;
    std::fs::write(&config_path, json).map_err(io_err(&config_path))?;
    tokenizer.save(&dir.join("tokenizer.json"))
}

/// Read `config.json` from `dir`.
pub fn load_config(dir: &Path) -> Result<PolicyConfig> {
    read_json_file(&dir.join("config.json"))
}

/// Load a policy and tokenizer saved by [`save_policy`].
pub fn load_policy(dir: &Path, dtype: DType, device: &Device) -> Result<(Policy, PolicyTokenizer)> {
    let config = load_config(dir)?;
    let weights = dir.join("model.safetensors");
    if !weights.exists() {
        return Err(PolicyError::Io {
            path: weights.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let tensors: BTreeMap<String, Tensor> = candle_core::safetensors::load(&weights, device)?
        .into_iter()
        .collect();
    let policy = Policy::from_tensors(
        &config,
        tensors,
        &weights.display().to_string(),
        dtype,
        device,
    )?;
    let tokenizer = PolicyTokenizer::from_file(&dir.join("tokenizer.json"))?;
    if tokenizer.vocab_size() > config.vocab_size {
        return Err(PolicyError::InvalidConfig {
            field: "vocab_size".into(),
            reason: format!(
                "tokenizer has {} tokens but the model only {}",
                tokenizer.vocab_size(),
                config.vocab_size
            ),
        });
    }
    Ok((policy, tokenizer))
}
