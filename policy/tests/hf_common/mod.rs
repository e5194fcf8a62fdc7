//! Shared helpers for the Hugging Face parity tests: fixture paths and reference data.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use medgym_policy::hf::{patchify, HfInput, HfModel, RgbImage};
use serde_json::Value;

/// Folder of a fixture under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// `reference.safetensors` of a fixture model.
pub fn reference_tensors(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture(name).join("reference.safetensors"), &Device::Cpu)
        .expect("reference tensors")
}

/// `reference.json` of a fixture model.
pub fn reference_json(name: &str) -> Value {
    let text =
        std::fs::read_to_string(fixture(name).join("reference.json")).expect("reference json");
    serde_json::from_str(&text).expect("reference json parses")
}

/// Token ids stored as a JSON array.
pub fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .expect("id array")
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect()
}

/// A tensor's values as f32 on the host, every one of them finite (`what` names it on failure).
pub fn finite_values(tensor: &Tensor, what: &str) -> Vec<f32> {
    let values = tensor
        .to_device(&Device::Cpu)
        .and_then(|t| t.to_dtype(DType::F32))
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .expect("values on the host");
    if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
        panic!("{what}: value {bad} is {}", values[bad]);
    }
    values
}

/// Largest absolute difference between two tensors of the same shape, on any device; a NaN or
/// infinity in either fails (candle's own `max` would skip NaNs).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    labelled_max_abs_diff(a, b, "compared tensor")
}

/// [`max_abs_diff`], naming the tensors `what` in its failures.
pub fn labelled_max_abs_diff(a: &Tensor, b: &Tensor, what: &str) -> f32 {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes differ");
    let first = finite_values(a, what);
    let second = finite_values(b, what);
    first
        .iter()
        .zip(&second)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The fixture's test image (vision fixtures only).
pub fn fixture_image(name: &str) -> RgbImage {
    let reference = reference_tensors(name);
    let json = reference_json(name);
    RgbImage {
        width: json["width"].as_u64().expect("width") as usize,
        height: json["height"].as_u64().expect("height") as usize,
        pixels: reference["image"]
            .flatten_all()
            .and_then(|t| t.to_vec1::<u8>())
            .expect("bytes"),
    }
}

/// The fixture checkpoint loaded in f32 on `device` gives transformers' vision-tower output and
/// logits of every reference prompt within 1e-4, and its greedy tokens.
pub fn check_against_transformers(name: &str, device: &Device) {
    let model = HfModel::load(&fixture(name), DType::F32, device).expect("load");
    let reference = reference_tensors(name);
    let json = reference_json(name);
    let patches = model.config().vision.clone().map(|vision| {
        let patches = patchify(&fixture_image(name), &vision).expect("patchify");
        let embeds = model
            .image_embeddings(std::slice::from_ref(&patches))
            .expect("vision tower");
        let diff = max_abs_diff(&embeds, &reference["image_embeds"]);
        assert!(diff < 1e-4, "{name}: vision tower output differs by {diff}");
        patches
    });
    for (i, prompt) in json["prompts"]
        .as_array()
        .expect("prompts")
        .iter()
        .enumerate()
    {
        // Vision fixtures say of each prompt whether it carries the image; text ones never do.
        let has_image = match &patches {
            Some(_) => prompt["has_image"].as_bool().expect("has_image flag"),
            None => prompt["has_image"].as_bool().unwrap_or(false),
        };
        let input = HfInput {
            token_ids: ids(&prompt["ids"]),
            images: match (&patches, has_image) {
                (Some(patches), true) => vec![patches.clone()],
                (None, true) => panic!("{name} prompt {i}: an image for a text-only model"),
                _ => Vec::new(),
            },
        };
        let (logits, _) = model
            .forward(std::slice::from_ref(&input))
            .expect("forward");
        let diff = max_abs_diff(
            &logits.squeeze(0).expect("squeeze"),
            &reference[&format!("logits_{i}")],
        );
        assert!(
            diff < 1e-4,
            "{name} prompt {i} (image: {has_image}): max logit diff {diff}"
        );
        let expected = ids(&prompt["greedy"]);
        let greedy = model.greedy(&input, expected.len()).expect("greedy");
        assert_eq!(greedy, expected, "{name} prompt {i}: greedy tokens");
    }
}

/// Two left-padded text sequences whose predicting columns (2 × 40) exceed the skinny product's
/// 64 rows, so the output head runs as the fused op.
pub fn long_text_batch(vocab: usize) -> Vec<medgym_policy::hf::HfInput> {
    [41usize, 30]
        .iter()
        .enumerate()
        .map(|(row, &len)| medgym_policy::hf::HfInput {
            token_ids: (0..len)
                .map(|i| ((row * 7919 + i * 104_729 + 3) % vocab) as u32)
                .collect(),
            images: Vec::new(),
        })
        .collect()
}

/// The bit patterns of a tensor's f32 values, for exact comparisons.
pub fn bits(tensor: &Tensor) -> Vec<u32> {
    let values: Vec<f32> = tensor
        .flatten_all()
        .expect("flat")
        .to_vec1()
        .expect("values");
    values.iter().map(|v| v.to_bits()).collect()
}
