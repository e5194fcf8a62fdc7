//! The Hugging Face models on a CUDA device (feature `cuda`): the same parity with transformers
//! as on the CPU, and training gradients that agree with the CPU's. Skipped with a message when no
//! CUDA device is present.
#![cfg(feature = "cuda")]

mod hf_common;

use candle_core::{DType, Device};
use hf_common::{
    check_against_transformers, finite_values, fixture, labelled_max_abs_diff, long_text_batch,
};
use medgym_policy::hf::HfModel;

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

#[test]
fn checkpoints_match_transformers_on_the_gpu() {
    let Some(device) = cuda_device() else {
        return;
    };
    for name in ["qwen2_tied", "qwen2_untied", "qwen25vl", "qwen2vl"] {
        check_against_transformers(name, &device);
        eprintln!("{name}: logits and greedy tokens match transformers on {device:?}");
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
        let diff = labelled_max_abs_diff(gpu_grad, cpu_grad, &what);
        assert!(
            diff <= 1e-3 * scale,
            "{name} {parameter}: GPU gradient differs by {diff} (largest CPU entry {scale})"
        );
    }
    eprintln!("{name}: {} gradients agree between CPU and GPU", cpu.len());
}
