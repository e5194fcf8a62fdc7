//! medgym: medical visual question answering as reinforcement-learning environments with
//! verifiable rewards, and the trainers (SFT, GRPO) for vision-language policies on them.

pub mod commands;
pub mod error;
pub mod pipeline;
pub mod presets;
pub mod report;
pub mod reward_corpus;
pub mod tokenizer_asset;

pub use error::{MedgymError, Result};
pub use medgym_envs as envs;
pub use medgym_kernels as kernels;
pub use medgym_policy as policy;
pub use medgym_rewards as rewards;
pub use medgym_rollout as rollout;
pub use medgym_train as train;
pub use pipeline::run_pipeline;
pub use presets::{ModelShape, PipelineConfig};
pub use report::Report;
