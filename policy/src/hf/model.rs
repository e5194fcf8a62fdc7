//! A Hugging Face Qwen2 / Qwen2.5-VL model: loading, saving, batched forward, log-probs and
//! KV-cached generation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var, D};

use crate::error::{PolicyError, Result};
use crate::hf::config::HfConfig;
use crate::hf::embedding::Embedded;
use crate::hf::image::PixelPatches;
use crate::hf::image_table::{check_images, stacked_patches};
use crate::hf::lora::LoraConfig;
use crate::hf::text::{KvBuffer, Position3, Rotary, TextLayer};
use crate::hf::vision::VisionTower;
use crate::hf::weights::{describe_files, load_weights, save_weights, weight_files};
use crate::layers::{padded_causal_mask, RmsNorm};
use crate::params::{Init, ParamBuilder};

/// One sequence: token ids (image placeholders already expanded) and its images in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HfInput {
    /// Token ids; each image stands for `merged_tokens` consecutive `image_token_id`s.
    pub token_ids: Vec<u32>,
    /// Preprocessed images, in the order their placeholders appear.
    pub images: Vec<PixelPatches>,
}

/// Generation state of a left-padded batch: preallocated KV buffers and next positions.
#[derive(Debug, Clone)]
pub struct HfDecodeState {
    caches: Vec<KvBuffer>,
    pad: Vec<usize>,
    columns: usize,
    next_position: Vec<u32>,
}

impl HfDecodeState {
    /// Rows still being decoded.
    pub fn rows(&self) -> usize {
        self.pad.len()
    }

    /// Keep only the listed rows, in that order.
    pub fn keep_rows(&mut self, rows: &[usize]) -> Result<()> {
        if let Some(bad) = rows.iter().find(|&&r| r >= self.pad.len()) {
            return Err(PolicyError::InvalidInput(format!(
                "keep_rows: row {bad} out of range for {} rows",
                self.pad.len()
            )));
        }
        let device = match self.caches.first() {
            Some(c) => c.device(),
            None => Device::Cpu,
        };
        let idx = Tensor::from_vec(
            rows.iter().map(|&r| r as u32).collect(),
            rows.len(),
            &device,
        )?;
        for cache in &mut self.caches {
            cache.select_rows(&idx)?;
        }
        self.pad = rows.iter().map(|&r| self.pad[r]).collect();
        self.next_position = rows.iter().map(|&r| self.next_position[r]).collect();
        Ok(())
    }
}

/// A Qwen2 or Qwen2.5-VL model with trainable parameters.
#[derive(Debug, Clone)]
pub struct HfModel {
    /// The checkpoint's configuration.
    pub(crate) config: HfConfig,
    /// Token embeddings `(vocab, hidden)`.
    pub(crate) embed_tokens: Tensor,
    /// The decoder layers.
    pub(crate) layers: Vec<TextLayer>,
    /// The final norm.
    pub(crate) norm: RmsNorm,
    /// The output head `(vocab, hidden)` (the embeddings when tied).
    pub(crate) lm_head: Tensor,
    /// The vision tower of a vision-language checkpoint.
    pub(crate) vision: Option<VisionTower>,
    /// Rotary angles of the decoder.
    pub(crate) rotary: Rotary,
    /// Every base parameter by name.
    pub(crate) vars: BTreeMap<String, Var>,
    /// Base parameters handed to the modules detached (see [`HfModel::freeze`]).
    pub(crate) frozen: BTreeSet<String>,
    /// The LoRA adapters and their variables, when attached.
    pub(crate) lora: Option<(LoraConfig, BTreeMap<String, Var>)>,
    /// Where the tensors live.
    pub(crate) device: Device,
    /// The weights' dtype.
    pub(crate) dtype: DType,
}

impl HfModel {
    /// Load `dir` (config.json + safetensors, single or sharded), converting weights to `dtype`;
    /// the vision tower starts frozen (see [`HfModel::freeze`]).
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let config = HfConfig::from_dir(dir)?;
        let tensors = load_weights(dir, device)?;
        let origin = describe_files(&weight_files(dir)?);
        Self::from_tensors(&config, tensors, &origin, dtype, device)
    }

    /// A model from named tensors (the vision tower starts frozen); the error lists every missing,
    /// unexpected or mis-shaped tensor.
    pub fn from_tensors(
        config: &HfConfig,
        mut tensors: BTreeMap<String, Tensor>,
        origin: &str,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        if config.text.tie_word_embeddings {
            // Some tied checkpoints also store the (identical) head; transformers ignores it.
            tensors.remove("lm_head.weight");
        }
        Self::build(
            config,
            ParamBuilder::loaded(tensors, origin, dtype, device),
            dtype,
            device,
        )?
        .with_vision_frozen()
    }

    /// A model with seeded random weights; the vision tower starts frozen.
    pub fn new_random(config: &HfConfig, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        Self::build(
            config,
            ParamBuilder::random(seed, dtype, device),
            dtype,
            device,
        )?
        .with_vision_frozen()
    }

    pub(crate) fn build(
        config: &HfConfig,
        mut pb: ParamBuilder,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let t = &config.text;
        let embed_tokens = pb.get(
            "model.embed_tokens.weight",
            &[t.vocab_size, t.hidden_size],
            Init::Uniform { std: 0.02 },
        )?;
        let layers = (0..t.num_hidden_layers)
            .map(|i| TextLayer::new(&mut pb, t, i))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::new(&mut pb, "model.norm", t.hidden_size, t.rms_norm_eps)?;
        let lm_head = if t.tie_word_embeddings {
            embed_tokens.clone()
        } else {
            pb.get(
                "lm_head.weight",
                &[t.vocab_size, t.hidden_size],
                Init::Uniform { std: 0.02 },
            )?
        };
        let vision = match &config.vision {
            Some(v) => Some(VisionTower::new(&mut pb, v)?),
            None => None,
        };
        let vars = pb.finish()?;
        Ok(Self {
            rotary: Rotary::new(t.head_dim, t.rope_theta, t.mrope_section.as_deref()),
            config: config.clone(),
            embed_tokens,
            layers,
            norm,
            lm_head,
            vision,
            vars,
            frozen: BTreeSet::new(),
            lora: None,
            device: device.clone(),
            dtype,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HfConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The compute dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Write config.json and the weights (transformers-4 tensor names, which transformers 4 and 5 load).
    pub fn save(&self, dir: &Path, max_shard_bytes: Option<usize>) -> Result<()> {
        let tensors: BTreeMap<String, Tensor> = self
            .vars
            .iter()
            .map(|(n, v)| Ok((n.clone(), v.as_tensor().copy()?)))
            .collect::<Result<_>>()?;
        save_weights(&tensors, dir, max_shard_bytes)?;
        write_json(&dir.join("config.json"), &self.config.raw)
    }

    /// Additive mask `(b, 1, q_len, offset + q_len)`: causal, padding blocked, each position sees itself.
    pub(crate) fn mask(&self, pad: &[usize], q_len: usize, offset: usize) -> Result<Tensor> {
        padded_causal_mask(pad, q_len, offset, self.dtype, &self.device)
    }

    fn run_layers(
        &self,
        x: Tensor,
        positions: &[Vec<Position3>],
        pad: &[usize],
        offset: usize,
        caches: Option<&mut [KvBuffer]>,
    ) -> Result<Tensor> {
        let q_len = x.dim(1)?;
        let rotary = self.rotary.factors(positions, self.dtype, &self.device)?;
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

    /// Output-head logits for hidden states `(..., hidden)` → `(..., vocab)` (differentiable).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let dims = hidden.dims().to_vec();
        let d = self.config.text.hidden_size;
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let logits = crate::skinny::matmul_transposed(&hidden.reshape((rows, d))?, &self.lm_head)?;
        let mut out = dims;
        let last = out.len() - 1;
        out[last] = self.config.text.vocab_size;
        Ok(logits.reshape(out)?)
    }

    /// Differentiable forward: final hidden states `(b, len, hidden)` of a left-padded batch, and pads.
    pub fn forward_hidden(&self, inputs: &[HfInput]) -> Result<(Tensor, Vec<usize>)> {
        let e = self.embed(inputs)?;
        Ok((
            self.run_layers(e.x, &e.positions, &e.pads, 0, None)?,
            e.pads,
        ))
    }

    /// Differentiable forward: logits `(b, len, vocab)` at every column, and the left-pad of each row.
    pub fn forward(&self, inputs: &[HfInput]) -> Result<(Tensor, Vec<usize>)> {
        let (hidden, pads) = self.forward_hidden(inputs)?;
        Ok((self.logits(&hidden)?, pads))
    }

    /// Log-probabilities `(b, len)` of each token given the ones before it (column 0 and padding hold 0).
    pub fn token_logprobs(&self, inputs: &[HfInput]) -> Result<Tensor> {
        let (hidden, pads) = self.forward_hidden(inputs)?;
        let (b, len, _) = hidden.dims3()?;
        if len < 2 {
            return Ok(Tensor::zeros((b, len), self.dtype, &self.device)?);
        }
        // The last column predicts nothing here: leave it out before the (large) output head.
        let d = self.config.text.hidden_size;
        let predicting = hidden
            .narrow(1, 0, len - 1)?
            .contiguous()?
            .reshape((b * (len - 1), d))?;
        let mut targets = Vec::with_capacity(b * (len - 1));
        let mut keep = Vec::with_capacity(b * (len - 1));
        for (input, &pad) in inputs.iter().zip(&pads) {
            for col in 1..len {
                let real = col > pad;
                targets.push(if col >= pad {
                    input.token_ids[col - pad]
                } else {
                    0
                });
                keep.push(if real { 1f32 } else { 0f32 });
            }
        }
        let logp =
            crate::head_logprobs::head_target_logprobs(&predicting, &self.lm_head, &targets)?
                .reshape((b, len - 1))?;
        let keep = Tensor::from_vec(keep, (b, len - 1), &self.device)?.to_dtype(logp.dtype())?;
        let picked = (logp * keep)?;
        let first = Tensor::zeros((b, 1), picked.dtype(), &self.device)?;
        Ok(Tensor::cat(&[&first, &picked], 1)?)
    }

    /// Run the prompts with room for `max_new_tokens` more; returns the state and last-column logits `(b, vocab)`.
    pub fn prefill(
        &self,
        inputs: &[HfInput],
        max_new_tokens: usize,
    ) -> Result<(HfDecodeState, Tensor)> {
        let Embedded {
            x,
            positions,
            pads,
            next,
        } = self.embed(inputs)?;
        let (b, len, _) = x.dims3()?;
        let t = &self.config.text;
        let mut caches = (0..self.layers.len())
            .map(|_| {
                KvBuffer::new(
                    b,
                    t.num_key_value_heads,
                    len + max_new_tokens,
                    t.head_dim,
                    self.dtype,
                    &self.device,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let hidden = self.run_layers(x, &positions, &pads, 0, Some(&mut caches))?;
        let last = hidden.narrow(1, len - 1, 1)?.squeeze(1)?;
        let state = HfDecodeState {
            caches,
            pad: pads,
            columns: len,
            next_position: next,
        };
        Ok((state, self.logits(&last)?))
    }

    /// Feed one token per row; returns next-token logits `(b, vocab)`.
    pub fn decode(&self, state: &mut HfDecodeState, tokens: &[u32]) -> Result<Tensor> {
        if tokens.len() != state.rows() {
            return Err(PolicyError::InvalidInput(format!(
                "decode got {} tokens for {} rows",
                tokens.len(),
                state.rows()
            )));
        }
        let vocab = self.config.text.vocab_size;
        if let Some(bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(PolicyError::InvalidInput(format!(
                "token {bad} outside vocab_size {vocab}"
            )));
        }
        let ids = Tensor::from_vec(tokens.to_vec(), tokens.len(), &self.device)?;
        let x = self.embed_tokens.index_select(&ids, 0)?.reshape((
            tokens.len(),
            1,
            self.config.text.hidden_size,
        ))?;
        let positions: Vec<Vec<Position3>> =
            state.next_position.iter().map(|&p| vec![[p; 3]]).collect();
        let hidden = self.run_layers(
            x,
            &positions,
            &state.pad,
            state.columns,
            Some(&mut state.caches),
        )?;
        state.columns += 1;
        for p in &mut state.next_position {
            *p += 1;
        }
        self.logits(&hidden.squeeze(1)?)
    }

    /// Greedy continuation of one input for `steps` tokens (KV-cached).
    pub fn greedy(&self, input: &HfInput, steps: usize) -> Result<Vec<u32>> {
        let (mut state, mut logits) = self.prefill(std::slice::from_ref(input), steps)?;
        let mut out = Vec::with_capacity(steps);
        for step in 0..steps {
            let next = logits.argmax(D::Minus1)?.to_vec1::<u32>()?[0];
            out.push(next);
            if step + 1 < steps {
                logits = self.decode(&mut state, &[next])?;
            }
        }
        Ok(out)
    }

    /// Vision-tower outputs `(tokens, hidden)` for preprocessed images, image after image.
    pub fn image_embeddings(&self, images: &[PixelPatches]) -> Result<Tensor> {
        let (Some(vision), Some(cfg)) = (&self.vision, &self.config.vision) else {
            return Err(PolicyError::InvalidInput(format!(
                "this {} model has no vision tower",
                self.config.architecture.model_type()
            )));
        };
        if images.is_empty() {
            return Err(PolicyError::InvalidInput(
                "image_embeddings: no images".into(),
            ));
        }
        check_images(images, cfg.spatial_merge_size, cfg.patch_dim())
            .map_err(PolicyError::InvalidInput)?;
        let images: Vec<&PixelPatches> = images.iter().collect();
        let (pixels, grids) = stacked_patches(&images, cfg.patch_dim(), &self.device, self.dtype)?;
        vision.forward(&pixels, &grids)
    }

    /// Whether this is a vision-language model.
    pub fn has_vision(&self) -> bool {
        self.vision.is_some()
    }
}

pub(crate) fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| PolicyError::Json {
        path: path.display().to_string(),
        source,
    })?;
    std::fs::write(path, text).map_err(|source| PolicyError::Io {
        path: path.display().to_string(),
        source,
    })
}
