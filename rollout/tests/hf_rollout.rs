//! Rollouts of Hugging Face checkpoints (the tiny random fixtures of the policy crate) on medgym
//! tasks: prompts with their images, greedy parity with the model's own loop, determinism and
//! batch independence.

use std::path::PathBuf;
use std::sync::Arc;

use candle_core::{DType, Device};
use medgym_envs::{task_at, Split, TaskFamily};
use medgym_kernels::{CpuSampler, SamplingParams};
use medgym_policy::hf::{HfModel, HfTokenizer, ResizeBounds};
use medgym_rollout::{
    encode_hf_prompt, HfPolicy, PromptJob, RolloutConfig, RolloutEngine, RolloutModel,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../policy/tests/fixtures")
        .join(name)
}

fn load(name: &str) -> (HfModel, HfTokenizer, ResizeBounds) {
    let dir = fixture(name);
    let model = HfModel::load(&dir, DType::F32, &Device::Cpu).expect("model");
    let tokenizer = HfTokenizer::from_dir(&dir).expect("tokenizer");
    let bounds = ResizeBounds::from_dir(&dir).expect("bounds");
    (model, tokenizer, bounds)
}

fn jobs(task: &str, items: u64) -> Vec<PromptJob> {
    let task: Arc<dyn TaskFamily> = task_at(task, None).expect("task");
    (0..items)
        .map(|index| PromptJob {
            task: task.clone(),
            item: task.item(Split::Eval, 3, index).expect("item"),
        })
        .collect()
}

fn config(sampling: SamplingParams, rows_per_chunk: usize) -> RolloutConfig {
    RolloutConfig {
        group_size: 2,
        max_new_tokens: 12,
        sampling,
        seed: 11,
        sequence_offset: 0,
        workers: 2,
        rows_per_chunk,
    }
}

#[test]
fn an_image_observation_becomes_a_chat_prompt_with_its_merged_patches() {
    let (model, tokenizer, bounds) = load("qwen25vl");
    let job = &jobs("medsynth/lesion-count-v1", 1)[0];
    let prompt = encode_hf_prompt(&job.task.observation(&job.item), &model, &tokenizer, bounds)
        .expect("prompt");
    assert_eq!(prompt.images.len(), 1);
    let vision = model.config().vision.as_ref().expect("vision tower");
    let merged = prompt.images[0].merged_tokens(vision.spatial_merge_size);
    let pad = model.config().image_token_id.expect("image token");
    let pads = prompt.token_ids.iter().filter(|&&id| id == pad).count();
    assert!(merged > 0);
    assert_eq!(pads, merged, "one placeholder per merged patch");
    let text = tokenizer.decode(&prompt.token_ids, false).expect("decode");
    assert!(
        text.contains(&job.item.question),
        "the question is in the prompt: {text}"
    );
    assert!(
        text.trim_end().ends_with("<|im_start|>assistant"),
        "the generation prompt ends the prompt: {text}"
    );
}

#[test]
fn a_text_only_checkpoint_refuses_images_by_name_and_takes_text_tasks() {
    let (model, tokenizer, bounds) = load("qwen2_tied");
    let job = &jobs("medsynth/lesion-count-v1", 1)[0];
    let err = encode_hf_prompt(&job.task.observation(&job.item), &model, &tokenizer, bounds)
        .expect_err("no vision tower");
    let message = err.to_string();
    assert!(message.contains("no vision tower"), "{message}");
    assert!(message.contains("scan"), "names the image: {message}");
    let sampler = CpuSampler;
    let engine = RolloutEngine::with_model(HfPolicy::new(&model, &tokenizer, bounds), &sampler);
    let batch = engine
        .run(
            &jobs("clinical/bmi-v1", 2),
            &config(SamplingParams::greedy(), 8),
        )
        .expect("text rollout");
    assert_eq!(batch.trajectories.len(), 4);
    assert!(batch
        .trajectories
        .iter()
        .all(|t| t.prompt.images.is_empty()));
}

#[test]
fn greedy_rollouts_follow_the_models_own_greedy_loop() {
    let (model, tokenizer, bounds) = load("qwen25vl");
    let policy = HfPolicy::new(&model, &tokenizer, bounds);
    let banned = policy.prompt_only_tokens();
    assert!(!banned.is_empty());
    let sampler = CpuSampler;
    let engine = RolloutEngine::with_model(policy, &sampler);
    let batch = engine
        .run(
            &jobs("medsynth/lesion-side-v1", 3),
            &config(SamplingParams::greedy(), 8),
        )
        .expect("rollout");
    for trajectory in &batch.trajectories {
        let expected = model.greedy(&trajectory.prompt, 12).expect("greedy");
        let produced = &trajectory.response_ids;
        assert!(!produced.is_empty());
        assert!(
            expected.iter().all(|token| !banned.contains(token)),
            "the model's greedy path avoids prompt-only tokens, so both loops may agree"
        );
        assert_eq!(produced.as_slice(), &expected[..produced.len()]);
        assert!(trajectory.sampler_logprobs.iter().all(|lp| *lp <= 0.0));
    }
}

#[test]
fn sampled_rollouts_repeat_by_seed_and_do_not_depend_on_batching() {
    let (model, tokenizer, bounds) = load("qwen25vl");
    let sampler = CpuSampler;
    let engine = RolloutEngine::with_model(HfPolicy::new(&model, &tokenizer, bounds), &sampler);
    let prompts = jobs("medsynth/modality-v1", 3);
    let sampling = SamplingParams::new(1.0, 0, 0.95);
    let run = |rows_per_chunk| {
        engine
            .run(&prompts, &config(sampling, rows_per_chunk))
            .expect("rollout")
            .trajectories
            .into_iter()
            .map(|t| (t.response_ids, t.sampler_logprobs))
            .collect::<Vec<_>>()
    };
    let batched = run(8);
    assert_eq!(batched, run(8), "same seed, same rollouts");
    let one_by_one = run(1);
    for (row, (batch, single)) in batched.iter().zip(&one_by_one).enumerate() {
        assert_eq!(batch.0, single.0, "row {row}: tokens");
        for (a, b) in batch.1.iter().zip(&single.1) {
            assert!((a - b).abs() < 1e-4, "row {row}: log-prob {a} vs {b}");
        }
    }
    assert_ne!(
        batched[0].0, batched[1].0,
        "the two samples of one prompt draw different tokens"
    );
}
