//! The single error type of the training crate.

/// Everything that can go wrong while training, evaluating or checkpointing.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An argument (shape, value, configuration field) is not acceptable.
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// The argument, field or value that is wrong.
        what: String,
        /// Why it is wrong.
        reason: String,
    },
    /// The policy failed.
    #[error(transparent)]
    Policy(#[from] medgym_policy::PolicyError),
    /// A rollout failed.
    #[error(transparent)]
    Rollout(#[from] medgym_rollout::RolloutError),
    /// Some trainable variables received no gradient from the backward pass.
    #[error("no gradient for variables: {}", .names.join(", "))]
    MissingGradient {
        /// Names of the variables without a gradient.
        names: Vec<String>,
    },
}
