//! Rollouts, SFT and GRPO on Hugging Face checkpoints held on a CUDA device (feature `cuda`):
//! greedy rollouts give the CPU's tokens, training log-probabilities and SFT steps follow the CPU's
//! within rounding, and GRPO raises a learnable reward with LoRA or full weights. Skipped with a
//! message when no CUDA device is present.
#![cfg(feature = "cuda")]

mod common;

use candle_core::Device;
use common::{
    letter_config, letter_stream, load, load_with_adapters, prompts_and_cut_responses, rollout,
    sft_config, snapshot,
};
use medgym_envs::{task_at, Split};
use medgym_kernels::CpuSampler;
use medgym_policy::hf::HfModel;
use medgym_rollout::HfPolicy;
use medgym_train::{hf_response_logprobs, run_grpo_on, run_sft_on, TaskStream, TrainModel};

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

/// The largest absolute difference between two equally shaped lists of rows.
fn max_row_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

#[test]
fn greedy_rollouts_and_training_log_probs_on_the_gpu_match_the_cpu() {
    let Some(device) = cuda_device() else {
        return;
    };
    let (cpu_model, tokenizer, bounds) = load("qwen25vl", &Device::Cpu);
    let (gpu_model, _, _) = load("qwen25vl", &device);
    let cpu = HfPolicy::new(&cpu_model, &tokenizer, bounds).expect("cpu policy");
    let gpu = HfPolicy::new(&gpu_model, &tokenizer, bounds).expect("gpu policy");
    let (on_cpu, on_gpu) = (rollout(&cpu, 0.0), rollout(&gpu, 0.0));
    for (a, b) in on_cpu.trajectories.iter().zip(&on_gpu.trajectories) {
        assert_eq!(a.response_ids, b.response_ids, "greedy tokens");
        let diff = max_row_diff(
            std::slice::from_ref(&a.sampler_logprobs),
            std::slice::from_ref(&b.sampler_logprobs),
        );
        assert!(diff < 1e-4, "sampler log-probs differ by {diff}");
    }
    let (prompts, responses) = prompts_and_cut_responses(&on_cpu);
    let scored = |model: &HfModel| -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        let scored = hf_response_logprobs(model, &prompts, &responses).expect("log-probs");
        (
            scored.logp.to_vec2().expect("logp"),
            scored.mask.to_vec2().expect("mask"),
        )
    };
    let ((cpu_logp, cpu_mask), (gpu_logp, gpu_mask)) = (scored(&cpu_model), scored(&gpu_model));
    assert_eq!(cpu_mask, gpu_mask);
    let diff = max_row_diff(&cpu_logp, &gpu_logp);
    eprintln!(
        "{} greedy rollouts equal; training log-probs differ by at most {diff:.2e}",
        on_cpu.trajectories.len()
    );
    assert!(diff < 1e-4, "training log-probs differ by {diff}");
}

#[test]
fn sft_steps_on_the_gpu_follow_the_cpu() {
    let Some(device) = cuda_device() else {
        return;
    };
    let task = task_at("medsynth/lesion-count-v1", None).expect("task");
    let stream = TaskStream::new(vec![task], Split::Train, 2).expect("stream");
    let steps = 6;
    let config = sft_config(steps);
    let run = |device: &Device| -> (Vec<f64>, Vec<(String, Vec<f32>)>) {
        let (model, tokenizer, bounds) = load("qwen25vl", device);
        let policy = HfPolicy::new(&model, &tokenizer, bounds).expect("policy");
        let losses = run_sft_on(&policy, true, &stream, &config, |_| {})
            .expect("sft")
            .iter()
            .map(|m| m.loss)
            .collect();
        (losses, snapshot(policy.trainable(true)))
    };
    let (cpu_losses, cpu_weights) = run(&Device::Cpu);
    let (gpu_losses, gpu_weights) = run(&device);
    eprintln!("SFT loss by step, CPU: {cpu_losses:?}\n                   GPU: {gpu_losses:?}");
    for (step, (a, b)) in cpu_losses.iter().zip(&gpu_losses).enumerate() {
        assert!((a - b).abs() < 1e-3 * a.abs(), "step {step}: {a} vs {b}");
    }
    assert!(
        gpu_losses[steps - 1] < 0.7 * gpu_losses[0],
        "{gpu_losses:?}"
    );
    assert_eq!(cpu_weights.len(), gpu_weights.len());
    let mut worst = (String::new(), 0.0f32);
    for ((name, a), (other, b)) in cpu_weights.iter().zip(&gpu_weights) {
        assert_eq!(name, other);
        let scale = a.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
        let diff = max_row_diff(std::slice::from_ref(a), std::slice::from_ref(b)) / scale;
        if diff > worst.1 {
            worst = (name.clone(), diff);
        }
    }
    eprintln!(
        "after {steps} steps the weights differ by at most {:.2e} of a tensor's largest entry ({})",
        worst.1, worst.0
    );
    assert!(worst.1 < 1e-3, "{} differs by {}", worst.0, worst.1);
}

fn mean(part: &[f64]) -> f64 {
    part.iter().sum::<f64>() / part.len() as f64
}

#[test]
fn grpo_on_the_gpu_raises_a_learnable_reward() {
    let Some(device) = cuda_device() else {
        return;
    };
    let rewards = |device: &Device| -> Vec<f64> {
        let (mut model, tokenizer, bounds) = load("qwen2_tied", device);
        model.unfreeze(|_| true).expect("unfreeze");
        let policy = HfPolicy::new(&model, &tokenizer, bounds).expect("policy");
        let metrics = run_grpo_on(
            &policy,
            &CpuSampler,
            &letter_stream(),
            &letter_config(16, 0.01),
            |_| {},
        )
        .expect("grpo");
        assert!(metrics.iter().all(|m| m.loss.is_finite()), "{metrics:?}");
        metrics
            .iter()
            .map(|m| m.reward_mean.expect("reward"))
            .collect()
    };
    let (on_cpu, on_gpu) = (rewards(&Device::Cpu), rewards(&device));
    eprintln!("reward by step, CPU: {on_cpu:?}\n                GPU: {on_gpu:?}");
    let (first, last) = (mean(&on_gpu[..4]), mean(&on_gpu[on_gpu.len() - 4..]));
    assert!(
        last > first + 0.05,
        "reward rose from {first:.3} to {last:.3} only"
    );
    assert_eq!(on_gpu, rewards(&device), "same seed, same run on the GPU");
}

#[test]
fn lora_grpo_on_the_gpu_trains_only_the_adapters() {
    let Some(device) = cuda_device() else {
        return;
    };
    let (model, tokenizer, bounds) = load_with_adapters(&device);
    let base_before = snapshot(model.named_vars());
    let lora_before = snapshot(model.lora_vars());
    let policy = HfPolicy::new(&model, &tokenizer, bounds).expect("policy");
    let metrics = run_grpo_on(
        &policy,
        &CpuSampler,
        &letter_stream(),
        &letter_config(4, 0.05),
        |_| {},
    )
    .expect("grpo");
    assert!(
        metrics.iter().any(|m| m.loss.is_finite()),
        "a step learned: {metrics:?}"
    );
    assert_eq!(snapshot(model.named_vars()), base_before, "the base stays");
    assert_ne!(
        snapshot(model.lora_vars()),
        lora_before,
        "the adapters moved"
    );
}
