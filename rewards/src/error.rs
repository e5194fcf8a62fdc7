//! The crate's single error type.

/// Every way building or configuring a reward can fail.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RewardError {
    /// A reference answer is malformed; names the field, the offending value and why.
    #[error("invalid reference: field `{field}` has value {value:?}: {reason}")]
    InvalidReference {
        /// The reference field that is wrong (`answer`, `answer_type`, `options`, `options.B`, ...).
        field: String,
        /// The offending value as text.
        value: String,
        /// Why the value is rejected.
        reason: String,
    },
    /// A rubric weight is not a finite number.
    #[error("invalid weight {weight} for reward component `{component}`: weights must be finite")]
    InvalidWeight {
        /// Name of the component the weight was given for.
        component: String,
        /// The offending weight.
        weight: f32,
    },
    /// A reward configuration value is wrong; names the field, the value and why.
    #[error("invalid reward configuration: `{field}` = {value:?}: {reason}")]
    InvalidConfig {
        /// The configuration field (`component[2].max_length`, `synonyms`, ...).
        field: String,
        /// The offending value as text.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A rubric names a component that is not registered.
    #[error("unknown reward component `{name}` (registered: {known})")]
    UnknownComponent {
        /// The name asked for.
        name: String,
        /// The registered names, comma-separated.
        known: String,
    },
    /// A rubric file could not be read or is not valid TOML.
    #[error("{path}: {message}")]
    ConfigFile {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl RewardError {
    /// Shorthand for [`RewardError::InvalidConfig`].
    pub(crate) fn invalid_config(field: &str, value: &str, reason: &str) -> Self {
        Self::InvalidConfig {
            field: field.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// Shorthand for [`RewardError::InvalidReference`].
    pub(crate) fn invalid_reference(field: &str, value: &str, reason: &str) -> Self {
        Self::InvalidReference {
            field: field.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        }
    }
}
