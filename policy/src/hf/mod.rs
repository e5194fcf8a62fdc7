//! Hugging Face checkpoints: Qwen2 / Qwen2.5 text decoders and Qwen2.5-VL, with LoRA in PEFT format.

pub mod adapters;
pub mod config;
mod continuation;
mod embedding;
pub(crate) mod grouped_attention;
pub mod image;
mod image_table;
pub mod lora;
pub mod model;
pub(crate) mod resample;
pub mod text;
pub mod tokenizer;
pub mod training;
pub mod vision;
pub mod weights;

pub use config::{Architecture, HfConfig, TextConfig, VisionKind, VisionTowerConfig};
pub use continuation::Continuation;
pub use image::{
    decode_rgb, image_placeholder, patchify, preprocess, resize_rgb, rgb_on_white, smart_resize,
    PixelPatches, ResizeBounds, RgbImage, IMAGE_PAD,
};
pub use lora::{LoraConfig, LoraInit, DECODER_PROJECTIONS};
pub use model::{HfDecodeState, HfInput, HfModel};
pub use tokenizer::HfTokenizer;
pub use training::{is_vision_parameter, VISION_PREFIX};

/// The device to run on: CUDA device `ordinal` when asked for (needs the `cuda` feature), else the CPU.
pub fn select_device(cuda_ordinal: Option<usize>) -> crate::Result<candle_core::Device> {
    match cuda_ordinal {
        Some(ordinal) => Ok(candle_core::Device::new_cuda(ordinal)?),
        None => Ok(candle_core::Device::Cpu),
    }
}
