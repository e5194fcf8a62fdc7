//! Per-row sampling parameters and the sampled-token record.

use serde::{Deserialize, Serialize};

use crate::error::KernelError;

/// Per-row sampling parameters (Copy, Debug, PartialEq, serde; missing fields take their defaults).
///
/// temperature 0 = greedy; top_k 0 = off; top_p 1.0 = off; min_p 0.0 = off; repetition_penalty 1.0,
/// presence_penalty 0.0 and frequency_penalty 0.0 = off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// Softmax temperature; 0 selects greedy decoding, otherwise must be finite and positive.
    pub temperature: f32,
    /// Keep only tokens whose weight is at or above the k-th largest weight; 0 (or k >= vocabulary) disables it.
    pub top_k: usize,
    /// Nucleus mass in (0, 1]; 1.0 disables it.
    pub top_p: f32,
    /// Keep only tokens with probability >= min_p × the largest probability; in [0, 1], 0 disables it.
    pub min_p: f32,
    /// Divides positive (multiplies non-positive) logits of tokens in the history; finite and > 0, 1 disables it.
    pub repetition_penalty: f32,
    /// Subtracted once from the logit of every token present in the history; finite, 0 disables it.
    pub presence_penalty: f32,
    /// Subtracted per occurrence from the logit of every token in the history; finite, 0 disables it.
    pub frequency_penalty: f32,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self::new(1.0, 0, 1.0)
    }
}

impl SamplingParams {
    /// Temperature, top-k and top-p with min-p and every penalty off.
    pub fn new(temperature: f32, top_k: usize, top_p: f32) -> Self {
        Self {
            temperature,
            top_k,
            top_p,
            min_p: 0.0,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
        }
    }

    /// Greedy decoding: temperature 0 (filters are ignored; penalties still apply).
    pub fn greedy() -> Self {
        Self::new(0.0, 0, 1.0)
    }

    /// Whether these parameters select greedy decoding (temperature exactly 0).
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }

    /// Whether any history penalty is active.
    pub fn has_penalties(&self) -> bool {
        self.repetition_penalty != 1.0
            || self.presence_penalty != 0.0
            || self.frequency_penalty != 0.0
    }

    /// Checks every field's range; the error names the field and its value.
    pub fn validate(&self) -> Result<(), KernelError> {
        let checks: [(&'static str, f32, bool, &'static str); 6] = [
            (
                "temperature",
                self.temperature,
                self.temperature.is_finite() && self.temperature >= 0.0,
                "finite and >= 0 (0 means greedy)",
            ),
            (
                "top_p",
                self.top_p,
                self.top_p > 0.0 && self.top_p <= 1.0,
                "in (0, 1] (1 disables top-p)",
            ),
            (
                "min_p",
                self.min_p,
                (0.0..=1.0).contains(&self.min_p),
                "in [0, 1] (0 disables min-p)",
            ),
            (
                "repetition_penalty",
                self.repetition_penalty,
                self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0,
                "finite and > 0 (1 disables it)",
            ),
            (
                "presence_penalty",
                self.presence_penalty,
                self.presence_penalty.is_finite(),
                "finite (0 disables it)",
            ),
            (
                "frequency_penalty",
                self.frequency_penalty,
                self.frequency_penalty.is_finite(),
                "finite (0 disables it)",
            ),
        ];
        for (field, value, valid, requirement) in checks {
            if !valid {
                return Err(KernelError::InvalidParameter {
                    field,
                    value,
                    requirement,
                });
            }
        }
        Ok(())
    }

    /// The logit after the history penalties for a token seen `count` times (unchanged when count is 0).
    ///
    /// Order: repetition (`x / r` if x > 0 else `x × r`), then `− frequency × count`, then `− presence`,
    /// each rounded to f32.
    #[inline]
    pub fn penalised_logit(&self, logit: f32, count: u32) -> f32 {
        if count == 0 {
            return logit;
        }
        let mut value = logit;
        if self.repetition_penalty != 1.0 {
            value = if value > 0.0 {
                value / self.repetition_penalty
            } else {
                value * self.repetition_penalty
            };
        }
        let scaled_count = self.frequency_penalty * count as f32;
        value -= scaled_count;
        value - self.presence_penalty
    }
}

/// One sampled token: logprob = log-softmax of the RAW logits at `token`; processed_logprob = log-probability of
/// `token` under the distribution actually sampled from (penalised, tempered, filtered, renormalised); greedy → 0.0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampledToken {
    /// The chosen token id.
    pub token: u32,
    /// Log-softmax of the raw (untempered, unfiltered) logits at `token`.
    pub logprob: f32,
    /// Log-probability of `token` under the processed distribution it was drawn from (0.0 for greedy).
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
            let params = SamplingParams::new(temperature, 0, top_p);
            match params.validate() {
                Err(KernelError::InvalidParameter { field, .. }) => {
                    assert_eq!(field, expected_field, "params {params:?}")
                }
                other => panic!("expected InvalidParameter for {params:?}, got {other:?}"),
            }
        }
    }
}
