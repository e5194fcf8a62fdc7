//! The rollout crate's error type.

/// Everything that can go wrong while collecting rollouts.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The policy failed.
    #[error(transparent)]
    Policy(#[from] medgym_policy::PolicyError),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// The sampler failed.
    #[error(transparent)]
    Sampler(#[from] medgym_kernels::KernelError),
    /// An environment failed.
    #[error(transparent)]
    Env(#[from] medgym_envs::EnvError),
    /// The request cannot be served.
    #[error("invalid rollout request: {0}")]
    InvalidRequest(String),
    /// An item's observation could not be made into a prompt.
    #[error("prompt of item {item}: {source}")]
    Prompt {
        /// The item's id.
        item: String,
        /// What went wrong.
        source: Box<RolloutError>,
    },
    /// A worker thread died.
    #[error("rollout worker failed: {0}")]
    Worker(String),
}

/// Result alias for the rollout crate.
pub type Result<T> = std::result::Result<T, RolloutError>;
