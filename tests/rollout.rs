//! Rollouts are a pure function of (policy, prompts, seed, chunking): the number of worker threads
//! changes nothing, and a different chunking changes log-probabilities only by rounding.

use candle_core::{DType, Device};
use medgym::envs::{task, Split};
use medgym::kernels::{CpuSampler, SamplingParams};
use medgym::policy::Policy;
use medgym::rollout::{PromptJob, RolloutConfig, RolloutEngine};
use medgym::tokenizer_asset::builtin_tokenizer;
use medgym::PipelineConfig;

#[test]
fn rollouts_do_not_depend_on_threads_or_chunking() {
    let tokenizer = builtin_tokenizer().unwrap();
    let config = PipelineConfig::preset("smoke", 0).unwrap();
    let policy = Policy::new_random(
        &config.model.policy_config(&tokenizer),
        1,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let family = task("medsynth/lesion-count-v1").unwrap();
    let jobs: Vec<PromptJob> = (0..3)
        .map(|i| PromptJob {
            task: family.clone(),
            item: family.item(Split::Train, 5, i).unwrap(),
        })
        .collect();
    let run = |workers: usize, rows_per_chunk: usize, seed: u64| {
        let cfg = RolloutConfig {
            group_size: 4,
            max_new_tokens: 12,
            sampling: SamplingParams::default(),
            seed,
            sequence_offset: 0,
            workers,
            rows_per_chunk,
        };
        RolloutEngine::new(&policy, &tokenizer, &CpuSampler)
            .run(&jobs, &cfg)
            .unwrap()
            .trajectories
    };
    let a = run(1, 5, 9);
    let b = run(2, 5, 9);
    assert_eq!(a.len(), 12);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x.group, x.sample), (y.group, y.sample));
        assert_eq!(x.response_ids, y.response_ids);
        assert_eq!(x.sampler_logprobs, y.sampler_logprobs);
        assert_eq!(x.reward, y.reward);
    }
    // Another batch composition: same tokens, log-probabilities equal up to rounding.
    let whole = run(2, 12, 9);
    for (x, y) in a.iter().zip(&whole) {
        assert_eq!(x.response_ids, y.response_ids);
        for (p, q) in x.sampler_logprobs.iter().zip(&y.sampler_logprobs) {
            assert!((p - q).abs() < 1e-4, "{p} vs {q}");
        }
    }
    // Samples within a group differ (random model, temperature 1) and a new seed changes them.
    assert!(a
        .iter()
        .take(4)
        .any(|t| t.response_ids != a[0].response_ids));
    let c = run(2, 5, 10);
    assert!(a
        .iter()
        .zip(&c)
        .any(|(x, y)| x.response_ids != y.response_ids));
    // Never a vision or padding token in a response.
    let special = tokenizer.special();
    for t in &a {
        assert!(!t.response_ids.contains(&special.image_pad));
        assert!(!t.response_ids.contains(&special.endoftext));
    }
}
