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
    /// The vocabulary exceeds 2^23 tokens (fixed-point sums must fit in u64).
    #[error("vocab_size {vocab_size} is too large: at most 8388608 tokens are supported")]
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
    /// A history penalty turned a finite logit into a non-finite value.
    #[error(
        "row {row}: logit {logit} at index {index} becomes {penalised} after the history penalties"
    )]
    PenalisedLogitOverflow {
        /// Row holding the logit.
        row: usize,
        /// Token index of the logit.
        index: usize,
        /// The raw logit.
        logit: f32,
        /// The value after the penalties.
        penalised: f32,
    },
    /// A history holds a token id outside the vocabulary.
    #[error("row {row}: history position {position} holds token {token}, outside the vocabulary of {vocab_size}")]
    HistoryTokenOutOfRange {
        /// Row whose history is wrong.
        row: usize,
        /// Position in that history.
        position: usize,
        /// The offending token id.
        token: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// Histories were given, but not one per row.
    #[error(
        "history count mismatch: {rows} rows but {histories} histories (give none or one per row)"
    )]
    HistoryCountMismatch {
        /// Number of rows in the batch.
        rows: usize,
        /// Number of histories supplied.
        histories: usize,
    },
    /// The integer draw found no token (cannot happen for a validated row; reported, not panicked).
    #[error("row {row}: the draw found no kept token")]
    DrawFailed {
        /// The row being sampled.
        row: usize,
    },
    /// A CPU worker thread panicked.
    #[error("a CPU sampling worker thread panicked")]
    WorkerPanicked,
    /// The requested backend cannot run on this machine.
    #[error("sampling backend {backend} is unavailable: {reason}")]
    BackendUnavailable {
        /// Backend name.
        backend: &'static str,
        /// Why it cannot run.
        reason: String,
    },
    /// The CPU build asked for needs instructions this processor lacks.
    #[error("the CPU sampler's {instruction_set} build needs instructions this processor lacks")]
    InstructionSetUnsupported {
        /// Name of the build (`avx512`, `avx2`).
        instruction_set: &'static str,
    },
    /// A CUDA driver or NVRTC call failed.
    #[error("CUDA {operation} failed: {message}")]
    Cuda {
        /// What was being done.
        operation: &'static str,
        /// The driver's or compiler's message.
        message: String,
    },
    /// A logits tensor has the wrong rank, dtype or device.
    #[error("logits tensor: {0}")]
    Tensor(String),
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
