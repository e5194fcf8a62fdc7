//! The Hugging Face models on a CUDA device (feature `cuda`): the same parity with transformers
//! as on the CPU, and training gradients that agree with the CPU's. Skipped with a message when no
//! CUDA device is present.
#![cfg(feature = "cuda")]

mod hf_common;

use candle_core::{DType, Device, Tensor};
use hf_common::{fixture, ids, long_text_batch, reference_json, reference_tensors};
use medgym_policy::hf::{patchify, HfInput, HfModel, RgbImage};

/// CUDA device 0, or `None` (with a message) when there is none.
fn cuda_device() -> Option<Device> {
    match Device::new_cuda(0) {
        Ok(device) => Some(device),
        Err(error) => {
            eprintln!("SKIP: needs a CUDA device: {error}");
            None
        }
    }
}

/// A tensor's values on the host, every one of them finite.
fn finite_values(tensor: &Tensor, what: &str) -> Vec<f32> {
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

/// Largest difference between a tensor and a reference of the same shape (a NaN fails).
fn max_difference(tensor: &Tensor, reference: &Tensor, what: &str) -> f32 {
    assert_eq!(tensor.dims(), reference.dims(), "{what}: shapes differ");
    let got = finite_values(tensor, what);
    let want = finite_values(reference, what);
    got.iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// The fixture's image (vision fixtures only).
fn fixture_image(name: &str) -> RgbImage {
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

/// Logits of every prompt within 1e-4 of transformers' and the same greedy tokens, on `device`.
fn check_fixture(name: &str, device: &Device) {
    let model = HfModel::load(&fixture(name), DType::F32, device).expect("load on the device");
    let reference = reference_tensors(name);
    let json = reference_json(name);
    let patches = model.config().vision.clone().map(|vision| {
        let patches = patchify(&fixture_image(name), &vision).expect("patchify");
        let embeds = model
            .image_embeddings(std::slice::from_ref(&patches))
            .expect("vision tower");
        let diff = max_difference(&embeds, &reference["image_embeds"], name);
        assert!(diff < 1e-4, "{name}: vision tower output differs by {diff}");
        patches
    });
    for (i, prompt) in json["prompts"]
        .as_array()
        .expect("prompts")
        .iter()
        .enumerate()
    {
        let has_image = prompt["has_image"].as_bool().unwrap_or(false);
        let input = HfInput {
            token_ids: ids(&prompt["ids"]),
            images: match (&patches, has_image) {
                (Some(patches), true) => vec![patches.clone()],
                _ => Vec::new(),
            },
        };
        let (logits, _) = model
            .forward(std::slice::from_ref(&input))
            .expect("forward");
        let diff = max_difference(
            &logits.squeeze(0).expect("squeeze"),
            &reference[&format!("logits_{i}")],
            name,
        );
        assert!(diff < 1e-4, "{name} prompt {i}: max logit diff {diff}");
        let steps = ids(&prompt["greedy"]).len();
        let greedy = model.greedy(&input, steps).expect("greedy");
        assert_eq!(greedy, ids(&prompt["greedy"]), "{name} prompt {i}: greedy");
    }
    eprintln!("{name}: logits and greedy tokens match transformers on {device:?}");
}

#[test]
fn checkpoints_match_transformers_on_the_gpu() {
    let Some(device) = cuda_device() else {
        return;
    };
    for name in ["qwen2_tied", "qwen2_untied", "qwen25vl", "qwen2vl"] {
        check_fixture(name, &device);
    }
}

#[test]
fn gpu_gradients_agree_with_the_cpu() {
    let Some(device) = cuda_device() else {
        return;
    };
    for name in ["qwen2_tied", "qwen2_untied", "qwen25vl"] {
        compare_gradients(name, &device);
    }
}

/// Every trainable parameter's gradient of a text batch's log-probs, on the CPU and on `device`:
/// within 1e-3 of the tensor's largest CPU entry.
fn compare_gradients(name: &str, device: &Device) {
    let on_cpu = HfModel::load(&fixture(name), DType::F32, &Device::Cpu).expect("cpu model");
    let on_gpu = HfModel::load(&fixture(name), DType::F32, device).expect("gpu model");
    let inputs = long_text_batch(on_cpu.config().text.vocab_size);
    let gradients = |model: &HfModel| {
        let logp = model.token_logprobs(&inputs).expect("log-probs");
        let loss = logp.sum_all().expect("sum");
        let grads = loss.backward().expect("backward");
        let vars = model.trainable_vars(|_| true);
        assert!(!vars.is_empty());
        vars.into_iter()
            .map(|(name, var)| {
                let grad = grads
                    .get(var.as_tensor())
                    .unwrap_or_else(|| panic!("{name} got no gradient"))
                    .to_device(&Device::Cpu)
                    .expect("to host");
                (name, grad)
            })
            .collect::<Vec<_>>()
    };
    let cpu = gradients(&on_cpu);
    let gpu = gradients(&on_gpu);
    assert_eq!(cpu.len(), gpu.len());
    for ((parameter, cpu_grad), (gpu_parameter, gpu_grad)) in cpu.iter().zip(&gpu) {
        assert_eq!(parameter, gpu_parameter);
        let what = format!("{name} {parameter}");
        let scale = finite_values(cpu_grad, &what)
            .iter()
            .fold(1e-6f32, |largest, v| largest.max(v.abs()));
        let diff = max_difference(gpu_grad, cpu_grad, &what);
        assert!(
            diff <= 1e-3 * scale,
            "{name} {parameter}: GPU gradient differs by {diff} (largest CPU entry {scale})"
        );
    }
    eprintln!("{name}: {} gradients agree between CPU and GPU", cpu.len());
}
