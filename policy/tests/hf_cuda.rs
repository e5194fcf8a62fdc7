//! The Hugging Face models on a CUDA device (feature `cuda`): the same parity with transformers
//! as on the CPU, and training gradients that agree with the CPU's. Skipped with a message when no
//! CUDA device is present.
#![cfg(feature = "cuda")]

mod hf_common;

use candle_core::{DType, Device, Tensor};
use hf_common::{fixture, ids, long_text_batch, max_abs_diff, reference_json, reference_tensors};
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

/// Largest difference between a device tensor and a host reference.
fn diff_to_host(device_tensor: &Tensor, reference: &Tensor) -> f32 {
    max_abs_diff(
        &device_tensor.to_device(&Device::Cpu).expect("to host"),
        reference,
    )
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
        let diff = diff_to_host(&embeds, &reference["image_embeds"]);
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
        let diff = diff_to_host(
            &logits.squeeze(0).expect("squeeze"),
            &reference[&format!("logits_{i}")],
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
    let name = "qwen2_untied";
    let on_cpu = HfModel::load(&fixture(name), DType::F32, &Device::Cpu).expect("cpu model");
    let on_gpu = HfModel::load(&fixture(name), DType::F32, &device).expect("gpu model");
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
    for ((name, cpu_grad), (gpu_name, gpu_grad)) in cpu.iter().zip(&gpu) {
        assert_eq!(name, gpu_name);
        let scale = cpu_grad
            .abs()
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.max(0))
            .and_then(|t| t.to_scalar::<f32>())
            .expect("scale")
            .max(1e-6);
        let diff = max_abs_diff(cpu_grad, gpu_grad);
        assert!(
            diff <= 1e-3 * scale,
            "{name}: GPU gradient differs by {diff} (largest CPU entry {scale})"
        );
    }
    eprintln!("{} gradients agree between CPU and GPU", cpu.len());
}
