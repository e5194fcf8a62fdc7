//! Medical visual question answering as Gymnasium-shaped reinforcement-learning environments.
//!
//! Every task item is a pure function of (task id, split, seed, index); the built-in
//! "medsynth" family draws synthetic grayscale scans in code and asks verifiable questions
//! about them, and the procedural suites add difficulty levels, text-only clinical
//! calculations and general image questions. Rewards come from [`rewards::Rubric::standard`].

#![warn(missing_docs)]

/// The reward crate, re-exported.
pub use medgym_rewards as rewards;

mod checker;
mod config;
mod curriculum;
pub mod data;
mod env;
mod error;
pub mod image;
pub mod medsynth;
mod multiturn;
mod png;
pub mod procedural;
mod registry;
mod task;
mod types;
mod vector;

pub use checker::{check_env, check_observation, CheckReport};
pub use config::{EnvConfig, TurnReward, MAX_TURNS_LIMIT};
pub use curriculum::{Curriculum, CurriculumConfig, LevelMove};
pub use env::{Env, SingleTurnEnv};
pub use error::EnvError;
pub use multiturn::{ReflectionEnv, UNPARSEABLE_FEEDBACK, WRONG_FEEDBACK};
pub use png::encode_png;
pub use procedural::{DEFAULT_DIFFICULTY, MAX_DIFFICULTY, MIN_DIFFICULTY};
pub use registry::{
    builtin_task_ids, list, make, medsynth_v1_task_ids, task, task_at, MEDSYNTH_V1_TASK_IDS,
};
pub use task::{TaskFamily, SYSTEM_PROMPT};
pub use types::{
    ColorImage, ContentPart, EnvSpec, Info, ItemImage, Message, Observation, Role, ScanImage,
    Split, StepResult, TaskItem,
};
pub use vector::{
    uniform_reward, DynamicSamplingStats, GroupVectorEnv, PromptGroup, SamplingOutcome,
};
