//! Token sampling kernels: a pure function of (logits, parameters, history, seed, sequence, step),
//! bit-identical on the CPU backend and the CUDA backend.
//!
//! Randomness comes from the Philox4x32-10 counter-based generator: a draw is identified by a
//! [`RandomKey`] (counter = `[step lo, step hi, sequence lo, sequence hi]`, key = `[seed lo, seed hi]`),
//! so the same key always yields the same token regardless of batch size, row order or backend.
//!
//! # Exact semantics of one row
//!
//! Inputs: NaN or +inf logits are errors ([`KernelError::NonFiniteLogit`], lowest index reported);
//! −inf bans a token; a row with no finite logit is an error ([`KernelError::NoFiniteLogit`]).
//! Parameters must satisfy [`SamplingParams::validate`]. The vocabulary is at most 2^23 tokens.
//! All arithmetic below is f32 unless stated; `det_exp` and `det_ln` are the deterministic
//! functions of [`detmath`] (FMA polynomials, identical on both backends).
//!
//! 1. **Raw log-softmax** (for `logprob`): `M = max x`, `Z = Σ round(det_exp(x_i − M) · 2^40)` as an
//!    exact u64 sum.
//! 2. **Penalties** for every token `t` seen `c > 0` times in the row's history (one history per row;
//!    the same list feeds all three penalties): repetition `y = x > 0 ? x / r : x · r`, then
//!    `y −= frequency · c`, then `y −= presence`. A finite logit turned non-finite is an error.
//! 3. **Greedy** (temperature 0): the first index of the largest penalised logit; filters are ignored and
//!    `processed_logprob` is 0.0.
//! 4. **Temperature**: `s_i = y_i / T` (a finite value whose quotient overflows is an error).
//! 5. **Weights**: `m = max s`, `e_i = det_exp(s_i − m)` (so the top token has `e = 1` exactly) and the
//!    fixed-point weight `w_i = round_half_even(e_i · 2^40)` (u64). All sums below are exact integers,
//!    so the order of summation never matters. A token with `w = 0` (including every −inf) is never drawn.
//! 6. **Min-p** (min_p > 0): keep `e_i >= min_p` (inclusive; `e` is the probability relative to the
//!    most probable token).
//! 7. **Top-k** (0 < k < vocab): `τ` = the k-th largest `e` counting duplicates; keep `e_i >= τ`, so
//!    every token tied with the k-th is kept. Min-p and top-k both keep an upper set of `e`, so their
//!    order does not matter: the result is their intersection.
//! 8. **Top-p** (top_p < 1), on the min-p ∩ top-k set renormalised: with `W1` its mass and
//!    `q = round(top_p · 2^32)`, the target is `M = max(1, ⌊W1 · q / 2^32⌋)`; the cut `t` is the largest
//!    `e` value such that the mass of kept tokens with `e_i >= t` reaches `M`; keep `e_i >= t` (the
//!    smallest most-probable set reaching top_p, plus everything tied with its smallest member).
//!    Thresholds are found by selection on the bits of `e`, never by sorting the row.
//! 9. **Draw**: `W` = mass of the final kept set, `r` = Philox output words 0 (high) and 1 (low) as a
//!    u64, `R = ⌊r · W / 2^64⌋`; the token is the first kept index (increasing token order) whose
//!    inclusive prefix mass exceeds `R`.
//! 10. **Log-probabilities**: `logprob = f32(f64(x_t − M) − det_ln(Z · 2^-40))`, the raw log-softmax
//!     of the unpenalised, untempered, unfiltered logits; `processed_logprob =
//!     f32(f64(s_t − m) − det_ln(W · 2^-40))`, the log-probability under the penalised, tempered,
//!     filtered and renormalised distribution the token was drawn from.

pub mod backend;
mod cpu;
pub mod cuda;
pub mod detmath;
mod error;
mod history;
mod params;
mod philox;
mod row;
mod select;
mod simd;
mod tensor;
#[cfg(feature = "candle-cuda")]
mod tensor_cuda;
#[cfg(not(feature = "candle-cuda"))]
mod tensor_cuda {
    //! Without the `candle-cuda` feature candle has no CUDA tensors to sample.

    use crate::{KernelError, TensorSampler};

    /// Always an error: this build cannot read candle CUDA tensors.
    pub(crate) fn tensor_sampler(
        _device: &candle_core::Device,
    ) -> Result<Box<dyn TensorSampler>, KernelError> {
        Err(KernelError::BackendUnavailable {
            backend: "cuda",
            reason: "this build lacks the `candle-cuda` feature (candle's CUDA build)".into(),
        })
    }
}

pub use backend::{select_backend, BackendChoice, SelectedBackend};
pub use cpu::{check_batch, sample_row, CpuSampler};
pub use error::KernelError;
pub use history::TokenCounts;
pub use params::{SampledToken, SamplingParams};
pub use philox::{philox4x32_10, uniform, RandomKey};
pub use row::{draw_word, filtered_distribution, FilteredDistribution};
pub use simd::{cpu_instruction_set, set_cpu_instruction_set, CpuInstructionSet};
pub use tensor::{sample_tensor, tensor_sampler_for, CpuTensorSampler, TensorSampler};
#[cfg(feature = "candle-cuda")]
pub use tensor_cuda::{sample_cuda_tensor, CudaTensorSampler};

/// A sampling backend.
pub trait Sampler: Send + Sync {
    /// Short backend name ("cpu" or "cuda").
    fn name(&self) -> &'static str;

    /// logits: rows × vocab_size, row-major; params and keys: one per row; histories: none (empty
    /// slice) or one token list per row, which the penalties count.
    fn sample_with_history(
        &self,
        logits: &[f32],
        vocab_size: usize,
        params: &[SamplingParams],
        keys: &[RandomKey],
        histories: &[&[u32]],
    ) -> Result<Vec<SampledToken>, KernelError>;

    /// Samples with an empty history for every row.
    fn sample(
        &self,
        logits: &[f32],
        vocab_size: usize,
        params: &[SamplingParams],
        keys: &[RandomKey],
    ) -> Result<Vec<SampledToken>, KernelError> {
        self.sample_with_history(logits, vocab_size, params, keys, &[])
    }
}
