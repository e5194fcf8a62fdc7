//! Greedy evaluation on held-out items, per task, with per-item outcomes for paired comparisons.

use std::sync::Arc;

use medgym_envs::{Split, TaskFamily};
use medgym_kernels::{Sampler, SamplingParams};
use medgym_policy::{Policy, PolicyTokenizer};
use medgym_rollout::{RolloutConfig, RolloutEngine, TrajectoryRates};
use serde::Serialize;

use crate::data::job;
use crate::error::TrainError;

/// Results on one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskEval {
    /// Task id.
    pub id: String,
    /// Items evaluated.
    pub n_eval: usize,
    /// Accuracy of uniform random guessing.
    pub chance: f64,
    /// Fraction answered correctly.
    pub accuracy: f64,
    /// Fraction in the required format.
    pub format_rate: f64,
    /// Per-item correctness, in item order.
    pub correct: Vec<bool>,
    /// Mean generated tokens per item.
    pub mean_response_tokens: f64,
}

/// What to evaluate on and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EvalConfig {
    /// Items `0..items_per_task` of each task's eval split.
    pub items_per_task: usize,
    /// Seed of the eval items.
    pub seed: u64,
    /// Longest response.
    pub max_new_tokens: usize,
    /// Rollout worker threads.
    pub workers: usize,
}

/// Evaluate greedily on the eval split of every task.
pub fn evaluate(
    policy: &Policy,
    tokenizer: &PolicyTokenizer,
    sampler: &dyn Sampler,
    tasks: &[Arc<dyn TaskFamily>],
    eval: &EvalConfig,
) -> Result<Vec<TaskEval>, TrainError> {
    let engine = RolloutEngine::new(policy, tokenizer, sampler);
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        let jobs = (0..eval.items_per_task as u64)
            .map(|i| job(task, Split::Eval, eval.seed, i))
            .collect::<Result<Vec<_>, TrainError>>()?;
        let config = RolloutConfig {
            group_size: 1,
            max_new_tokens: eval.max_new_tokens,
            sampling: SamplingParams::greedy(),
            seed: eval.seed,
            sequence_offset: 0,
            workers: eval.workers,
            rows_per_chunk: 64,
        };
        let batch = engine.run(&jobs, &config)?;
        let n = batch.trajectories.len().max(1) as f64;
        let rates = TrajectoryRates::of(&batch.trajectories);
        let correct: Vec<bool> = batch
            .trajectories
            .iter()
            .map(|t| t.breakdown.correct)
            .collect();
        out.push(TaskEval {
            id: task.spec().id.clone(),
            n_eval: batch.trajectories.len(),
            chance: task.chance(),
            accuracy: rates.accuracy,
            format_rate: rates.format_rate,
            mean_response_tokens: batch.timings.generated_tokens as f64 / n,
            correct,
        });
    }
    Ok(out)
}
