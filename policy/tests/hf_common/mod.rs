//! Shared helpers for the Hugging Face parity tests: fixture paths and reference data.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
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

/// Largest absolute difference between two tensors of the same shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    (a - b)
        .expect("sub")
        .abs()
        .expect("abs")
        .flatten_all()
        .expect("flatten")
        .max(0)
        .expect("max")
        .to_scalar::<f32>()
        .expect("scalar")
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
