//! Trainers (SFT, GRPO), evaluation, RL objectives and optimisation for medgym policies.

pub mod adamw;
pub mod batch;
pub mod data;
pub mod error;
pub mod eval;
pub mod grpo;
pub mod model;
pub mod objectives;
pub mod optim;
pub mod sft;

pub use data::TaskStream;
pub use error::TrainError;
pub use eval::{evaluate, EvalConfig, TaskEval};
pub use grpo::{run_grpo, run_grpo_on, GrpoConfig};
pub use model::{hf_response_logprobs, ScoreResponses, TrainModel};
pub use sft::{run_sft, run_sft_on, SftConfig};

use serde::Serialize;

/// One training step's numbers, as written to `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepMetrics {
    /// `sft` or `grpo`.
    pub stage: String,
    /// Step index within the stage.
    pub step: usize,
    /// Loss (NaN when the step had nothing to learn from).
    pub loss: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Mean rollout reward (RL only).
    pub reward_mean: Option<f64>,
    /// Rollout accuracy (RL only).
    pub accuracy: Option<f64>,
    /// Rollout format rate (RL only).
    pub format_rate: Option<f64>,
    /// Tokens trained on (SFT) or generated (RL).
    pub tokens: usize,
    /// Tokens per second.
    pub tokens_per_second: f64,
    /// Wall seconds of the step.
    pub seconds: f64,
}
