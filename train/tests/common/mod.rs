//! What the Hugging Face training tests share: loading a fixture checkpoint on a device, a mixed
//! rollout of image and text prompts, and a text task whose reward a random checkpoint can learn,
//! with GRPO settings for it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use candle_core::{DType, Device, Var};
use medgym_envs::rewards::RewardBreakdown;
use medgym_envs::{task_at, EnvError, EnvSpec, Split, TaskFamily, TaskItem};
use medgym_kernels::{CpuSampler, SamplingParams};
use medgym_policy::hf::{HfInput, HfModel, HfTokenizer, LoraConfig, LoraInit, ResizeBounds};
use medgym_rewards::Outcome;
use medgym_rollout::{HfPolicy, PromptJob, RolloutBatch, RolloutConfig, RolloutEngine};
use medgym_train::optim::OptimizerConfig;
use medgym_train::{GrpoConfig, SftConfig, TaskStream};

/// A fixture checkpoint of the policy crate, in f32 on `device`.
pub fn load(name: &str, device: &Device) -> (HfModel, HfTokenizer, ResizeBounds) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../policy/tests/fixtures")
        .join(name);
    (
        HfModel::load(&dir, DType::F32, device).expect("model"),
        HfTokenizer::from_dir(&dir).expect("tokenizer"),
        ResizeBounds::from_dir(&dir).expect("bounds"),
    )
}

/// A text task whose reward is the share of the letter `e` in the response: something a random
/// checkpoint can learn to do more of within a few steps.
pub struct LetterTask {
    inner: Arc<dyn TaskFamily>,
}

impl TaskFamily for LetterTask {
    fn spec(&self) -> &EnvSpec {
        self.inner.spec()
    }

    fn item(&self, split: Split, seed: u64, index: u64) -> Result<TaskItem, EnvError> {
        self.inner.item(split, seed, index)
    }

    fn chance(&self) -> f64 {
        0.0
    }

    fn score(&self, _item: &TaskItem, response: &str) -> RewardBreakdown {
        let letters = response.chars().count().max(1);
        let share = response.chars().filter(|&c| c == 'e').count() as f32 / letters as f32;
        RewardBreakdown {
            total: share,
            components: Vec::new(),
            outcome: Outcome::FormatError,
            correct: false,
            format_ok: false,
            extracted: None,
        }
    }
}

/// Training items of [`LetterTask`] over `clinical/bmi-v1`'s prompts.
pub fn letter_stream() -> TaskStream {
    let task: Arc<dyn TaskFamily> = Arc::new(LetterTask {
        inner: task_at("clinical/bmi-v1", None).expect("task"),
    });
    TaskStream::new(vec![task], Split::Train, 3).expect("stream")
}

/// GRPO settings for [`LetterTask`]: a high constant rate, short responses, small groups.
pub fn letter_config(steps: usize, kl_coef: f64) -> GrpoConfig {
    GrpoConfig {
        steps,
        prompts_per_step: 4,
        group_size: 4,
        max_new_tokens: 8,
        sampling: SamplingParams::new(1.0, 0, 1.0),
        clip_low: 0.2,
        clip_high: 0.28,
        kl_coef,
        adv_eps: 1e-6,
        optimizer: OptimizerConfig {
            lr: 3e-2,
            total_steps: steps,
            min_lr_ratio: 1.0,
            ..OptimizerConfig::default()
        },
        workers: 1,
        seed: 9,
        pass_rate_curriculum: false,
        freeze_vision: true,
        updates_per_batch: 1,
    }
}

/// Two items each of an image task and a text task, so that prompts differ in length.
pub fn mixed_jobs() -> Vec<PromptJob> {
    ["medsynth/lesion-count-v1", "clinical/bmi-v1"]
        .into_iter()
        .flat_map(|id| {
            let task = task_at(id, None).expect("task");
            (0..2).map(move |index| PromptJob {
                task: task.clone(),
                item: task.item(Split::Train, 5, index).expect("item"),
            })
        })
        .collect()
}

/// A rollout of [`mixed_jobs`] on `policy`: two samples each, up to 10 tokens at `temperature`.
pub fn rollout(policy: &HfPolicy<'_>, temperature: f32) -> RolloutBatch<Arc<HfInput>> {
    let config = RolloutConfig {
        group_size: 2,
        max_new_tokens: 10,
        sampling: SamplingParams::new(temperature, 0, 1.0),
        seed: 4,
        sequence_offset: 0,
        workers: 1,
        rows_per_chunk: 8,
    };
    RolloutEngine::with_model(policy, &CpuSampler)
        .run(&mixed_jobs(), &config)
        .expect("rollout")
}

/// Each trajectory's prompt, and its response cut to at most `3 + row` tokens (so that responses
/// differ in length).
pub fn prompts_and_cut_responses(
    batch: &RolloutBatch<Arc<HfInput>>,
) -> (Vec<Arc<HfInput>>, Vec<Vec<u32>>) {
    let prompts = batch
        .trajectories
        .iter()
        .map(|t| t.prompt.clone())
        .collect();
    let responses = batch
        .trajectories
        .iter()
        .enumerate()
        .map(|(row, t)| t.response_ids[..t.response_ids.len().min(3 + row)].to_vec())
        .collect();
    (prompts, responses)
}

/// SFT settings for the fixtures: `steps` steps of 2 items at a constant rate of 1e-2.
pub fn sft_config(steps: usize) -> SftConfig {
    SftConfig {
        steps,
        batch_size: 2,
        optimizer: OptimizerConfig {
            lr: 1e-2,
            total_steps: steps,
            min_lr_ratio: 1.0,
            ..OptimizerConfig::default()
        },
    }
}

/// The tied Qwen2 fixture on `device` with its base frozen and rank-4 adapters on `q_proj`,
/// `v_proj` and `up_proj`.
pub fn load_with_adapters(device: &Device) -> (HfModel, HfTokenizer, ResizeBounds) {
    let (mut model, tokenizer, bounds) = load("qwen2_tied", device);
    model.freeze(|_| true).expect("freeze");
    let lora = LoraConfig {
        r: 4,
        lora_alpha: 8.0,
        target_modules: ["q_proj", "v_proj", "up_proj"].map(String::from).to_vec(),
    };
    model
        .add_lora(&lora, LoraInit::Standard { seed: 1 })
        .expect("lora");
    (model, tokenizer, bounds)
}

/// Each parameter's values, by name.
pub fn snapshot(vars: Vec<(String, Var)>) -> Vec<(String, Vec<f32>)> {
    vars.into_iter()
        .map(|(name, var)| {
            let values = var.flatten_all().and_then(|t| t.to_vec1()).expect("values");
            (name, values)
        })
        .collect()
}
