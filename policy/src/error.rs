//! The policy crate's error type.

/// Everything that can go wrong in the policy crate.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file did not parse.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A configuration value is not usable.
    #[error("invalid config field `{field}`: {reason}")]
    InvalidConfig {
        /// The config field.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Checkpoint tensors do not match the architecture.
    #[error("checkpoint {path} does not match the model: {problems}")]
    TensorMismatch {
        /// The checkpoint file.
        path: String,
        /// Every missing, unexpected or mis-shaped tensor, one per line.
        problems: String,
    },
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template failed to render.
    #[error("chat template: {0}")]
    Template(String),
    /// An input does not fit the model.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// Result alias for the policy crate.
pub type Result<T> = std::result::Result<T, PolicyError>;

/// A JSON file parsed into `T`; the errors name the file.
pub(crate) fn read_json_file<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let shown = || path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
        path: shown(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| PolicyError::Json {
        path: shown(),
        source,
    })
}
