//! The CLI's subcommands, one module each; `src/main.rs` only dispatches.

pub mod bench;
pub mod bench_rewards;
pub mod checks;
pub mod data;
pub mod envs;
pub mod generate;
pub mod grpo;
pub mod inspect;
pub mod pipeline;
pub mod rollout;
pub mod score;
pub mod sft;
pub mod training;
