//! Hugging Face checkpoints: Qwen2 / Qwen2.5 text decoders and Qwen2.5-VL, with LoRA in PEFT format.

pub mod config;
pub mod image;
pub mod lora;
pub mod model;
pub mod text;
pub mod tokenizer;
pub mod vision;
pub mod weights;

pub use config::{Architecture, HfConfig, TextConfig, VisionTowerConfig};
pub use image::{patchify, PixelPatches, RgbImage};
pub use lora::{LoraConfig, LoraInit};
pub use model::{HfDecodeState, HfInput, HfModel};
pub use tokenizer::HfTokenizer;
