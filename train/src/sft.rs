//! Supervised fine-tuning on reference chain-of-thought responses (loss on response tokens only).

use std::time::Instant;

use medgym_policy::{Policy, PolicyTokenizer};
use medgym_rollout::BuiltinPolicy;
use serde::{Deserialize, Serialize};

use crate::data::TaskStream;
use crate::error::TrainError;
use crate::model::TrainModel;
use crate::objectives::{aggregate, LossAggregation};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::StepMetrics;

/// SFT settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftConfig {
    /// Optimizer steps.
    pub steps: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Optimizer settings (lr, clipping, schedule).
    pub optimizer: OptimizerConfig,
}

/// Runs SFT on the built-in policy (every parameter trains); `on_step` sees each step's metrics
/// (for logging and progress bars).
pub fn run_sft(
    policy: &Policy,
    tokenizer: &PolicyTokenizer,
    stream: &TaskStream,
    config: &SftConfig,
    on_step: impl FnMut(&StepMetrics),
) -> Result<Vec<StepMetrics>, TrainError> {
    run_sft_on(
        &BuiltinPolicy { policy, tokenizer },
        false,
        stream,
        config,
        on_step,
    )
}

/// Runs SFT on any [`TrainModel`] (the vision tower's own parameters only when `freeze_vision`
/// is false); `on_step` sees each step's metrics.
pub fn run_sft_on<M: TrainModel>(
    model: &M,
    freeze_vision: bool,
    stream: &TaskStream,
    config: &SftConfig,
    mut on_step: impl FnMut(&StepMetrics),
) -> Result<Vec<StepMetrics>, TrainError> {
    let mut optimizer = Optimizer::new(model.trainable(freeze_vision), config.optimizer.clone())?;
    let mut history = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        let start = Instant::now();
        let jobs = stream.jobs((step * config.batch_size) as u64, config.batch_size)?;
        let mut prompts = Vec::with_capacity(jobs.len());
        let mut responses = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let observation = job.task.observation(&job.item);
            prompts.push(model.encode_prompt(&observation)?);
            let ids = model
                .encode_response(&job.item.reference_response)
                .map_err(|e| TrainError::InvalidArgument {
                    what: format!("reference response of {}", job.item.id),
                    reason: e.to_string(),
                })?;
            responses.push(ids);
        }
        let batch = model.response_logprobs(&prompts, &responses)?;
        let loss = aggregate(&batch.logp.neg()?, &batch.mask, LossAggregation::TokenMean)?;
        let stats = optimizer.backward_step(&loss)?;
        let seconds = start.elapsed().as_secs_f64();
        let metrics = StepMetrics {
            stage: "sft".into(),
            step,
            loss: stats.loss,
            grad_norm: stats.grad_norm,
            lr: stats.lr,
            reward_mean: None,
            accuracy: None,
            format_rate: None,
            tokens: batch.tokens,
            tokens_per_second: batch.tokens as f64 / seconds.max(1e-9),
            seconds,
        };
        on_step(&metrics);
        history.push(metrics);
    }
    Ok(history)
}
