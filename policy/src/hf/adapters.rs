//! LoRA adapters of an [`HfModel`]: attach, load and save in the PEFT layout.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{Tensor, Var};

use crate::error::{PolicyError, Result};
use crate::hf::config::Architecture;
use crate::hf::lora::{LoraBuilder, LoraConfig, LoraInit};
use crate::hf::model::{write_json, HfModel};

impl HfModel {
    /// LoRA adapter parameters (PEFT names), empty without adapters.
    pub fn lora_vars(&self) -> Vec<(String, Var)> {
        self.lora
            .iter()
            .flat_map(|(_, vars)| vars.iter().map(|(n, v)| (n.clone(), v.clone())))
            .collect()
    }

    /// Attach new LoRA adapters to the decoder projections named in `lora.target_modules`.
    pub fn add_lora(&mut self, lora: &LoraConfig, init: LoraInit) -> Result<()> {
        if self.lora.is_some() {
            return Err(PolicyError::InvalidInput(
                "the model already has LoRA adapters".into(),
            ));
        }
        let mut builder = LoraBuilder::new(init, self.dtype, &self.device);
        let targets = |module: &str| lora.targets(module);
        for layer in &mut self.layers {
            layer.add_lora(&mut builder, &targets, lora.r, lora.scale())?;
        }
        let vars = builder.finish("LoRA adapter")?;
        if vars.is_empty() {
            return Err(PolicyError::InvalidConfig {
                field: "target_modules".into(),
                reason: format!("{:?} matches no decoder projection", lora.target_modules),
            });
        }
        self.lora = Some((lora.clone(), vars));
        Ok(())
    }

    /// Load a PEFT adapter (`adapter_config.json` + `adapter_model.safetensors`) from `dir`.
    pub fn load_lora(&mut self, dir: &Path) -> Result<()> {
        let lora = LoraConfig::from_dir(dir)?;
        let path = dir.join("adapter_model.safetensors");
        let mut tensors: BTreeMap<String, Tensor> =
            candle_core::safetensors::load(&path, &self.device)?
                .into_iter()
                .map(|(n, t)| {
                    (
                        n.replace(
                            "base_model.model.model.language_model.",
                            "base_model.model.model.",
                        ),
                        t,
                    )
                })
                .collect();
        let origin = path.display().to_string();
        let mut builder =
            LoraBuilder::new(LoraInit::Loaded(&mut tensors), self.dtype, &self.device);
        let targets = |module: &str| lora.targets(module);
        for layer in &mut self.layers {
            layer.add_lora(&mut builder, &targets, lora.r, lora.scale())?;
        }
        let vars = builder.finish(&origin)?;
        self.lora = Some((lora, vars));
        Ok(())
    }

    /// Save the adapters in PEFT layout (module paths of transformers 5); `base_model` is recorded in adapter_config.json.
    pub fn save_lora(&self, dir: &Path, base_model: &str) -> Result<()> {
        let Some((lora, vars)) = &self.lora else {
            return Err(PolicyError::InvalidInput(
                "the model has no LoRA adapters to save".into(),
            ));
        };
        std::fs::create_dir_all(dir).map_err(|source| PolicyError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        // transformers 5 nests the Qwen2-VL / Qwen2.5-VL decoder under `model.language_model`; PEFT keys follow it.
        let vl = self.config.architecture != Architecture::Qwen2;
        let tensors: HashMap<String, Tensor> = vars
            .iter()
            .map(|(n, v)| {
                let name = if vl {
                    n.replacen(
                        "base_model.model.model.",
                        "base_model.model.model.language_model.",
                        1,
                    )
                } else {
                    n.clone()
                };
                Ok((name, v.as_tensor().copy()?))
            })
            .collect::<Result<_>>()?;
        candle_core::safetensors::save(&tensors, dir.join("adapter_model.safetensors"))?;
        write_json(
            &dir.join("adapter_config.json"),
            &lora.to_peft_json(base_model),
        )
    }
}
