//! Configurations read from Hugging Face `config.json` (transformers 4 and 5 layouts).

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::{read_json_file, PolicyError, Result};

/// Which model family a checkpoint holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Qwen2 / Qwen2.5 text decoder (`Qwen2ForCausalLM`).
    Qwen2,
    /// Qwen2.5-VL (`Qwen2_5_VLForConditionalGeneration`).
    Qwen25Vl,
    /// Qwen2-VL (`Qwen2VLForConditionalGeneration`).
    Qwen2Vl,
}

impl Architecture {
    /// The `model_type` string transformers uses.
    pub fn model_type(self) -> &'static str {
        match self {
            Self::Qwen2 => "qwen2",
            Self::Qwen25Vl => "qwen2_5_vl",
            Self::Qwen2Vl => "qwen2_vl",
        }
    }
}

/// Settings of the text decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Decoder width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub num_key_value_heads: usize,
    /// Width of one attention head.
    pub head_dim: usize,
    /// Longest supported sequence.
    pub max_position_embeddings: usize,
    /// Rotary base.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Whether `lm_head` shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Multimodal rotary split of `head_dim / 2` into (temporal, height, width) parts.
    pub mrope_section: Option<Vec<usize>>,
    /// End-of-sequence token ids.
    pub eos_token_ids: Vec<u32>,
}

/// Which vision tower design a checkpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisionKind {
    /// Qwen2.5-VL: RMSNorm, gated SiLU MLP, window attention with full-attention blocks.
    Qwen25Vl,
    /// Qwen2-VL: LayerNorm, fc1/fc2 MLP with QuickGELU, full attention in every block.
    Qwen2Vl,
}

/// Settings of the Qwen2.5-VL / Qwen2-VL vision tower.
#[derive(Debug, Clone, PartialEq)]
pub struct VisionTowerConfig {
    /// Tower design.
    pub kind: VisionKind,
    /// Number of vision blocks.
    pub depth: usize,
    /// Width of the vision blocks.
    pub hidden_size: usize,
    /// Width of the gated vision MLP.
    pub intermediate_size: usize,
    /// Attention heads per block.
    pub num_heads: usize,
    /// Image channels (3).
    pub in_chans: usize,
    /// Width of the merged tokens handed to the decoder.
    pub out_hidden_size: usize,
    /// Side of a patch in pixels (14).
    pub patch_size: usize,
    /// Patches merged along each side (2).
    pub spatial_merge_size: usize,
    /// Frames per temporal patch (2).
    pub temporal_patch_size: usize,
    /// Side of an attention window in pixels (112).
    pub window_size: usize,
    /// Blocks that attend over the whole image instead of windows.
    pub fullatt_block_indexes: Vec<usize>,
}

impl VisionTowerConfig {
    /// Length of one flattened patch: channels × temporal × patch × patch.
    pub fn patch_dim(&self) -> usize {
        self.in_chans * self.temporal_patch_size * self.patch_size * self.patch_size
    }

    /// Pixel side that resized images must be a multiple of.
    pub fn pixel_multiple(&self) -> usize {
        self.patch_size * self.spatial_merge_size
    }
}

/// A parsed model configuration plus the original JSON (written back on save).
#[derive(Debug, Clone, PartialEq)]
pub struct HfConfig {
    /// Model family.
    pub architecture: Architecture,
    /// Text decoder settings.
    pub text: TextConfig,
    /// Vision tower settings (vision-language models only).
    pub vision: Option<VisionTowerConfig>,
    /// `<|image_pad|>` id.
    pub image_token_id: Option<u32>,
    /// `<|vision_start|>` id.
    pub vision_start_token_id: Option<u32>,
    /// `<|vision_end|>` id.
    pub vision_end_token_id: Option<u32>,
    /// The document this was parsed from.
    pub raw: Value,
}

struct Fields<'a> {
    origin: &'a str,
    maps: Vec<&'a Map<String, Value>>,
}

impl<'a> Fields<'a> {
    fn err(&self, field: &str, reason: &str) -> PolicyError {
        PolicyError::InvalidConfig {
            field: format!("{} ({})", field, self.origin),
            reason: reason.to_string(),
        }
    }

    fn find(&self, field: &str) -> Option<&'a Value> {
        self.maps
            .iter()
            .find_map(|m| m.get(field).filter(|v| !v.is_null()))
    }

    fn usize(&self, field: &str) -> Result<usize> {
        self.opt_usize(field)?
            .ok_or_else(|| self.err(field, "missing"))
    }

    fn opt_usize(&self, field: &str) -> Result<Option<usize>> {
        match self.find(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| self.err(field, "expected a non-negative integer")),
        }
    }

    fn f64_or(&self, field: &str, default: f64) -> Result<f64> {
        match self.find(field) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| self.err(field, "expected a number")),
        }
    }

    fn bool_or(&self, field: &str, default: bool) -> Result<bool> {
        match self.find(field) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.err(field, "expected true or false")),
        }
    }

    fn usize_list(&self, field: &str) -> Result<Option<Vec<usize>>> {
        match self.find(field) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .map(|n| n as usize)
                        .ok_or_else(|| self.err(field, "expected a list of integers"))
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(self.err(field, "expected a list of integers")),
        }
    }
}

fn object<'a>(value: &'a Value, origin: &str, field: &str) -> Result<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| PolicyError::InvalidConfig {
        field: format!("{field} ({origin})"),
        reason: "expected a JSON object".into(),
    })
}

impl HfConfig {
    /// Read `dir/config.json`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let value: Value = read_json_file(&path)?;
        Self::from_value(value, &path.display().to_string())
    }

    /// Parse a config document; `origin` names it in errors.
    pub fn from_value(raw: Value, origin: &str) -> Result<Self> {
        let top = object(&raw, origin, "config")?;
        let model_type = top
            .get("model_type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let architecture = match model_type {
            "qwen2" => Architecture::Qwen2,
            "qwen2_5_vl" => Architecture::Qwen25Vl,
            "qwen2_vl" => Architecture::Qwen2Vl,
            other => {
                return Err(PolicyError::InvalidConfig {
                    field: format!("model_type ({origin})"),
                    reason: format!("`{other}` is not supported; expected qwen2 or qwen2_5_vl"),
                })
            }
        };
        // transformers 5 nests the decoder under `text_config`; 4.x keeps it at top level.
        let mut maps = Vec::new();
        if let Some(text) = top.get("text_config") {
            maps.push(object(text, origin, "text_config")?);
        }
        maps.push(top);
        let f = Fields { origin, maps };
        let text = text_config(&f)?;
        let vision = match (architecture, top.get("vision_config")) {
            (Architecture::Qwen2, _) => None,
            (arch, Some(v)) => {
                let fields = Fields {
                    origin,
                    maps: vec![object(v, origin, "vision_config")?],
                };
                Some(if arch == Architecture::Qwen2Vl {
                    qwen2_vl_vision_config(&fields)?
                } else {
                    vision_config(&fields)?
                })
            }
            (_, None) => return Err(f.err("vision_config", "missing for a vision-language model")),
        };
        let id = |field: &str| -> Result<Option<u32>> { Ok(f.opt_usize(field)?.map(|v| v as u32)) };
        let config = Self {
            architecture,
            image_token_id: id("image_token_id")?,
            vision_start_token_id: id("vision_start_token_id")?,
            vision_end_token_id: id("vision_end_token_id")?,
            text,
            vision,
            raw,
        };
        config.validate(origin)?;
        Ok(config)
    }

    fn validate(&self, origin: &str) -> Result<()> {
        let bad = |field: &str, reason: String| {
            Err(PolicyError::InvalidConfig {
                field: format!("{field} ({origin})"),
                reason,
            })
        };
        let t = &self.text;
        if t.num_attention_heads == 0 || t.num_key_value_heads == 0 {
            return bad("num_attention_heads", "heads must be positive".into());
        }
        if !t.num_attention_heads.is_multiple_of(t.num_key_value_heads) {
            return bad(
                "num_key_value_heads",
                format!("must divide num_attention_heads {}", t.num_attention_heads),
            );
        }
        if t.head_dim == 0 || !t.head_dim.is_multiple_of(2) {
            return bad("head_dim", format!("{} must be even", t.head_dim));
        }
        if let Some(section) = &t.mrope_section {
            if section.iter().sum::<usize>() != t.head_dim / 2 {
                return bad(
                    "mrope_section",
                    format!("{section:?} must sum to head_dim / 2 = {}", t.head_dim / 2),
                );
            }
        }
        if let Some(v) = &self.vision {
            if v.num_heads == 0 || !v.hidden_size.is_multiple_of(v.num_heads) {
                return bad(
                    "vision_config.num_heads",
                    format!("must divide hidden_size {}", v.hidden_size),
                );
            }
            if !(v.hidden_size / v.num_heads).is_multiple_of(4) {
                return bad(
                    "vision_config.num_heads",
                    "vision head width must be a multiple of 4 for the 2-D rotary".into(),
                );
            }
            if v.out_hidden_size != t.hidden_size {
                return bad(
                    "vision_config.out_hidden_size",
                    format!(
                        "{} must equal the decoder hidden_size {}",
                        v.out_hidden_size, t.hidden_size
                    ),
                );
            }
            let unit = v.patch_size * v.spatial_merge_size;
            let windowed = v.kind == VisionKind::Qwen25Vl;
            if unit == 0
                || (windowed && (v.window_size == 0 || !v.window_size.is_multiple_of(unit)))
            {
                return bad(
                    "vision_config.window_size",
                    format!(
                        "{} must be a multiple of patch_size × spatial_merge_size",
                        v.window_size
                    ),
                );
            }
            if self.image_token_id.is_none() {
                return bad(
                    "image_token_id",
                    "missing for a vision-language model".into(),
                );
            }
        }
        Ok(())
    }

    /// A Qwen2 text configuration for random-weight models (benches, tests).
    #[allow(clippy::too_many_arguments)]
    pub fn qwen2_text(
        vocab_size: usize,
        hidden_size: usize,
        intermediate_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        num_key_value_heads: usize,
        max_position_embeddings: usize,
        tie_word_embeddings: bool,
    ) -> Result<Self> {
        let raw = json!({
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "vocab_size": vocab_size,
            "hidden_size": hidden_size,
            "intermediate_size": intermediate_size,
            "num_hidden_layers": num_hidden_layers,
            "num_attention_heads": num_attention_heads,
            "num_key_value_heads": num_key_value_heads,
            "max_position_embeddings": max_position_embeddings,
            "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-6,
            "hidden_act": "silu",
            "tie_word_embeddings": tie_word_embeddings,
            "torch_dtype": "float32",
        });
        Self::from_value(raw, "generated qwen2 config")
    }
}

fn text_config(f: &Fields) -> Result<TextConfig> {
    let hidden_size = f.usize("hidden_size")?;
    let num_attention_heads = f.usize("num_attention_heads")?;
    let head_dim = match f.opt_usize("head_dim")? {
        Some(d) => d,
        None if num_attention_heads > 0 => hidden_size / num_attention_heads,
        None => 0,
    };
    // transformers 5: `rope_parameters {rope_theta, mrope_section}`; 4.x: `rope_theta` + `rope_scaling`.
    let rope_params = f.find("rope_parameters").or_else(|| f.find("rope_scaling"));
    let rope = match rope_params {
        Some(v) => Some(Fields {
            origin: f.origin,
            maps: vec![object(v, f.origin, "rope_parameters")?],
        }),
        None => None,
    };
    let rope_theta = match rope.as_ref().and_then(|r| r.find("rope_theta")) {
        Some(_) => rope
            .as_ref()
            .map_or(Ok(10000.0), |r| r.f64_or("rope_theta", 10000.0))?,
        None => f.f64_or("rope_theta", 10000.0)?,
    };
    if let Some(r) = &rope {
        let kind = r
            .find("rope_type")
            .or_else(|| r.find("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        if !matches!(kind, "default" | "mrope") {
            return Err(f.err(
                "rope_parameters.rope_type",
                &format!("`{kind}` rotary scaling is not supported (default and mrope are)"),
            ));
        }
    }
    let mrope_section = match &rope {
        Some(r) => r.usize_list("mrope_section")?,
        None => None,
    };
    let eos_token_ids = match f.find("eos_token_id") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_u64)
            .map(|v| v as u32)
            .collect(),
        Some(v) => v.as_u64().map(|v| vec![v as u32]).unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(TextConfig {
        vocab_size: f.usize("vocab_size")?,
        hidden_size,
        intermediate_size: f.usize("intermediate_size")?,
        num_hidden_layers: f.usize("num_hidden_layers")?,
        num_attention_heads,
        num_key_value_heads: f
            .opt_usize("num_key_value_heads")?
            .unwrap_or(num_attention_heads),
        head_dim,
        max_position_embeddings: f.opt_usize("max_position_embeddings")?.unwrap_or(32768),
        rope_theta,
        rms_norm_eps: f.f64_or("rms_norm_eps", 1e-6)?,
        tie_word_embeddings: f.bool_or("tie_word_embeddings", false)?,
        mrope_section,
        eos_token_ids,
    })
}

fn vision_config(f: &Fields) -> Result<VisionTowerConfig> {
    let act = f
        .find("hidden_act")
        .and_then(Value::as_str)
        .unwrap_or("silu");
    if act != "silu" {
        return Err(f.err(
            "vision_config.hidden_act",
            &format!("`{act}` is not supported (Qwen2.5-VL uses silu)"),
        ));
    }
    Ok(VisionTowerConfig {
        kind: VisionKind::Qwen25Vl,
        depth: f.usize("depth")?,
        hidden_size: f.usize("hidden_size")?,
        intermediate_size: f.usize("intermediate_size")?,
        num_heads: f.usize("num_heads")?,
        in_chans: f
            .opt_usize("in_chans")?
            .or(f.opt_usize("in_channels")?)
            .unwrap_or(3),
        out_hidden_size: f.usize("out_hidden_size")?,
        patch_size: f.opt_usize("patch_size")?.unwrap_or(14),
        spatial_merge_size: f.opt_usize("spatial_merge_size")?.unwrap_or(2),
        temporal_patch_size: f.opt_usize("temporal_patch_size")?.unwrap_or(2),
        window_size: f.opt_usize("window_size")?.unwrap_or(112),
        fullatt_block_indexes: f.usize_list("fullatt_block_indexes")?.unwrap_or_default(),
    })
}

fn qwen2_vl_vision_config(f: &Fields) -> Result<VisionTowerConfig> {
    let act = f
        .find("hidden_act")
        .and_then(Value::as_str)
        .unwrap_or("quick_gelu");
    if act != "quick_gelu" {
        return Err(f.err(
            "vision_config.hidden_act",
            &format!("`{act}` is not supported (Qwen2-VL uses quick_gelu)"),
        ));
    }
    // Qwen2-VL names the tower width `embed_dim` and the decoder width `hidden_size`.
    let embed_dim = f.usize("embed_dim")?;
    let depth = f.usize("depth")?;
    let mlp_ratio = f.f64_or("mlp_ratio", 4.0)?;
    Ok(VisionTowerConfig {
        kind: VisionKind::Qwen2Vl,
        depth,
        hidden_size: embed_dim,
        intermediate_size: (embed_dim as f64 * mlp_ratio) as usize,
        num_heads: f.usize("num_heads")?,
        in_chans: f
            .opt_usize("in_chans")?
            .or(f.opt_usize("in_channels")?)
            .unwrap_or(3),
        out_hidden_size: f.usize("hidden_size")?,
        patch_size: f.opt_usize("patch_size")?.unwrap_or(14),
        spatial_merge_size: f.opt_usize("spatial_merge_size")?.unwrap_or(2),
        temporal_patch_size: f.opt_usize("temporal_patch_size")?.unwrap_or(2),
        window_size: 0,
        fullatt_block_indexes: (0..depth).collect(),
    })
}
