//! Medical visual question answering as Gymnasium-shaped reinforcement-learning environments.
//!
//! Every task item is a pure function of (task id, split, seed, index); the built-in
//! "medsynth" family draws synthetic grayscale scans in code and asks verifiable questions
//! about them. Rewards come from [`rewards::Rubric::standard`].

#![warn(missing_docs)]

/// The reward crate, re-exported.
pub use medgym_rewards as rewards;

pub mod data;
mod env;
mod error;
pub mod image;
pub mod medsynth;
mod registry;
mod task;
mod types;

pub use env::{Env, SingleTurnEnv};
pub use error::EnvError;
pub use registry::{
    builtin_task_ids, list, make, medsynth_v1_task_ids, task, MEDSYNTH_V1_TASK_IDS,
};
pub use task::{TaskFamily, SYSTEM_PROMPT};
pub use types::{
    ColorImage, ContentPart, EnvSpec, Info, ItemImage, Message, Observation, Role, ScanImage,
    Split, StepResult, TaskItem,
};
