//! Log-probabilities of responses after shared prompts, for training: every distinct prompt runs
//! through the decoder once, and the rows that continue it attend to its keys and values.
//!
//! A GRPO group holds G responses to one prompt. Scoring the concatenated sequences runs the
//! prompt G times, forward and backward; here it runs once, its keys and values are handed to
//! each of its rows, and backward sums the rows' gradients into that one prompt pass.

use candle_core::Tensor;

use crate::error::{PolicyError, Result};
use crate::hf::embedding::Embedded;
use crate::hf::model::{HfInput, HfModel};
use crate::hf::text::{LayerKeys, Position3};
use crate::layers::padded_causal_mask;

/// One response to score: the index of its prompt and its token ids.
pub type Continuation<'a> = (usize, &'a [u32]);

/// Keys and values `(prompts, kv_heads, columns, head_dim)` of one layer's prompt pass.
type KeptKeys = (Tensor, Tensor);

impl HfModel {
    /// Log-probabilities `(rows.len(), t_max)` of each row's response tokens after its prompt,
    /// from one differentiable forward in which each of `prompts` runs once (`t_max` is the
    /// longest response; slots past a row's end hold 0).
    ///
    /// Equal, up to rounding, to [`HfModel::position_logprobs`] on each prompt followed by its
    /// response: the positions, masks and weights are the same, only the prompt is not repeated.
    /// Every prompt runs, whether a row continues it or not. Responses are text: an image
    /// placeholder token in one is refused. Errors name a prompt by the first row that continues it.
    pub fn continuation_logprobs(
        &self,
        prompts: &[HfInput],
        rows: &[Continuation<'_>],
    ) -> Result<Tensor> {
        self.check_continuations(prompts.len(), rows)?;
        let n = rows.len();
        let name = |prompt: usize| match rows.iter().position(|&(p, _)| p == prompt) {
            Some(row) => format!("the prompt of row {row}"),
            None => format!("prompt {prompt}, which no row continues,"),
        };
        let embedded = self.embed_named(prompts, &name)?;
        let t_max = rows.iter().map(|(_, r)| r.len()).max().unwrap_or(0);
        if t_max == 0 {
            let dtype = crate::ops::logprob_dtype(self.dtype);
            return Ok(Tensor::zeros((n, 0), dtype, &self.device)?);
        }
        let (_, prompt_len, d) = embedded.x.dims3()?;
        let (prompt_hidden, kept) = self.run_prompts(&embedded)?;
        let owners = Tensor::from_vec(
            rows.iter().map(|&(prompt, _)| prompt as u32).collect(),
            n,
            &self.device,
        )?;
        // A prompt's last column predicts its rows' first tokens; each response token the next.
        let first = prompt_hidden
            .narrow(1, prompt_len - 1, 1)?
            .contiguous()?
            .index_select(&owners, 0)?;
        let predicting = if t_max > 1 {
            let later = self.run_continuations(rows, &embedded, &kept, &owners, t_max - 1)?;
            Tensor::cat(&[&first, &later], 1)?
        } else {
            first
        };
        let mut targets = Vec::with_capacity(n * t_max);
        let mut keep = Vec::with_capacity(n * t_max);
        for &(_, response) in rows {
            for t in 0..t_max {
                // Slots past the end score token 0 and are zeroed below.
                targets.push(response.get(t).copied().unwrap_or(0));
                keep.push(if t < response.len() { 1f32 } else { 0f32 });
            }
        }
        let logp = crate::head_logprobs::head_target_logprobs(
            &predicting.reshape((n * t_max, d))?,
            &self.lm_head,
            &targets,
        )?
        .reshape((n, t_max))?;
        let keep = Tensor::from_vec(keep, (n, t_max), &self.device)?.to_dtype(logp.dtype())?;
        Ok((logp * keep)?)
    }

    /// Refuses rows that name no prompt, tokens outside the vocabulary and image placeholders.
    fn check_continuations(&self, prompts: usize, rows: &[Continuation<'_>]) -> Result<()> {
        let vocab = self.config.text.vocab_size;
        let image_token = self
            .config
            .image_token_id
            .filter(|_| self.config.vision.is_some());
        if rows.is_empty() {
            return Err(PolicyError::InvalidInput(
                "continuation_logprobs: no rows to score".into(),
            ));
        }
        for (row, &(prompt, response)) in rows.iter().enumerate() {
            if prompt >= prompts {
                return Err(PolicyError::InvalidInput(format!(
                    "continuation_logprobs: row {row} names prompt {prompt} of {prompts}"
                )));
            }
            for (t, &token) in response.iter().enumerate() {
                if token as usize >= vocab {
                    return Err(PolicyError::InvalidInput(format!(
                        "continuation_logprobs: row {row}: token {token} at {t} is outside \
                         vocab_size {vocab}"
                    )));
                }
                if Some(token) == image_token {
                    return Err(PolicyError::InvalidInput(format!(
                        "continuation_logprobs: row {row}: response token {t} is the image \
                         placeholder {token}; responses are text"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The prompts' pass: final hidden states `(prompts, len, hidden)` and each layer's keys and
    /// values.
    fn run_prompts(&self, embedded: &Embedded) -> Result<(Tensor, Vec<KeptKeys>)> {
        let prompt_len = embedded.x.dim(1)?;
        let rotary = self
            .rotary
            .factors(&embedded.positions, self.dtype, &self.device)?;
        let mask = self.mask(&embedded.pads, prompt_len, 0)?;
        let mut kept = Vec::with_capacity(self.layers.len());
        let mut x = embedded.x.clone();
        for layer in &self.layers {
            let (output, keys) = layer.forward_keys(&x, &rotary, &mask, LayerKeys::Own)?;
            kept.push(keys);
            x = output;
        }
        Ok((self.norm.forward(&x)?, kept))
    }

    /// The responses' first `len` tokens after their prompts' keys and values: final hidden
    /// states `(rows, len, hidden)`. Shorter responses are padded at the end; causal attention
    /// keeps the padding out of every real column.
    fn run_continuations(
        &self,
        rows: &[Continuation<'_>],
        embedded: &Embedded,
        kept: &[KeptKeys],
        owners: &Tensor,
        len: usize,
    ) -> Result<Tensor> {
        let n = rows.len();
        let mut ids = Vec::with_capacity(n * len);
        let mut positions: Vec<Vec<Position3>> = Vec::with_capacity(n);
        for &(prompt, response) in rows {
            ids.extend((0..len).map(|t| response.get(t).copied().unwrap_or(0)));
            let after = embedded.next[prompt];
            positions.push((0..len).map(|t| [after + t as u32; 3]).collect());
        }
        let ids = Tensor::from_vec(ids, n * len, &self.device)?;
        let mut x = self.embed_tokens.index_select(&ids, 0)?.reshape((
            n,
            len,
            self.config.text.hidden_size,
        ))?;
        let rotary = self.rotary.factors(&positions, self.dtype, &self.device)?;
        // Each response column sees its prompt's columns past the padding (the prompt fills the
        // first `prompt_len` columns) and the response columns up to itself.
        let pads: Vec<usize> = rows
            .iter()
            .map(|&(prompt, _)| embedded.pads[prompt])
            .collect();
        let mask = padded_causal_mask(&pads, len, embedded.x.dim(1)?, self.dtype, &self.device)?;
        for (layer, (keys, values)) in self.layers.iter().zip(kept) {
            let keys = keys.index_select(owners, 0)?;
            let values = values.index_select(owners, 0)?;
            let prefix = LayerKeys::Prefix {
                keys: &keys,
                values: &values,
            };
            x = layer.forward_keys(&x, &rotary, &mask, prefix)?.0;
        }
        self.norm.forward(&x)
    }
}
