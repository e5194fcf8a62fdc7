//! The facade crate's error type.

/// Everything that can go wrong in the `medgym` library and CLI.
#[derive(Debug, thiserror::Error)]
pub enum MedgymError {
    /// An environment failed.
    #[error(transparent)]
    Env(#[from] medgym_envs::EnvError),
    /// The policy failed.
    #[error(transparent)]
    Policy(#[from] medgym_policy::PolicyError),
    /// Training or evaluation failed.
    #[error(transparent)]
    Train(#[from] medgym_train::TrainError),
    /// A rollout failed.
    #[error(transparent)]
    Rollout(#[from] medgym_rollout::RolloutError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// JSON encoding failed.
    #[error("{what}: {source}")]
    Json {
        /// What was being encoded.
        what: String,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A reward could not be computed.
    #[error(transparent)]
    Reward(#[from] medgym_rewards::RewardError),
    /// A sampling kernel failed.
    #[error(transparent)]
    Kernel(#[from] medgym_kernels::KernelError),
    /// One line of an input file is unusable; names the file, the line and the field.
    #[error("{path}:{line}: field `{field}`: {reason}")]
    BadInputLine {
        /// The input file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The offending field (`id`, `answer_type`, `options.B`, ...; `<line>` for bad JSON).
        field: String,
        /// Why the line is rejected.
        reason: String,
    },
    /// A setting is not usable.
    #[error("invalid setting `{field}`: {reason}")]
    InvalidSetting {
        /// The setting.
        field: String,
        /// Why.
        reason: String,
    },
}

/// Result alias for the facade crate.
pub type Result<T> = std::result::Result<T, MedgymError>;
