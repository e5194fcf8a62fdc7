//! LoRA adapters on linear projections, saved and loaded in the PEFT layout.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{read_json_file, PolicyError, Result};
use crate::layers::Linear;

/// Prefix PEFT puts in front of module paths in `adapter_model.safetensors`.
pub const PEFT_PREFIX: &str = "base_model.model.";

/// LoRA settings, in the field names of PEFT's `adapter_config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank of the update.
    pub r: usize,
    /// Scale numerator: the update is multiplied by `lora_alpha / r`.
    pub lora_alpha: f64,
    /// Projection names that get adapters (e.g. `q_proj`, `down_proj`).
    pub target_modules: Vec<String>,
}

/// Every attention and MLP projection of a Qwen2 decoder layer.
pub const DECODER_PROJECTIONS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

impl LoraConfig {
    /// Rank-`r` adapters scaled by `lora_alpha / r` on every projection of the decoder layers.
    pub fn all_projections(r: usize, lora_alpha: f64) -> Self {
        Self {
            r,
            lora_alpha,
            target_modules: DECODER_PROJECTIONS.map(String::from).to_vec(),
        }
    }

    /// The multiplier applied to the low-rank update.
    pub fn scale(&self) -> f64 {
        self.lora_alpha / self.r as f64
    }

    /// Whether the module path ends in one of the target names.
    pub fn targets(&self, module: &str) -> bool {
        let last = module.rsplit('.').next().unwrap_or(module);
        self.target_modules.iter().any(|t| t == last)
    }

    /// The PEFT `adapter_config.json` document.
    pub fn to_peft_json(&self, base_model: &str) -> serde_json::Value {
        serde_json::json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": base_model,
            "r": self.r,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": 0.0,
            "target_modules": self.target_modules,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "use_rslora": false,
            "use_dora": false,
            "modules_to_save": null,
        })
    }

    /// Read `adapter_config.json` from `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("adapter_config.json");
        let value: serde_json::Value = read_json_file(&path)?;
        for (field, ok) in [
            (
                "peft_type",
                value.get("peft_type").and_then(|v| v.as_str()) == Some("LORA"),
            ),
            (
                "use_dora",
                !value
                    .get("use_dora")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
            ),
            (
                "use_rslora",
                !value
                    .get("use_rslora")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
            ),
        ] {
            if !ok {
                return Err(PolicyError::InvalidConfig {
                    field: format!("{field} ({})", path.display()),
                    reason: "only plain LoRA adapters are supported".into(),
                });
            }
        }
        serde_json::from_value(value).map_err(|source| PolicyError::Json {
            path: path.display().to_string(),
            source,
        })
    }
}

/// The low-rank pair `B·A` of one projection.
#[derive(Debug, Clone)]
pub struct LoraPair {
    a: Tensor,
    b: Tensor,
    scale: f64,
}

/// A linear layer with an optional LoRA update `x Aᵀ Bᵀ · scale` added to its output.
#[derive(Debug, Clone)]
pub struct AdaptedLinear {
    base: Linear,
    lora: Option<LoraPair>,
}

impl AdaptedLinear {
    /// Wrap a plain layer.
    pub fn new(base: Linear) -> Self {
        Self { base, lora: None }
    }

    /// The wrapped layer.
    pub fn base(&self) -> &Linear {
        &self.base
    }

    /// Apply to `(..., in)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.base.forward(x)?;
        match &self.lora {
            None => Ok(y),
            Some(pair) => {
                let dims = x.dims().to_vec();
                let inp = dims[dims.len() - 1];
                let rows: usize = dims[..dims.len() - 1].iter().product();
                let update = x
                    .reshape((rows, inp))?
                    .matmul(&pair.a.t()?)?
                    .matmul(&pair.b.t()?)?;
                let update = (update * pair.scale)?.reshape(y.dims())?;
                Ok((y + update)?)
            }
        }
    }

    /// Attach an adapter; `a` is `(r, in)` and `b` is `(out, r)`.
    pub fn attach(&mut self, a: Tensor, b: Tensor, scale: f64) {
        self.lora = Some(LoraPair { a, b, scale });
    }
}

/// Where adapter weights come from when attached.
pub enum LoraInit<'a> {
    /// PEFT's default: A uniform in ±1/sqrt(in), B zero (the adapter starts as a no-op).
    Standard {
        /// Seed of the generator for A.
        seed: u64,
    },
    /// A and B both random (a visible update, for tests and export checks).
    RandomBoth {
        /// Seed of the generator.
        seed: u64,
        /// Bound of the uniform draw.
        bound: f64,
    },
    /// Tensors read from `adapter_model.safetensors` (PEFT names, `base_model.model.` prefix).
    Loaded(&'a mut BTreeMap<String, Tensor>),
}

/// Builds adapter variables, named as PEFT names them.
pub struct LoraBuilder<'a> {
    init: LoraInit<'a>,
    rng: ChaCha8Rng,
    dtype: DType,
    device: Device,
    /// Adapter variables created so far, by PEFT name.
    pub vars: BTreeMap<String, Var>,
    problems: Vec<String>,
    /// Whether layers get the adapters detached (no gradient flows to them).
    frozen: bool,
}

impl<'a> LoraBuilder<'a> {
    /// A builder drawing from `init`.
    pub fn new(init: LoraInit<'a>, dtype: DType, device: &Device) -> Self {
        let seed = match &init {
            LoraInit::Standard { seed } | LoraInit::RandomBoth { seed, .. } => *seed,
            LoraInit::Loaded(_) => 0,
        };
        Self {
            init,
            rng: ChaCha8Rng::seed_from_u64(seed),
            dtype,
            device: device.clone(),
            vars: BTreeMap::new(),
            problems: Vec::new(),
            frozen: false,
        }
    }

    /// The same builder, attaching adapters detached: they still hold variables, but no gradient
    /// flows to them.
    pub fn frozen(mut self) -> Self {
        self.frozen = true;
        self
    }

    fn draw(&mut self, shape: (usize, usize), bound: f64) -> Result<Tensor> {
        let values: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| self.rng.random_range(-bound..=bound) as f32)
            .collect();
        Ok(Tensor::from_vec(values, shape, &self.device)?.to_dtype(self.dtype)?)
    }

    fn take(&mut self, name: &str, shape: (usize, usize)) -> Result<Tensor> {
        let LoraInit::Loaded(tensors) = &mut self.init else {
            return Err(PolicyError::InvalidInput(
                "take() on a random LoRA builder".into(),
            ));
        };
        match tensors.remove(name) {
            Some(t) if t.dims() == [shape.0, shape.1] => {
                Ok(t.to_dtype(self.dtype)?.to_device(&self.device)?)
            }
            Some(t) => {
                self.problems
                    .push(format!("{name}: shape {:?}, expected {shape:?}", t.dims()));
                Ok(Tensor::zeros(shape, self.dtype, &self.device)?)
            }
            None => {
                self.problems.push(format!("{name}: missing"));
                Ok(Tensor::zeros(shape, self.dtype, &self.device)?)
            }
        }
    }

    /// Attach an adapter of rank `r` to `layer`, whose module path is `module`.
    pub fn adapt(
        &mut self,
        layer: &mut AdaptedLinear,
        module: &str,
        r: usize,
        scale: f64,
    ) -> Result<()> {
        let (out, inp) = layer.base.weight().dims2()?;
        let a_name = format!("{PEFT_PREFIX}{module}.lora_A.weight");
        let b_name = format!("{PEFT_PREFIX}{module}.lora_B.weight");
        let (a, b) = match self.init {
            LoraInit::Standard { .. } => {
                let bound = 1.0 / (inp as f64).sqrt();
                (
                    self.draw((r, inp), bound)?,
                    Tensor::zeros((out, r), self.dtype, &self.device)?,
                )
            }
            LoraInit::RandomBoth { bound, .. } => {
                (self.draw((r, inp), bound)?, self.draw((out, r), bound)?)
            }
            LoraInit::Loaded(_) => (self.take(&a_name, (r, inp))?, self.take(&b_name, (out, r))?),
        };
        let a = Var::from_tensor(&a)?;
        let b = Var::from_tensor(&b)?;
        let handle = |var: &Var| {
            if self.frozen {
                var.as_tensor().detach()
            } else {
                var.as_tensor().clone()
            }
        };
        layer.attach(handle(&a), handle(&b), scale);
        self.vars.insert(a_name, a);
        self.vars.insert(b_name, b);
        Ok(())
    }

    /// Finish; for loaded adapters every file tensor must have been used.
    pub fn finish(self, origin: &str) -> Result<BTreeMap<String, Var>> {
        let mut problems = self.problems;
        if let LoraInit::Loaded(tensors) = &self.init {
            problems.extend(tensors.keys().map(|n| format!("{n}: unexpected")));
        }
        if problems.is_empty() {
            Ok(self.vars)
        } else {
            Err(PolicyError::TensorMismatch {
                path: origin.to_string(),
                problems: problems.join("\n"),
            })
        }
    }
}
