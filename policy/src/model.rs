//! The policy: vision encoder + Qwen2 decoder, with a training forward and KV-cached generation.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor, Var, D};

use crate::config::PolicyConfig;
use crate::decoder::{DecoderLayer, LayerCache};
use crate::error::{PolicyError, Result};
use crate::layers::{padded_causal_mask, RmsNorm, RotaryTable};
use crate::params::{scalar_count, select_vars, Init, ParamBuilder};
use crate::vision::{ImageInput, VisionEncoder};

/// One sequence: token ids (with expanded image placeholders) and its image, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceInput {
    /// Token ids; an image contributes `tokens_per_image` `image_token_id`s.
    pub token_ids: Vec<u32>,
    /// The image the placeholders stand for.
    pub image: Option<ImageInput>,
}

/// How a batch was laid out: rows are left-padded to a common length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLayout {
    /// Padding columns at the start of each row.
    pub pad: Vec<usize>,
    /// Columns in the padded batch.
    pub len: usize,
}

impl BatchLayout {
    /// Column of token `t` of row `row`.
    pub fn column(&self, row: usize, t: usize) -> usize {
        self.pad[row] + t
    }
}

/// Generation state: per-layer KV caches of a left-padded batch.
#[derive(Debug, Clone)]
pub struct DecodeState {
    caches: Vec<LayerCache>,
    pad: Vec<usize>,
    columns: usize,
}

impl DecodeState {
    /// Rows still being decoded.
    pub fn rows(&self) -> usize {
        self.pad.len()
    }

    /// Keep only the listed rows (in that order), dropping finished ones.
    pub fn keep_rows(&mut self, rows: &[usize]) -> Result<()> {
        if rows.iter().any(|&r| r >= self.pad.len()) {
            return Err(PolicyError::InvalidInput(format!(
                "keep_rows: row out of range for {} rows",
                self.pad.len()
            )));
        }
        let device = match self.caches.iter().flatten().next() {
            Some(cache) => cache.device(),
            None => Device::Cpu,
        };
        let idx = Tensor::from_vec(
            rows.iter().map(|&r| r as u32).collect(),
            rows.len(),
            &device,
        )?;
        for cache in self.caches.iter_mut().flatten() {
            cache.select_rows(&idx)?;
        }
        self.pad = rows.iter().map(|&r| self.pad[r]).collect();
        Ok(())
    }
}

/// The vision-language policy.
#[derive(Debug, Clone)]
pub struct Policy {
    config: PolicyConfig,
    embed_tokens: Tensor,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Tensor,
    vision: VisionEncoder,
    rotary: RotaryTable,
    vars: BTreeMap<String, Var>,
    device: Device,
    dtype: DType,
}

impl Policy {
    /// A new model with seeded random weights.
    pub fn new_random(
        config: &PolicyConfig,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        Self::build(
            config,
            ParamBuilder::random(seed, dtype, device),
            dtype,
            device,
        )
    }

    /// A model from named tensors (HF names); errors list every missing, unexpected or mis-shaped tensor.
    pub fn from_tensors(
        config: &PolicyConfig,
        tensors: BTreeMap<String, Tensor>,
        origin: &str,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        Self::build(
            config,
            ParamBuilder::loaded(tensors, origin, dtype, device),
            dtype,
            device,
        )
    }

    fn build(
        config: &PolicyConfig,
        mut pb: ParamBuilder,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        let d = config.hidden_size;
        let embed_tokens = pb.get(
            "model.embed_tokens.weight",
            &[config.vocab_size, d],
            Init::Uniform { std: 0.02 },
        )?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| DecoderLayer::new(&mut pb, config, i))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::new(&mut pb, "model.norm", d, config.rms_norm_eps)?;
        let lm_head = if config.tie_word_embeddings {
            embed_tokens.clone()
        } else {
            pb.get(
                "lm_head.weight",
                &[config.vocab_size, d],
                Init::Uniform {
                    std: 1.0 / (d as f64).sqrt(),
                },
            )?
        };
        let vision = VisionEncoder::new(&mut pb, &config.vision_config, d, dtype)?;
        let rotary = RotaryTable::new(
            config.head_dim(),
            config.max_position_embeddings,
            config.rope_theta,
            dtype,
            device,
        )?;
        let vars = pb.finish()?;
        Ok(Self {
            config: config.clone(),
            embed_tokens,
            layers,
            norm,
            lm_head,
            vision,
            rotary,
            vars,
            device: device.clone(),
            dtype,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// All parameters, sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        select_vars(&self.vars, |_| true)
    }

    /// Parameters whose name passes `trainable` (e.g. everything but the vision tower), sorted by name.
    pub fn trainable_vars(&self, trainable: impl Fn(&str) -> bool) -> Vec<(String, Var)> {
        select_vars(&self.vars, trainable)
    }

    /// Total number of scalar parameters.
    pub fn parameter_count(&self) -> usize {
        scalar_count(&self.vars)
    }

    /// Copies of all weights as plain tensors (no link to the live parameters).
    pub fn snapshot_tensors(&self) -> Result<BTreeMap<String, Tensor>> {
        self.vars
            .iter()
            .map(|(n, v)| Ok((n.clone(), v.as_tensor().copy()?)))
            .collect()
    }

    /// An independent copy whose weights do not change when this policy trains (a frozen reference).
    pub fn frozen_copy(&self) -> Result<Self> {
        Self::from_tensors(
            &self.config,
            self.snapshot_tensors()?,
            "frozen copy",
            self.dtype,
            &self.device,
        )
    }

    fn layout(rows: &[&[u32]]) -> BatchLayout {
        let len = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        BatchLayout {
            pad: rows.iter().map(|r| len - r.len()).collect(),
            len,
        }
    }

    /// Embeddings of a left-padded batch with image features written over the placeholders.
    fn embed(&self, inputs: &[SequenceInput], layout: &BatchLayout) -> Result<Tensor> {
        let b = inputs.len();
        let per_image = self.config.vision_config.tokens_per_image();
        let mut ids = Vec::with_capacity(b * layout.len);
        let mut gather = Vec::with_capacity(b * layout.len);
        let mut images = Vec::new();
        for (row, input) in inputs.iter().enumerate() {
            let placeholders = input
                .token_ids
                .iter()
                .filter(|&&t| t == self.config.image_token_id)
                .count();
            let expected = if input.image.is_some() { per_image } else { 0 };
            if placeholders != expected {
                return Err(PolicyError::InvalidInput(format!(
                    "row {row}: {placeholders} image placeholder tokens, expected {expected}"
                )));
            }
            let first_image_slot = images.len() * per_image;
            if let Some(img) = &input.image {
                images.push(img);
            }
            let mut seen = 0;
            for col in 0..layout.len {
                let flat = row * layout.len + col;
                if col < layout.pad[row] {
                    ids.push(self.config.pad_token_id);
                    gather.push(flat as u32);
                    continue;
                }
                let token = input.token_ids[col - layout.pad[row]];
                if token as usize >= self.config.vocab_size {
                    return Err(PolicyError::InvalidInput(format!(
                        "row {row}: token {token} outside vocab_size {}",
                        self.config.vocab_size
                    )));
                }
                ids.push(token);
                if token == self.config.image_token_id {
                    gather.push((b * layout.len + first_image_slot + seen) as u32);
                    seen += 1;
                } else {
                    gather.push(flat as u32);
                }
            }
        }
        let ids = Tensor::from_vec(ids, b * layout.len, &self.device)?;
        let text = self.embed_tokens.index_select(&ids, 0)?;
        let table = if images.is_empty() {
            text
        } else {
            let visual = self.vision.forward(&images, &self.device)?;
            Tensor::cat(&[&text, &visual], 0)?
        };
        let gather = Tensor::from_vec(gather, b * layout.len, &self.device)?;
        Ok(table
            .index_select(&gather, 0)?
            .reshape((b, layout.len, self.config.hidden_size))?)
    }

    /// Additive mask `(b, 1, q_len, offset + q_len)`: causal, padding blocked, each position sees itself.
    fn mask(&self, pad: &[usize], q_len: usize, offset: usize) -> Result<Tensor> {
        padded_causal_mask(pad, q_len, offset, self.dtype, &self.device)
    }

    fn positions(pad: &[usize], q_len: usize, offset: usize) -> Vec<Vec<u32>> {
        pad.iter()
            .map(|&p| {
                (0..q_len)
                    .map(|q| (offset + q).saturating_sub(p) as u32)
                    .collect()
            })
            .collect()
    }

    fn run_layers(
        &self,
        x: Tensor,
        pad: &[usize],
        offset: usize,
        caches: Option<&mut [LayerCache]>,
    ) -> Result<Tensor> {
        let q_len = x.dim(1)?;
        let needed = offset + q_len;
        if needed > self.config.max_position_embeddings {
            return Err(PolicyError::InvalidInput(format!(
                "sequence of {needed} tokens exceeds max_position_embeddings {}",
                self.config.max_position_embeddings
            )));
        }
        let rotary = self.rotary.factors(&Self::positions(pad, q_len, offset))?;
        let mask = self.mask(pad, q_len, offset)?;
        let mut x = x;
        match caches {
            Some(caches) => {
                for (layer, cache) in self.layers.iter().zip(caches.iter_mut()) {
                    x = layer.forward(&x, &rotary, &mask, Some(cache))?;
                }
            }
            None => {
                for layer in &self.layers {
                    x = layer.forward(&x, &rotary, &mask, None)?;
                }
            }
        }
        self.norm.forward(&x)
    }

    fn head(&self, hidden: &Tensor) -> Result<Tensor> {
        let dims = hidden.dims().to_vec();
        let d = self.config.hidden_size;
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let logits = hidden.reshape((rows, d))?.matmul(&self.lm_head.t()?)?;
        let mut out = dims;
        let last = out.len() - 1;
        out[last] = self.config.vocab_size;
        Ok(logits.reshape(out)?)
    }

    /// Differentiable forward over full sequences: logits `(b, len, vocab)` for every column.
    pub fn forward(&self, inputs: &[SequenceInput]) -> Result<(Tensor, BatchLayout)> {
        let (hidden, layout) = self.forward_hidden(inputs)?;
        Ok((self.head(&hidden)?, layout))
    }

    /// Differentiable forward returning the final normalised hidden states `(b, len, hidden)`.
    pub fn forward_hidden(&self, inputs: &[SequenceInput]) -> Result<(Tensor, BatchLayout)> {
        if inputs.is_empty() {
            return Err(PolicyError::InvalidInput("empty batch".into()));
        }
        let rows: Vec<&[u32]> = inputs.iter().map(|i| i.token_ids.as_slice()).collect();
        let layout = Self::layout(&rows);
        let x = self.embed(inputs, &layout)?;
        Ok((self.run_layers(x, &layout.pad, 0, None)?, layout))
    }

    /// Output-head logits for hidden states `(..., hidden)` → `(..., vocab)` (differentiable).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.head(hidden)
    }

    /// Start generation: run the prompts, return the cache and last-position logits `(b, vocab)`.
    pub fn prefill(&self, prompts: &[SequenceInput]) -> Result<(DecodeState, Tensor)> {
        if prompts.is_empty() || prompts.iter().any(|p| p.token_ids.is_empty()) {
            return Err(PolicyError::InvalidInput(
                "prefill needs non-empty prompts".into(),
            ));
        }
        let rows: Vec<&[u32]> = prompts.iter().map(|i| i.token_ids.as_slice()).collect();
        let layout = Self::layout(&rows);
        let x = self.embed(prompts, &layout)?;
        let mut caches: Vec<LayerCache> = vec![None; self.layers.len()];
        let hidden = self.run_layers(x, &layout.pad, 0, Some(&mut caches))?;
        let last = hidden.narrow(1, layout.len - 1, 1)?.squeeze(1)?;
        let state = DecodeState {
            caches,
            pad: layout.pad,
            columns: layout.len,
        };
        Ok((state, self.head(&last)?))
    }

    /// Feed one token per row; returns next-token logits `(b, vocab)`.
    pub fn decode(&self, state: &mut DecodeState, tokens: &[u32]) -> Result<Tensor> {
        if tokens.len() != state.rows() {
            return Err(PolicyError::InvalidInput(format!(
                "decode got {} tokens for {} rows",
                tokens.len(),
                state.rows()
            )));
        }
        if let Some(&bad) = tokens
            .iter()
            .find(|&&t| t as usize >= self.config.vocab_size)
        {
            return Err(PolicyError::InvalidInput(format!(
                "token {bad} outside vocabulary"
            )));
        }
        let ids = Tensor::from_vec(tokens.to_vec(), tokens.len(), &self.device)?;
        let x = self.embed_tokens.index_select(&ids, 0)?.reshape((
            tokens.len(),
            1,
            self.config.hidden_size,
        ))?;
        let offset = state.columns;
        let hidden = self.run_layers(x, &state.pad, offset, Some(&mut state.caches))?;
        state.columns += 1;
        self.head(&hidden.squeeze(1)?)
    }

    /// Log-softmax of `logits` along the vocabulary (differentiable).
    pub fn log_softmax(logits: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::log_softmax(logits, D::Minus1)?)
    }
}
