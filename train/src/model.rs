//! What the trainers need from a model beyond sampling: differentiable log-probabilities of
//! responses, the parameters to update, a frozen reference copy and the token ids of reference
//! responses; for the built-in policy and for Hugging Face checkpoints.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{Tensor, Var};
use medgym_policy::hf::{is_vision_parameter, Continuation, HfInput, HfModel};
use medgym_policy::{Policy, SequenceInput};
use medgym_rollout::{BuiltinPolicy, HfPolicy, RolloutModel};

use crate::batch::{check_batch, response_logprobs, ResponseLogprobs};
use crate::error::TrainError;

/// Differentiable log-probabilities of responses given their prompts.
pub trait ScoreResponses<P> {
    /// Log-probability of every response token `(b, t_max)` with its 0/1 mask.
    fn response_logprobs(
        &self,
        prompts: &[P],
        responses: &[Vec<u32>],
    ) -> Result<ResponseLogprobs, TrainError>;
}

/// A model the trainers (SFT, GRPO) can sample from, score responses with and update.
pub trait TrainModel: RolloutModel + ScoreResponses<<Self as RolloutModel>::Prompt> {
    /// A frozen snapshot of the model (the reference of the KL term).
    type Reference: ScoreResponses<<Self as RolloutModel>::Prompt>;

    /// The parameters an optimizer updates, by name; the vision tower's only when
    /// `freeze_vision` is false.
    fn trainable(&self, freeze_vision: bool) -> Vec<(String, Var)>;
    /// A frozen copy of the current weights.
    fn reference(&self) -> Result<Self::Reference, TrainError>;
    /// The token ids of a reference response, ended as the model ends a turn (for SFT).
    fn encode_response(&self, text: &str) -> Result<Vec<u32>, TrainError>;
}

impl ScoreResponses<SequenceInput> for Policy {
    fn response_logprobs(
        &self,
        prompts: &[SequenceInput],
        responses: &[Vec<u32>],
    ) -> Result<ResponseLogprobs, TrainError> {
        response_logprobs(self, prompts, responses)
    }
}

impl ScoreResponses<SequenceInput> for BuiltinPolicy<'_> {
    fn response_logprobs(
        &self,
        prompts: &[SequenceInput],
        responses: &[Vec<u32>],
    ) -> Result<ResponseLogprobs, TrainError> {
        response_logprobs(self.policy, prompts, responses)
    }
}

impl TrainModel for BuiltinPolicy<'_> {
    type Reference = Policy;

    fn trainable(&self, freeze_vision: bool) -> Vec<(String, Var)> {
        self.policy
            .trainable_vars(|name| !(freeze_vision && is_vision_parameter(name)))
    }

    fn reference(&self) -> Result<Policy, TrainError> {
        Ok(self.policy.frozen_copy()?)
    }

    fn encode_response(&self, text: &str) -> Result<Vec<u32>, TrainError> {
        let mut ids = self.tokenizer.encode(text)?;
        ids.push(self.policy.config().eos_token_id);
        Ok(ids)
    }
}

impl ScoreResponses<Arc<HfInput>> for HfModel {
    fn response_logprobs(
        &self,
        prompts: &[Arc<HfInput>],
        responses: &[Vec<u32>],
    ) -> Result<ResponseLogprobs, TrainError> {
        hf_response_logprobs(self, prompts, responses)
    }
}

impl ScoreResponses<Arc<HfInput>> for HfPolicy<'_> {
    fn response_logprobs(
        &self,
        prompts: &[Arc<HfInput>],
        responses: &[Vec<u32>],
    ) -> Result<ResponseLogprobs, TrainError> {
        hf_response_logprobs(self.model(), prompts, responses)
    }
}

impl TrainModel for HfPolicy<'_> {
    type Reference = HfModel;

    /// The unfrozen base parameters (see `HfModel::freeze`) and every LoRA adapter.
    fn trainable(&self, freeze_vision: bool) -> Vec<(String, Var)> {
        let model = self.model();
        let mut vars = model.trainable_vars(|name| !(freeze_vision && is_vision_parameter(name)));
        vars.extend(model.lora_vars());
        vars
    }

    fn reference(&self) -> Result<HfModel, TrainError> {
        Ok(self.model().frozen_copy()?)
    }

    /// The response's tokens, then the chat template's end of turn (`<|im_end|>`) or, without
    /// one, the first stop token.
    fn encode_response(&self, text: &str) -> Result<Vec<u32>, TrainError> {
        let mut ids = self.tokenizer().encode(text)?;
        let end = self
            .tokenizer()
            .token_id("<|im_end|>")
            .or_else(|| self.stop_tokens().first().copied())
            .ok_or_else(|| TrainError::InvalidArgument {
                what: "checkpoint".into(),
                reason: "no token ends a turn".into(),
            })?;
        ids.push(end);
        Ok(ids)
    }
}

/// Log-probabilities of each response token after its prompt, for a Hugging Face checkpoint, from
/// one differentiable forward with the output head on the response positions only. When rows share
/// a prompt (the same `Arc`, as a GRPO group's do), each distinct prompt runs once and its rows
/// continue from its keys and values; otherwise the left-padded prompt + response sequences run
/// as they are (with nothing to share the two take the same time; this is the path SFT took).
pub fn hf_response_logprobs(
    model: &HfModel,
    prompts: &[Arc<HfInput>],
    responses: &[Vec<u32>],
) -> Result<ResponseLogprobs, TrainError> {
    check_batch(prompts.len(), responses)?;
    // Each row's prompt slot, and the first row of each slot.
    let mut firsts: Vec<usize> = Vec::new();
    let mut slots: HashMap<*const HfInput, usize> = HashMap::new();
    let owners: Vec<usize> = prompts
        .iter()
        .enumerate()
        .map(|(row, prompt)| {
            *slots.entry(Arc::as_ptr(prompt)).or_insert_with(|| {
                firsts.push(row);
                firsts.len() - 1
            })
        })
        .collect();
    let shared = firsts.len() < prompts.len();
    let logp = if shared {
        let distinct: Vec<HfInput> = firsts
            .iter()
            .map(|&row| HfInput::clone(&prompts[row]))
            .collect();
        let rows: Vec<Continuation<'_>> = owners
            .iter()
            .zip(responses)
            .map(|(&owner, response)| (owner, response.as_slice()))
            .collect();
        model.continuation_logprobs(&distinct, &rows)?
    } else {
        concatenated_logprobs(model, prompts, responses)?
    };
    let t_max = responses.iter().map(Vec::len).max().unwrap_or(0);
    let mask: Vec<f32> = responses
        .iter()
        .flat_map(|response| (0..t_max).map(move |t| if t < response.len() { 1.0 } else { 0.0 }))
        .collect();
    let mask =
        Tensor::from_vec(mask, (responses.len(), t_max), logp.device())?.to_dtype(logp.dtype())?;
    // The shared route already holds 0 past each response's end.
    let logp = if shared { logp } else { (logp * &mask)? };
    Ok(ResponseLogprobs {
        logp,
        mask,
        tokens: responses.iter().map(Vec::len).sum(),
    })
}

/// The response log-probabilities `(rows, t_max)` of the left-padded prompt + response sequences
/// (slots past a response's end score its first token again; the caller masks them).
fn concatenated_logprobs(
    model: &HfModel,
    prompts: &[Arc<HfInput>],
    responses: &[Vec<u32>],
) -> Result<Tensor, TrainError> {
    let sequences: Vec<HfInput> = prompts
        .iter()
        .zip(responses)
        .map(|(prompt, response)| HfInput {
            token_ids: prompt.token_ids.iter().chain(response).copied().collect(),
            images: prompt.images.clone(),
        })
        .collect();
    let t_max = responses.iter().map(Vec::len).max().unwrap_or(0);
    let mut picks = Vec::with_capacity(responses.len() * t_max);
    for (row, (prompt, response)) in prompts.iter().zip(responses).enumerate() {
        let first = prompt.token_ids.len();
        picks.extend((0..t_max).map(|t| (row, first + if t < response.len() { t } else { 0 })));
    }
    Ok(model
        .position_logprobs(&sequences, &picks)?
        .reshape((responses.len(), t_max))?)
}
