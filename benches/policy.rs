//! Policy throughput on CPU with random f32 weights: batched generation, an SFT step, GRPO's
//! scoring of one group, and batch-1 generation at the Qwen2.5-0.5B shape.

use std::time::{Duration, Instant};

use candle_core::{DType, Device};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medgym::kernels::{sample_tensor, CpuSampler, RandomKey, SamplingParams};
use medgym::policy::hf::{HfConfig, HfInput, HfModel};
use medgym::train::optim::{Optimizer, OptimizerConfig};

const VOCAB: usize = 151_936;

/// The process settings the medgym binary makes at start-up: reuse freed buffers, and a settled
/// thread count (see `medgym_policy::memory` and `medgym_policy::threads`).
fn process_settings() {
    medgym::policy::memory::retain_freed_memory();
    medgym::policy::threads::settle_thread_count();
}

fn small_model() -> HfModel {
    process_settings();
    let cfg = HfConfig::qwen2_text(VOCAB, 256, 688, 4, 4, 2, 4096, true).expect("config");
    HfModel::new_random(&cfg, 1, DType::F32, &Device::Cpu).expect("model")
}

fn prompts(batch: usize, len: usize) -> Vec<HfInput> {
    (0..batch)
        .map(|r| HfInput {
            token_ids: (0..len)
                .map(|i| ((r * 7919 + i * 104_729) % VOCAB) as u32)
                .collect(),
            images: Vec::new(),
        })
        .collect()
}

/// Prefill `inputs`, then sample `new_tokens` per row with top-p; returns generated tokens.
fn generate(
    model: &HfModel,
    inputs: &[HfInput],
    new_tokens: usize,
    params: SamplingParams,
) -> usize {
    let rows = inputs.len();
    let (mut state, mut logits) = model.prefill(inputs, new_tokens).expect("prefill");
    let sampler = CpuSampler;
    let mut produced = 0;
    for step in 0..new_tokens {
        let keys: Vec<RandomKey> = (0..rows as u64)
            .map(|r| RandomKey::new(3, r, step as u64))
            .collect();
        // The sampler reads the logits tensor in place.
        let picked =
            sample_tensor(&sampler, &logits, &vec![params; rows], &keys, &[]).expect("sample");
        produced += picked.len();
        if step + 1 < new_tokens {
            let tokens: Vec<u32> = picked.iter().map(|p| p.token).collect();
            logits = model.decode(&mut state, &tokens).expect("decode");
        }
    }
    produced
}

fn generation_batch32(c: &mut Criterion) {
    let model = small_model();
    let inputs = prompts(32, 64);
    let params = SamplingParams::new(1.0, 0, 0.9);
    let mut group = c.benchmark_group("policy_qwen2_h256");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(32 * 64));
    group.bench_function("generate_b32_p64_n64_top_p0.9", |b| {
        b.iter(|| generate(&model, &inputs, 64, params))
    });
    group.finish();
}

fn sft_step(c: &mut Criterion) {
    let model = small_model();
    let inputs = prompts(8, 256);
    let mut optimizer = Optimizer::new(
        model.named_vars(),
        OptimizerConfig {
            lr: 1e-5,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            max_grad_norm: 1.0,
            warmup_steps: 1,
            total_steps: 1_000_000,
            min_lr_ratio: 1.0,
        },
    )
    .expect("optimizer");
    let mut group = c.benchmark_group("policy_qwen2_h256");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60));
    group.bench_function("sft_step_8x256", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let logp = model.token_logprobs(&inputs).expect("logprobs");
                let loss = (logp.sum_all().expect("sum").neg().expect("neg") / (8.0 * 255.0))
                    .expect("mean");
                optimizer.backward_step(&loss).expect("step");
            }
            start.elapsed()
        })
    });
    group.finish();
}

/// GRPO's scoring of one group: 8 responses of 64 tokens to one 256-token prompt, forward and
/// backward, as concatenated sequences (the prompt run 8 times) and as continuations of the
/// prompt run once.
fn group_scoring(c: &mut Criterion) {
    let model = small_model();
    let prompt = prompts(1, 256).remove(0);
    let responses: Vec<Vec<u32>> = prompts(8, 64).into_iter().map(|r| r.token_ids).collect();
    let sequences: Vec<HfInput> = responses
        .iter()
        .map(|response| HfInput {
            token_ids: prompt.token_ids.iter().chain(response).copied().collect(),
            images: Vec::new(),
        })
        .collect();
    let picks: Vec<(usize, usize)> = (0..8)
        .flat_map(|row| (0..64).map(move |t| (row, 256 + t)))
        .collect();
    let rows: Vec<(usize, &[u32])> = responses.iter().map(|r| (0, r.as_slice())).collect();
    let backward = |logp: candle_core::Tensor| {
        logp.sum_all()
            .and_then(|loss| loss.backward())
            .expect("backward")
    };
    let mut group = c.benchmark_group("policy_qwen2_h256");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(8 * 64));
    group.bench_function("group_scoring_8x64_after_256_concatenated", |b| {
        b.iter(|| {
            backward(
                model
                    .position_logprobs(&sequences, &picks)
                    .expect("logprobs"),
            )
        })
    });
    group.bench_function("group_scoring_8x64_after_256_shared_prompt", |b| {
        b.iter(|| {
            backward(
                model
                    .continuation_logprobs(std::slice::from_ref(&prompt), &rows)
                    .expect("logprobs"),
            )
        })
    });
    group.finish();
}

fn generation_qwen25_05b(c: &mut Criterion) {
    process_settings();
    let cfg = HfConfig::qwen2_text(VOCAB, 896, 4864, 24, 14, 2, 4096, true).expect("config");
    let model = HfModel::new_random(&cfg, 2, DType::F32, &Device::Cpu).expect("model");
    let inputs = prompts(1, 64);
    let mut group = c.benchmark_group("policy_qwen25_0.5b_shape");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(40));
    group.throughput(Throughput::Elements(32));
    group.bench_function("generate_b1_p64_n32_greedy", |b| {
        b.iter(|| generate(&model, &inputs, 32, SamplingParams::greedy()))
    });
    group.finish();
}

criterion_group!(
    benches,
    generation_batch32,
    sft_step,
    group_scoring,
    generation_qwen25_05b
);
criterion_main!(benches);
