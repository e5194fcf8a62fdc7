//! Per-row sampling parameters and the sampled-token record.

use serde::{Deserialize, Serialize};

use crate::error::KernelError;

/// Per-row sampling parameters (Copy, Debug, PartialEq, serde). temperature 0 = greedy; top_k 0 = off; top_p 1.0 = off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// Softmax temperature; 0 selects greedy decoding, otherwise must be finite and positive.
    pub temperature: f32,
    /// Keep only tokens at or above the k-th largest scaled logit; 0 (or k >= vocabulary) disables it.
    pub top_k: usize,
    /// Nucleus mass in (0, 1]; 1.0 disables it.
    pub top_p: f32,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding: temperature 0 (top-k and top-p are ignored).
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
        }
    }

    /// Whether these parameters select greedy decoding (temperature exactly 0).
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }

    /// Checks that temperature is finite and >= 0 and that top_p is in (0, 1].
    pub fn validate(&self) -> Result<(), KernelError> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(KernelError::InvalidParameter {
                field: "temperature",
                value: self.temperature,
                requirement: "finite and >= 0 (0 means greedy)",
            });
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(KernelError::InvalidParameter {
                field: "top_p",
                value: self.top_p,
                requirement: "in (0, 1] (1 disables top-p)",
            });
        }
        Ok(())
    }
}

/// One sampled token: logprob = log-softmax of the RAW logits at `token`; processed_logprob = log-probability of
/// `token` under the distribution actually sampled from (tempered, top-k, top-p, renormalised); greedy → 0.0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampledToken {
    /// The chosen token id.
    pub token: u32,
    /// Log-softmax of the raw (untempered, unfiltered) logits at `token`.
    pub logprob: f32,
    /// Log-probability of `token` under the filtered distribution it was drawn from (0.0 for greedy).
    pub processed_logprob: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_greedy_are_valid() {
        let default = SamplingParams::default();
        assert_eq!(default.temperature, 1.0);
        assert_eq!(default.top_k, 0);
        assert_eq!(default.top_p, 1.0);
        assert!(default.validate().is_ok());
        assert!(!default.is_greedy());
        assert!(SamplingParams::greedy().validate().is_ok());
        assert!(SamplingParams::greedy().is_greedy());
    }

    #[test]
    fn invalid_fields_are_named() {
        let cases = [
            (f32::NAN, 1.0, "temperature"),
            (-0.5, 1.0, "temperature"),
            (f32::INFINITY, 1.0, "temperature"),
            (1.0, 0.0, "top_p"),
            (1.0, 1.5, "top_p"),
            (1.0, f32::NAN, "top_p"),
            (1.0, -0.1, "top_p"),
        ];
        for (temperature, top_p, expected_field) in cases {
            let params = SamplingParams {
                temperature,
                top_k: 0,
                top_p,
            };
            match params.validate() {
                Err(KernelError::InvalidParameter { field, .. }) => {
                    assert_eq!(field, expected_field, "params {params:?}")
                }
                other => panic!("expected InvalidParameter for {params:?}, got {other:?}"),
            }
        }
    }
}
