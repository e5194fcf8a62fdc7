//! Pipeline settings and the named presets.

use medgym_kernels::SamplingParams;
use medgym_policy::{PolicyConfig, PolicyTokenizer, VisionConfig};
use medgym_train::optim::OptimizerConfig;
use medgym_train::{GrpoConfig, SftConfig};
use serde::Serialize;

use crate::error::{MedgymError, Result};

/// Sizes of the policy built for a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelShape {
    /// Decoder width.
    pub hidden_size: usize,
    /// Decoder MLP width.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Vision encoder width.
    pub vision_hidden_size: usize,
    /// Vision encoder blocks.
    pub vision_depth: usize,
    /// Vision attention heads.
    pub vision_heads: usize,
    /// Vision MLP width.
    pub vision_intermediate_size: usize,
}

impl ModelShape {
    /// The policy config for this shape and tokenizer (64×64 grayscale images, 8×8 patches).
    pub fn policy_config(&self, tokenizer: &PolicyTokenizer) -> PolicyConfig {
        let special = tokenizer.special();
        PolicyConfig {
            model_type: "medgym_vl".into(),
            vocab_size: tokenizer.vocab_size(),
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_hidden_layers: self.layers,
            num_attention_heads: self.heads,
            num_key_value_heads: self.kv_heads,
            max_position_embeddings: 256,
            rope_theta: 10000.0,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: true,
            image_token_id: special.image_pad,
            vision_start_token_id: special.vision_start,
            vision_end_token_id: special.vision_end,
            eos_token_id: special.im_end,
            pad_token_id: special.endoftext,
            vision_config: VisionConfig {
                image_size: 64,
                patch_size: 8,
                in_channels: 1,
                hidden_size: self.vision_hidden_size,
                depth: self.vision_depth,
                num_heads: self.vision_heads,
                intermediate_size: self.vision_intermediate_size,
                spatial_merge_size: 2,
            },
        }
    }
}

/// Everything a pipeline run needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineConfig {
    /// Preset name.
    pub preset: String,
    /// Seed of every random choice in the run.
    pub seed: u64,
    /// Task ids to train and evaluate on.
    pub tasks: Vec<String>,
    /// Policy sizes.
    pub model: ModelShape,
    /// SFT settings.
    pub sft: SftConfig,
    /// GRPO settings.
    pub grpo: GrpoConfig,
    /// Held-out items per task.
    pub eval_items_per_task: usize,
    /// Longest evaluated response.
    pub eval_max_new_tokens: usize,
    /// Worker threads for rollouts.
    pub workers: usize,
    /// Start from this checkpoint instead of a freshly initialised policy.
    pub init_checkpoint: Option<std::path::PathBuf>,
    /// SFT items per cycle for the named tasks (tasks not named get 1; 0 leaves a task out of SFT).
    pub sft_task_weights: std::collections::BTreeMap<String, u32>,
}

fn optimizer(lr: f64, steps: usize, warmup: usize, min_lr_ratio: f64) -> OptimizerConfig {
    OptimizerConfig {
        lr,
        weight_decay: 0.0,
        beta1: 0.9,
        beta2: 0.98,
        eps: 1e-8,
        max_grad_norm: 1.0,
        warmup_steps: warmup,
        total_steps: steps,
        min_lr_ratio,
    }
}

impl PipelineConfig {
    /// The SFT weight of each task in `tasks` order; an error names a weighted task not in the run.
    pub fn sft_weights(&self) -> Result<Vec<u32>> {
        if let Some(unknown) = self
            .sft_task_weights
            .keys()
            .find(|id| !self.tasks.contains(id))
        {
            return Err(MedgymError::InvalidSetting {
                field: "sft task weight".into(),
                reason: format!(
                    "`{unknown}` is not a task of this run; its tasks are {}",
                    self.tasks.join(", ")
                ),
            });
        }
        Ok(self
            .tasks
            .iter()
            .map(|id| self.sft_task_weights.get(id).copied().unwrap_or(1))
            .collect())
    }

    /// Sets SFT weights from `ID=WEIGHT` strings; an error names the malformed one.
    pub fn with_sft_weight_args(mut self, args: &[String]) -> Result<Self> {
        for arg in args {
            let parsed = arg
                .split_once('=')
                .filter(|(id, _)| !id.trim().is_empty())
                .and_then(|(id, weight)| Some((id.trim(), weight.trim().parse::<u32>().ok()?)));
            let (id, weight) = parsed.ok_or_else(|| MedgymError::InvalidSetting {
                field: "--sft-task-weight".into(),
                reason: format!("`{arg}` is not TASK_ID=WEIGHT with a whole-number weight"),
            })?;
            self.sft_task_weights.insert(id.to_string(), weight);
        }
        self.sft_weights()?;
        Ok(self)
    }

    /// Replace the step counts (schedules follow) and eval size where given.
    pub fn with_overrides(
        mut self,
        sft_steps: Option<usize>,
        grpo_steps: Option<usize>,
        eval_items: Option<usize>,
    ) -> Self {
        if let Some(steps) = sft_steps {
            self.sft.steps = steps;
            self.sft.optimizer.total_steps = steps;
            self.sft.optimizer.warmup_steps = self.sft.optimizer.warmup_steps.min(steps / 4);
        }
        if let Some(steps) = grpo_steps {
            self.grpo.steps = steps;
            self.grpo.optimizer.total_steps = steps;
            self.grpo.optimizer.warmup_steps = self.grpo.optimizer.warmup_steps.min(steps / 4);
        }
        if let Some(n) = eval_items {
            self.eval_items_per_task = n;
        }
        self
    }

    /// The named preset (`default` or `smoke`) with `seed`.
    pub fn preset(name: &str, seed: u64) -> Result<Self> {
        let tasks = medgym_envs::medsynth_v1_task_ids();
        let workers = 2;
        match name {
            "default" => Ok(Self {
                preset: name.into(),
                seed,
                tasks,
                model: ModelShape {
                    hidden_size: 128,
                    intermediate_size: 384,
                    layers: 3,
                    heads: 4,
                    kv_heads: 2,
                    vision_hidden_size: 64,
                    vision_depth: 2,
                    vision_heads: 4,
                    vision_intermediate_size: 128,
                },
                sft: SftConfig {
                    steps: 300,
                    batch_size: 32,
                    optimizer: optimizer(2e-3, 300, 30, 0.1),
                },
                grpo: GrpoConfig {
                    steps: 70,
                    prompts_per_step: 16,
                    group_size: 8,
                    max_new_tokens: 40,
                    sampling: SamplingParams::new(0.7, 0, 1.0),
                    clip_low: 0.2,
                    clip_high: 0.28,
                    kl_coef: 0.05,
                    adv_eps: 1e-6,
                    optimizer: optimizer(1e-4, 70, 5, 1.0),
                    workers,
                    seed: seed.wrapping_add(1),
                    pass_rate_curriculum: true,
                    freeze_vision: true,
                    updates_per_batch: 1,
                },
                eval_items_per_task: 250,
                eval_max_new_tokens: 40,
                workers,
                init_checkpoint: None,
                sft_task_weights: Default::default(),
            }),
            "smoke" => Ok(Self {
                preset: name.into(),
                seed,
                tasks,
                model: ModelShape {
                    hidden_size: 64,
                    intermediate_size: 128,
                    layers: 2,
                    heads: 4,
                    kv_heads: 2,
                    vision_hidden_size: 32,
                    vision_depth: 1,
                    vision_heads: 2,
                    vision_intermediate_size: 64,
                },
                sft: SftConfig {
                    steps: 60,
                    batch_size: 16,
                    optimizer: optimizer(3e-3, 60, 5, 0.1),
                },
                grpo: GrpoConfig {
                    steps: 3,
                    prompts_per_step: 4,
                    group_size: 4,
                    max_new_tokens: 32,
                    sampling: SamplingParams::default(),
                    clip_low: 0.2,
                    clip_high: 0.28,
                    kl_coef: 0.01,
                    adv_eps: 1e-6,
                    optimizer: optimizer(2e-4, 3, 0, 1.0),
                    workers,
                    seed: seed.wrapping_add(1),
                    pass_rate_curriculum: true,
                    freeze_vision: true,
                    updates_per_batch: 1,
                },
                eval_items_per_task: 12,
                eval_max_new_tokens: 32,
                workers,
                init_checkpoint: None,
                sft_task_weights: Default::default(),
            }),
            other => Err(MedgymError::InvalidSetting {
                field: "preset".into(),
                reason: format!("unknown preset `{other}`; known: default, smoke"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sft_weights_follow_task_order_and_default_to_one() {
        let config = PipelineConfig::preset("smoke", 0)
            .unwrap()
            .with_sft_weight_args(&[
                "medsynth/lesion-side-v1=3".into(),
                " medsynth/modality-v1 = 0".into(),
            ])
            .unwrap();
        let expected: Vec<u32> = config
            .tasks
            .iter()
            .map(|id| match id.as_str() {
                "medsynth/lesion-side-v1" => 3,
                "medsynth/modality-v1" => 0,
                _ => 1,
            })
            .collect();
        assert_eq!(config.sft_weights().unwrap(), expected);
    }

    #[test]
    fn bad_sft_weights_name_the_argument_or_task() {
        let smoke = || PipelineConfig::preset("smoke", 0).unwrap();
        for bad in [
            "medsynth/lesion-side-v1",
            "medsynth/lesion-side-v1=-1",
            "=2",
        ] {
            let error = smoke()
                .with_sft_weight_args(&[bad.into()])
                .expect_err("malformed weight fails")
                .to_string();
            assert!(error.contains("TASK_ID=WEIGHT"), "{bad}: {error}");
        }
        let error = smoke()
            .with_sft_weight_args(&["medsynth/nope=2".into()])
            .expect_err("unknown task fails")
            .to_string();
        assert!(
            error.contains("`medsynth/nope` is not a task of this run"),
            "{error}"
        );
    }
}
