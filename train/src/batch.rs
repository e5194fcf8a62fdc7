//! Per-token log-probabilities of responses given prompts, for SFT and RL losses.

use candle_core::Tensor;
use medgym_policy::{Policy, SequenceInput};

use crate::error::TrainError;
use crate::objectives::token_logprobs;

/// Log-probabilities of each response token `(b, t_max)` and a 0/1 mask `(b, t_max)` of real tokens.
#[derive(Debug, Clone)]
pub struct ResponseLogprobs {
    /// Differentiable log-probabilities.
    pub logp: Tensor,
    /// 1.0 where a response token exists.
    pub mask: Tensor,
    /// Response tokens counted by the mask.
    pub tokens: usize,
}

/// Checks that a batch has one non-empty response per prompt, and at least one.
pub(crate) fn check_batch(prompts: usize, responses: &[Vec<u32>]) -> Result<(), TrainError> {
    if prompts != responses.len() || prompts == 0 {
        return Err(TrainError::InvalidArgument {
            what: "batch".into(),
            reason: format!("{prompts} prompts for {} responses", responses.len()),
        });
    }
    if let Some(i) = responses.iter().position(Vec::is_empty) {
        return Err(TrainError::InvalidArgument {
            what: format!("responses[{i}]"),
            reason: "empty response".into(),
        });
    }
    Ok(())
}

/// Run the policy on prompt + response and gather the log-probability of every response token.
pub fn response_logprobs(
    policy: &Policy,
    prompts: &[SequenceInput],
    responses: &[Vec<u32>],
) -> Result<ResponseLogprobs, TrainError> {
    check_batch(prompts.len(), responses)?;
    let inputs: Vec<SequenceInput> = prompts
        .iter()
        .zip(responses)
        .map(|(p, r)| {
            let mut ids = p.token_ids.clone();
            ids.extend_from_slice(r);
            SequenceInput {
                token_ids: ids,
                image: p.image.clone(),
            }
        })
        .collect();
    let (hidden, layout) = policy.forward_hidden(&inputs)?;
    let (b, len, width) = hidden.dims3()?;
    let t_max = responses.iter().map(Vec::len).max().unwrap_or(0);
    let mut columns = Vec::with_capacity(b * t_max);
    let mut targets = Vec::with_capacity(b * t_max);
    let mut mask = Vec::with_capacity(b * t_max);
    for (row, (prompt, response)) in prompts.iter().zip(responses).enumerate() {
        let first = layout.column(row, prompt.token_ids.len()) - 1;
        for t in 0..t_max {
            if t < response.len() {
                columns.push((row * len + first + t) as u32);
                targets.push(response[t]);
                mask.push(1f32);
            } else {
                columns.push((row * len) as u32);
                targets.push(0);
                mask.push(0f32);
            }
        }
    }
    let device = hidden.device().clone();
    let columns = Tensor::from_vec(columns, b * t_max, &device)?;
    let picked_hidden = hidden
        .reshape((b * len, width))?
        .index_select(&columns, 0)?
        .reshape((b, t_max, width))?;
    let picked = policy.logits(&picked_hidden)?;
    let targets = Tensor::from_vec(targets, (b, t_max), &device)?;
    let logp = token_logprobs(&picked, &targets)?;
    let mask = Tensor::from_vec(mask, (b, t_max), &device)?.to_dtype(logp.dtype())?;
    let tokens = responses.iter().map(Vec::len).sum();
    Ok(ResponseLogprobs { logp, mask, tokens })
}
