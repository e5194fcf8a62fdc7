//! A small vision-language policy on candle: ViT-style encoder + Qwen2-architecture decoder.
//!
//! Every path that trains uses differentiable ops: composed candle ops (not candle's fused softmax,
//! RMSNorm or rope, which record no backward pass) or custom ops with their own tested backward.

pub mod checkpoint;
pub mod config;
pub mod decoder;
pub mod error;
pub mod head_logprobs;
pub mod hf;
pub mod layers;
pub mod memory;
pub mod model;
pub mod ops;
pub mod params;
pub mod skinny;
pub mod threads;
pub mod tokenizer;
pub mod vision;

pub use checkpoint::{load_config, load_policy, save_policy};
pub use config::{PolicyConfig, VisionConfig};
pub use error::{PolicyError, Result};
pub use model::{BatchLayout, DecodeState, Policy, SequenceInput};
pub use tokenizer::{
    render_chat, render_chat_for_corpus, ChatMessage, ChatPart, PolicyTokenizer, SpecialTokenIds,
};
pub use vision::ImageInput;
