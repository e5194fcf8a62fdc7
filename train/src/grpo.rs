//! GRPO: group-normalised advantages, per-token PPO-clip loss, token-mean aggregation, optional k3 KL.

use std::time::Instant;

use candle_core::Tensor;
use medgym_kernels::{Sampler, SamplingParams};
use medgym_policy::{Policy, PolicyTokenizer};
use medgym_rollout::{BuiltinPolicy, RolloutConfig, RolloutEngine, Trajectory, TrajectoryRates};
use serde::{Deserialize, Serialize};

use crate::data::{PassRateCurriculum, TaskStream};
use crate::error::TrainError;
use crate::model::{ScoreResponses, TrainModel};
use crate::objectives::{
    aggregate, clipped_surrogate, group_advantages, k3_kl, AdvantageEstimator, LossAggregation,
};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::StepMetrics;

/// Weight every task keeps in the curriculum, however solved or hopeless it looks.
const CURRICULUM_FLOOR: f64 = 0.05;
/// Exponential smoothing of the curriculum's pass-rate estimates (weight of the old value).
const CURRICULUM_SMOOTHING: f64 = 0.7;

/// GRPO settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrpoConfig {
    /// Optimizer steps (one rollout batch each).
    pub steps: usize,
    /// Prompts per step.
    pub prompts_per_step: usize,
    /// Samples per prompt (G).
    pub group_size: usize,
    /// Longest response.
    pub max_new_tokens: usize,
    /// Sampling for rollouts.
    pub sampling: SamplingParams,
    /// Lower clip ε.
    pub clip_low: f64,
    /// Upper clip ε.
    pub clip_high: f64,
    /// Weight of the k3 KL to the frozen starting policy (0 = no reference model).
    pub kl_coef: f64,
    /// Advantage normaliser ε added to the group std.
    pub adv_eps: f32,
    /// Optimizer settings.
    pub optimizer: OptimizerConfig,
    /// Rollout worker threads.
    pub workers: usize,
    /// Seed of the sampler stream.
    pub seed: u64,
    /// Share prompts among tasks by measured pass rate ([`PassRateCurriculum`]) instead of round-robin.
    pub pass_rate_curriculum: bool,
    /// Keep the vision tower (`visual.*`) fixed and train only the rest.
    pub freeze_vision: bool,
    /// Optimizer steps taken on each rollout batch (PPO epochs); after the first, the clip ratio is
    /// measured against the log-probabilities of the policy that sampled the batch.
    pub updates_per_batch: usize,
}

/// Runs GRPO on the built-in policy; `on_step` sees each step's metrics.
pub fn run_grpo(
    policy: &Policy,
    tokenizer: &PolicyTokenizer,
    sampler: &dyn Sampler,
    stream: &TaskStream,
    config: &GrpoConfig,
    on_step: impl FnMut(&StepMetrics),
) -> Result<Vec<StepMetrics>, TrainError> {
    let model = BuiltinPolicy { policy, tokenizer };
    run_grpo_on(&model, sampler, stream, config, on_step)
}

/// Runs GRPO on any [`TrainModel`] (the built-in policy, a Hugging Face checkpoint); `on_step`
/// sees each step's metrics.
pub fn run_grpo_on<M: TrainModel>(
    model: &M,
    sampler: &dyn Sampler,
    stream: &TaskStream,
    config: &GrpoConfig,
    mut on_step: impl FnMut(&StepMetrics),
) -> Result<Vec<StepMetrics>, TrainError> {
    let reference = if config.kl_coef > 0.0 {
        Some(model.reference()?)
    } else {
        None
    };
    let trainable = model.trainable(config.freeze_vision);
    let mut optimizer = Optimizer::new(trainable, config.optimizer.clone())?;
    let mut history = Vec::with_capacity(config.steps);
    let mut curriculum =
        PassRateCurriculum::new(stream.clone(), CURRICULUM_FLOOR, CURRICULUM_SMOOTHING);
    for step in 0..config.steps {
        let start = Instant::now();
        let jobs = if config.pass_rate_curriculum {
            curriculum.next_jobs(config.prompts_per_step)?
        } else {
            stream.jobs(
                (step * config.prompts_per_step) as u64,
                config.prompts_per_step,
            )?
        };
        let rollout_config = RolloutConfig {
            group_size: config.group_size,
            max_new_tokens: config.max_new_tokens,
            sampling: config.sampling,
            seed: config.seed,
            sequence_offset: (step * config.prompts_per_step * config.group_size) as u64,
            workers: config.workers,
            rows_per_chunk: config.group_size
                * config.prompts_per_step.div_ceil(config.workers.max(1)),
        };
        let batch = RolloutEngine::with_model(model, sampler).run(&jobs, &rollout_config)?;
        let trajs = &batch.trajectories;
        for task in stream.tasks() {
            let id = &task.spec().id;
            let of_task: Vec<_> = trajs.iter().filter(|t| &t.task_id == id).collect();
            let correct = of_task.iter().filter(|t| t.breakdown.correct).count();
            curriculum.observe(id, correct, of_task.len());
        }
        let rewards: Vec<f32> = trajs.iter().map(|t| t.reward).collect();
        let advantages = group_advantages(
            &rewards,
            config.group_size,
            AdvantageEstimator::Grpo {
                eps: config.adv_eps,
                unbiased: true,
            },
        )?;
        // Groups with all-equal rewards have zero advantage everywhere: no policy gradient, skip them.
        let informative: Vec<usize> = (0..trajs.len()).filter(|&i| advantages[i] != 0.0).collect();
        let mut loss_value = f64::NAN;
        let mut grad_norm = 0.0;
        if !informative.is_empty() {
            let mut behaviour: Option<Tensor> = None;
            for _ in 0..config.updates_per_batch.max(1) {
                let (loss, sampled_logp) = grpo_loss(
                    model,
                    reference.as_ref(),
                    trajs,
                    &advantages,
                    &informative,
                    behaviour.as_ref(),
                    config,
                )?;
                behaviour.get_or_insert(sampled_logp);
                let stats = optimizer.backward_step(&loss)?;
                loss_value = stats.loss;
                grad_norm = stats.grad_norm;
            }
        }
        let rates = TrajectoryRates::of(trajs);
        let seconds = start.elapsed().as_secs_f64();
        let metrics = StepMetrics {
            stage: "grpo".into(),
            step,
            loss: loss_value,
            grad_norm,
            lr: optimizer.current_lr(),
            reward_mean: Some(rates.mean_reward),
            accuracy: Some(rates.accuracy),
            format_rate: Some(rates.format_rate),
            tokens: batch.timings.generated_tokens,
            tokens_per_second: batch.timings.tokens_per_second,
            seconds,
        };
        on_step(&metrics);
        history.push(metrics);
    }
    Ok(history)
}

/// The GRPO loss on `rows` and the detached log-probabilities it was computed with; `behaviour`
/// (the sampling policy's log-probabilities from the first update) is the clip ratio's denominator,
/// or the current log-probabilities themselves when `None`.
fn grpo_loss<M: TrainModel>(
    model: &M,
    reference: Option<&M::Reference>,
    trajs: &[Trajectory<M::Prompt>],
    advantages: &[f32],
    rows: &[usize],
    behaviour: Option<&Tensor>,
    config: &GrpoConfig,
) -> Result<(Tensor, Tensor), TrainError> {
    let prompts: Vec<_> = rows.iter().map(|&i| trajs[i].prompt.clone()).collect();
    let responses: Vec<Vec<u32>> = rows
        .iter()
        .map(|&i| trajs[i].response_ids.clone())
        .collect();
    let current = model.response_logprobs(&prompts, &responses)?;
    let old = match behaviour {
        Some(logp) => logp.clone(),
        None => current.logp.detach(),
    };
    let adv: Vec<f32> = rows.iter().map(|&i| advantages[i]).collect();
    let adv =
        Tensor::from_vec(adv, rows.len(), current.logp.device())?.to_dtype(current.logp.dtype())?;
    let per_token =
        clipped_surrogate(&current.logp, &old, &adv, config.clip_low, config.clip_high)?;
    let mut loss = aggregate(&per_token, &current.mask, LossAggregation::TokenMean)?;
    if let Some(reference) = reference {
        let ref_lp = reference
            .response_logprobs(&prompts, &responses)?
            .logp
            .detach();
        let kl = aggregate(
            &k3_kl(&current.logp, &ref_lp)?,
            &current.mask,
            LossAggregation::TokenMean,
        )?;
        loss = (loss + (kl * config.kl_coef)?)?;
    }
    Ok((loss, old))
}
