//! Shared helpers for policy tests: a tiny config and deterministic inputs.

use medgym_policy::{ImageInput, PolicyConfig, SequenceInput, VisionConfig};

/// A tiny configuration (vocab 40) for fast tests.
pub fn tiny_config() -> PolicyConfig {
    PolicyConfig {
        model_type: "medgym_vl".into(),
        vocab_size: 40,
        hidden_size: 16,
        intermediate_size: 24,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 64,
        rope_theta: 10000.0,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: true,
        image_token_id: 5,
        vision_start_token_id: 3,
        vision_end_token_id: 4,
        eos_token_id: 2,
        pad_token_id: 0,
        vision_config: VisionConfig {
            image_size: 8,
            patch_size: 2,
            in_channels: 1,
            hidden_size: 8,
            depth: 1,
            num_heads: 2,
            intermediate_size: 12,
            spatial_merge_size: 2,
        },
    }
}

/// A deterministic image.
pub fn image(seed: u8) -> ImageInput {
    ImageInput {
        width: 8,
        height: 8,
        pixels: (0..64u32)
            .map(|i| ((i * 37 + seed as u32 * 11) % 256) as u8)
            .collect(),
    }
}

/// A prompt with an image (4 placeholders for the tiny config) and text tokens.
pub fn prompt_with_image(seed: u8, text: &[u32]) -> SequenceInput {
    let mut ids = vec![1, 3, 5, 5, 5, 5, 4];
    ids.extend_from_slice(text);
    SequenceInput {
        token_ids: ids,
        image: Some(image(seed)),
    }
}
