//! Throughput of the pipeline's parts: reward scoring, CPU sampling, and grouped rollouts.

use candle_core::{DType, Device};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medgym::envs::{medsynth_v1_task_ids, task, Split};
use medgym::kernels::{CpuSampler, RandomKey, Sampler, SamplingParams};
use medgym::policy::Policy;
use medgym::rollout::{PromptJob, RolloutConfig, RolloutEngine};
use medgym::tokenizer_asset::builtin_tokenizer;
use medgym::PipelineConfig;

fn scoring(c: &mut Criterion) {
    let family = task("medsynth/lesion-count-v1").expect("built-in task");
    let items: Vec<_> = (0..256)
        .map(|i| family.item(Split::Eval, 0, i).expect("item"))
        .collect();
    let mut group = c.benchmark_group("rewards");
    group.throughput(Throughput::Elements(items.len() as u64));
    group.bench_function("score_reference_responses", |b| {
        b.iter(|| {
            items
                .iter()
                .filter(|item| family.score(item, &item.reference_response).correct)
                .count()
        })
    });
    group.finish();
}

fn sampling(c: &mut Criterion) {
    let (rows, vocab) = (64usize, 436usize);
    let logits: Vec<f32> = (0..rows * vocab)
        .map(|i| ((i * 7919) % 1000) as f32 / 100.0)
        .collect();
    let keys: Vec<RandomKey> = (0..rows as u64)
        .map(|r| RandomKey {
            seed: 1,
            sequence: r,
            step: 0,
        })
        .collect();
    let mut group = c.benchmark_group("sampler_cpu_64x436");
    for (name, params) in [
        ("greedy", SamplingParams::greedy()),
        ("temperature", SamplingParams::default()),
        ("top_k_50", SamplingParams::new(1.0, 50, 1.0)),
        ("top_p_0.9", SamplingParams::new(1.0, 0, 0.9)),
        (
            "min_p_0.05",
            SamplingParams {
                min_p: 0.05,
                ..SamplingParams::default()
            },
        ),
    ] {
        let p = vec![params; rows];
        group.bench_function(name, |b| {
            b.iter(|| {
                CpuSampler
                    .sample(&logits, vocab, &p, &keys)
                    .expect("sample")
            })
        });
    }
    group.finish();
}

fn rollout(c: &mut Criterion) {
    let tokenizer = builtin_tokenizer().expect("tokenizer");
    for preset in ["smoke", "default"] {
        let config = PipelineConfig::preset(preset, 0).expect("preset");
        let policy = Policy::new_random(
            &config.model.policy_config(&tokenizer),
            0,
            DType::F32,
            &Device::Cpu,
        )
        .expect("policy");
        let jobs: Vec<PromptJob> = medsynth_v1_task_ids()
            .iter()
            .flat_map(|id| {
                let family = task(id).expect("task");
                (0..4).map(move |i| PromptJob {
                    item: family.item(Split::Train, 0, i).expect("item"),
                    task: family.clone(),
                })
            })
            .collect();
        let cfg = RolloutConfig {
            group_size: 8,
            max_new_tokens: 24,
            sampling: SamplingParams::default(),
            seed: 0,
            sequence_offset: 0,
            workers: 2,
            rows_per_chunk: 64,
        };
        let mut group = c.benchmark_group(format!("rollout_{preset}_16x8"));
        group.sample_size(10);
        group.bench_function("generate_and_score", |b| {
            b.iter(|| {
                RolloutEngine::new(&policy, &tokenizer, &CpuSampler)
                    .run(&jobs, &cfg)
                    .expect("rollout")
                    .timings
                    .generated_tokens
            })
        });
        group.finish();
    }
}

criterion_group!(benches, scoring, sampling, rollout);
criterion_main!(benches);
