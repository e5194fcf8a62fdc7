//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong while validating inputs or sampling tokens.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum KernelError {
    /// The logits buffer does not hold `rows × vocab_size` values.
    #[error("logits length mismatch: expected {expected} values (rows × vocab_size), got {got}")]
    ShapeMismatch {
        /// Number of logits implied by the row count and vocabulary size.
        expected: usize,
        /// Number of logits actually supplied.
        got: usize,
    },
    /// The number of random keys differs from the number of parameter rows.
    #[error("row count mismatch: {params} sampling-parameter rows but {keys} random keys")]
    RowCountMismatch {
        /// Number of `SamplingParams` supplied.
        params: usize,
        /// Number of `RandomKey`s supplied.
        keys: usize,
    },
    /// `rows × vocab_size` does not fit in `usize`.
    #[error("logits shape overflows usize: {rows} rows × {vocab_size} vocabulary entries")]
    ShapeOverflow {
        /// Number of rows requested.
        rows: usize,
        /// Vocabulary size requested.
        vocab_size: usize,
    },
    /// Token indices must fit in `u32`.
    #[error("vocab_size {vocab_size} is too large: token ids must fit in u32")]
    VocabularyTooLarge {
        /// The offending vocabulary size.
        vocab_size: usize,
    },
    /// A logit is NaN or +inf (−inf is allowed and bans the token).
    #[error("row {row}: logit at index {index} is {value} (NaN and +inf are not allowed)")]
    NonFiniteLogit {
        /// Row holding the bad logit.
        row: usize,
        /// Token index of the bad logit.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// Every logit in a row is −inf, so nothing can be sampled.
    #[error("row {row}: every logit is -inf, no token can be sampled")]
    NoFiniteLogit {
        /// The row with no finite logit.
        row: usize,
    },
    /// Dividing a finite logit by the temperature left the f32 range.
    #[error(
        "row {row}: logit {logit} at index {index} divided by temperature {temperature} is not finite"
    )]
    ScaledLogitOverflow {
        /// Row holding the logit.
        row: usize,
        /// Token index of the logit.
        index: usize,
        /// The raw logit.
        logit: f32,
        /// The row's temperature.
        temperature: f32,
    },
    /// A row's sampling parameters are invalid.
    #[error("row {row}: invalid sampling parameters: {reason}")]
    InvalidParams {
        /// The row whose parameters are invalid.
        row: usize,
        /// What is wrong, naming the field and value.
        reason: String,
    },
    /// A single parameter field is out of range (returned by `SamplingParams::validate`).
    #[error("invalid sampling parameter {field} = {value}: must be {requirement}")]
    InvalidParameter {
        /// Name of the offending field.
        field: &'static str,
        /// The offending value.
        value: f32,
        /// The accepted range, in words.
        requirement: &'static str,
    },
}
