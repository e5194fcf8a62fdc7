//! Token sampling kernels: a pure function of (logits, parameters, seed, sequence, step).
//!
//! Randomness comes from the Philox4x32-10 counter-based generator: a draw is identified by a
//! [`RandomKey`] (counter = `[step lo, step hi, sequence lo, sequence hi]`, key = `[seed lo, seed hi]`),
//! so the same key always yields the same token regardless of batch size, row order or backend.
//!
//! # Exact semantics of one row
//!
//! Inputs: NaN or +inf logits are errors ([`KernelError::NonFiniteLogit`]); −inf bans a token; a row
//! with no finite logit is an error ([`KernelError::NoFiniteLogit`]). Parameters must satisfy
//! [`SamplingParams::validate`] (temperature finite and >= 0, top_p in (0, 1]).
//!
//! 1. **Greedy** (temperature 0): the argmax of the raw logits, ties to the lowest index; top-k and
//!    top-p are ignored and `processed_logprob` is 0.0.
//! 2. **Tempering**: `scaled_i = logit_i / temperature` in f32 (a finite logit whose quotient overflows
//!    is an error, [`KernelError::ScaledLogitOverflow`]). −inf tokens are never kept.
//! 3. **Top-k** (when 0 < k < vocab): the threshold is the k-th largest scaled value (counting
//!    duplicates); every finite token with `scaled_i >= threshold` is kept, so ties at the threshold
//!    are kept and more than k tokens may survive. Found by selection, not by sorting.
//! 4. **Top-k probabilities**: with `max` the largest kept scaled value,
//!    `p_i = exp(f64(scaled_i) − f64(max)) / Z`, `Z = Σ exp(...)` over the kept set, all in f64.
//! 5. **Top-p** (when top_p < 1): the threshold `t` is the largest probability value among the kept
//!    tokens such that the mass of `{p_i >= t}` is `>= top_p`; every token with `p_i >= t` is kept
//!    (the smallest highest-probability set reaching top_p, plus everything tied with its smallest
//!    member). Found by repeated median selection over the candidates, not by a full sort. If
//!    rounding leaves the whole mass below top_p, every token is kept.
//! 6. **Draw**: `u = uniform(key)`, `total = Σ p_i` over the final kept set in increasing token index
//!    (f64). Walking the kept tokens in increasing index order and accumulating `p_i` (f64), the first
//!    token whose cumulative mass exceeds `u × total` is picked; if rounding leaves none, the last kept
//!    token with a non-zero `p_i` is picked.
//! 7. **Log-probabilities**: `logprob` is the raw log-softmax `(l_t − max) − ln Σ exp(l_i − max)`
//!    accumulated in f64 and returned as f32; `processed_logprob = ln(p_t / total)` (f64, returned as f32).

mod cpu;
mod error;
mod filter;
mod params;
mod philox;

pub use cpu::{check_batch, sample_row, CpuSampler};
pub use error::KernelError;
pub use filter::{
    check_row_logits, filtered_distribution, greedy_index, raw_log_softmax, FilteredDistribution,
};
pub use params::{SampledToken, SamplingParams};
pub use philox::{philox4x32_10, uniform, RandomKey};

/// A sampling backend.
pub trait Sampler: Send + Sync {
    /// Short backend name (e.g. "cpu").
    fn name(&self) -> &'static str;
    /// logits: rows × vocab_size, row-major. params and keys: one per row.
    fn sample(
        &self,
        logits: &[f32],
        vocab_size: usize,
        params: &[SamplingParams],
        keys: &[RandomKey],
    ) -> Result<Vec<SampledToken>, KernelError>;
}
