//! Model configuration in Hugging Face `config.json` field names.

use serde::{Deserialize, Serialize};

use crate::error::{PolicyError, Result};

/// Vision encoder settings (ViT-style patch encoder with a 2×2 patch merger).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisionConfig {
    /// Side of the square input image in pixels.
    pub image_size: usize,
    /// Side of one square patch in pixels.
    pub patch_size: usize,
    /// Number of image channels (1 = grayscale).
    pub in_channels: usize,
    /// Width of the encoder.
    pub hidden_size: usize,
    /// Number of encoder blocks.
    pub depth: usize,
    /// Attention heads per block.
    pub num_heads: usize,
    /// Width of the gated MLP.
    pub intermediate_size: usize,
    /// Patches merged along each side before projection (Qwen2.5-VL uses 2).
    pub spatial_merge_size: usize,
}

impl VisionConfig {
    /// Patches along one side.
    pub fn grid_side(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Image tokens one image contributes to the decoder.
    pub fn tokens_per_image(&self) -> usize {
        let merged = self.grid_side() / self.spatial_merge_size;
        merged * merged
    }
}

/// Full policy configuration: Qwen2 decoder fields at top level plus `vision_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyConfig {
    /// Architecture tag written to config.json.
    #[serde(default = "default_model_type")]
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Decoder width.
    pub hidden_size: usize,
    /// Decoder MLP width.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub num_key_value_heads: usize,
    /// Longest sequence the rotary table covers.
    pub max_position_embeddings: usize,
    /// Rotary base.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Whether the output head shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Token id of `<|image_pad|>`.
    pub image_token_id: u32,
    /// Token id of `<|vision_start|>`.
    pub vision_start_token_id: u32,
    /// Token id of `<|vision_end|>`.
    pub vision_end_token_id: u32,
    /// Token id that ends a turn (`<|im_end|>`).
    pub eos_token_id: u32,
    /// Token id used for padding.
    pub pad_token_id: u32,
    /// Vision encoder settings.
    pub vision_config: VisionConfig,
}

fn default_model_type() -> String {
    "medgym_vl".to_string()
}

impl PolicyConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Check that the sizes fit together; names the first field that does not.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, reason: String| {
            Err(PolicyError::InvalidConfig {
                field: field.to_string(),
                reason,
            })
        };
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return bad(
                "num_attention_heads",
                format!("must divide hidden_size {}", self.hidden_size),
            );
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(
                "hidden_size",
                "head dimension must be even for rotary".into(),
            );
        }
        if self.num_key_value_heads == 0
            || !self
                .num_attention_heads
                .is_multiple_of(self.num_key_value_heads)
        {
            return bad(
                "num_key_value_heads",
                format!(
                    "must divide num_attention_heads {}",
                    self.num_attention_heads
                ),
            );
        }
        let v = &self.vision_config;
        if v.patch_size == 0 || !v.image_size.is_multiple_of(v.patch_size) {
            return bad(
                "vision_config.patch_size",
                format!("must divide image_size {}", v.image_size),
            );
        }
        if v.spatial_merge_size == 0 || !v.grid_side().is_multiple_of(v.spatial_merge_size) {
            return bad(
                "vision_config.spatial_merge_size",
                format!("must divide the patch grid side {}", v.grid_side()),
            );
        }
        if v.num_heads == 0 || !v.hidden_size.is_multiple_of(v.num_heads) {
            return bad(
                "vision_config.num_heads",
                format!("must divide vision hidden_size {}", v.hidden_size),
            );
        }
        for (field, id) in [
            ("image_token_id", self.image_token_id),
            ("vision_start_token_id", self.vision_start_token_id),
            ("vision_end_token_id", self.vision_end_token_id),
            ("eos_token_id", self.eos_token_id),
            ("pad_token_id", self.pad_token_id),
        ] {
            if id as usize >= self.vocab_size {
                return bad(
                    field,
                    format!("{id} is outside vocab_size {}", self.vocab_size),
                );
            }
        }
        Ok(())
    }
}
