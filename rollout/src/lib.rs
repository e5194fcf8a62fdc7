//! Grouped rollouts of a policy on medgym environments, on worker threads, deterministic by seed.

pub mod engine;
pub mod error;
pub mod hf_prompt;
pub mod model;
pub mod prompt;

pub use engine::{
    prompt_only_tokens, PromptJob, RolloutBatch, RolloutConfig, RolloutEngine, RolloutTimings,
    Trajectory, TrajectoryRates,
};
pub use error::{Result, RolloutError};
pub use hf_prompt::encode_hf_prompt;
pub use model::{BuiltinPolicy, HfPolicy, RolloutModel};
pub use prompt::{chat_messages, encode_prompt, image_input};
