//! The crate's error type.

use medgym_rewards::RewardError;

/// Every way an environment operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// The requested environment id is not registered.
    #[error("unknown environment id `{id}`; known ids: {known}")]
    UnknownEnv {
        /// The id that was asked for.
        id: String,
        /// Comma-separated list of registered ids.
        known: String,
    },
    /// `step` was called before any `reset`.
    #[error("step called before reset")]
    StepBeforeReset,
    /// `step` was called after the episode already terminated.
    #[error("step called after the episode terminated; call reset first")]
    StepAfterTermination,
    /// The reward crate rejected a reference or answer.
    #[error("reward error: {0}")]
    Reward(#[from] RewardError),
    /// An item could not be generated or is inconsistent.
    #[error("invalid item for task `{task_id}` (field `{field}`): {reason}")]
    InvalidItem {
        /// Task whose item failed.
        task_id: String,
        /// The item field or scene fact that is wrong.
        field: String,
        /// What went wrong.
        reason: String,
    },
    /// A synthetic scene has no room for a requested lesion.
    #[error("cannot place a lesion of radius {radius} in the {organ}: {reason}")]
    LesionPlacement {
        /// Organ that should hold the lesion.
        organ: String,
        /// Lesion radius in pixels.
        radius: i32,
        /// Why it does not fit.
        reason: String,
    },
    /// An image has a pixel buffer that does not match its dimensions.
    #[error("invalid image: width {width} x height {height} needs {expected} bytes, got {actual}")]
    InvalidImage {
        /// Image width in pixels.
        width: u32,
        /// Image height in pixels.
        height: u32,
        /// Byte count implied by the dimensions.
        expected: usize,
        /// Byte count actually supplied.
        actual: usize,
    },
    /// The task has no difficulty levels, or the level is outside 1–5.
    #[error("task `{id}`: {reason}")]
    Difficulty {
        /// The task id.
        id: String,
        /// What is wrong with the requested level.
        reason: String,
    },
    /// An environment configuration value is out of range.
    #[error("invalid environment config field `{field}`: {reason}")]
    InvalidConfig {
        /// The config field.
        field: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The environment checker found a violation of the environment contract.
    #[error("environment `{id}` fails check `{check}`: {reason}")]
    CheckFailed {
        /// The environment id.
        id: String,
        /// Name of the failed check.
        check: String,
        /// What was observed.
        reason: String,
    },
    /// Rewards handed to the vector environment do not match its groups.
    #[error("group {group} of the batch: {reason}")]
    GroupRewards {
        /// Index of the group in the batch.
        group: usize,
        /// What is wrong.
        reason: String,
    },
    /// An image could not be encoded.
    #[error("cannot encode {image} as PNG: {reason}")]
    ImageEncode {
        /// Which image.
        image: String,
        /// Encoder message.
        reason: String,
    },
    /// An item metadata field could not be converted to or from JSON.
    #[error("item metadata field `{field}` is not valid JSON for its type: {source}")]
    Meta {
        /// The metadata key.
        field: String,
        /// Underlying serde_json error.
        source: serde_json::Error,
    },
    /// A dataset file has a bad row, line or field.
    #[error("{file}:{location}: field `{field}`: {reason}")]
    BadData {
        /// The file that holds the bad data.
        file: String,
        /// Where in the file: "line N" or "row N".
        location: String,
        /// The field (column or JSON key) that is wrong.
        field: String,
        /// What went wrong.
        reason: String,
    },
    /// A dataset file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that could not be read.
        path: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// An image could not be decoded or resized.
    #[error("image {origin}: {reason}")]
    Image {
        /// Where the image comes from (path or file/row/column).
        origin: String,
        /// What went wrong.
        reason: String,
    },
    /// A dataset configuration (format, split, task file) is invalid.
    #[error("dataset configuration: {0}")]
    DataConfig(String),
}
