//! The Qwen2 text decoder of Hugging Face checkpoints: q/k/v bias, grouped-query attention,
//! (multimodal) rotary positions and a preallocated KV cache for generation.

use candle_core::{DType, Device, Tensor, D};

use crate::error::Result;
use crate::hf::config::TextConfig;
use crate::hf::lora::{AdaptedLinear, LoraBuilder};
use crate::layers::{Linear, RmsNorm};
use crate::params::ParamBuilder;

/// A position in the three M-RoPE axes (temporal, height, width); text uses the same value thrice.
pub type Position3 = [u32; 3];

/// Rotary angles for Qwen2 (1-D) and Qwen2.5-VL (M-RoPE sections), computed in f32 like transformers.
#[derive(Debug, Clone)]
pub struct Rotary {
    inv_freq: Vec<f32>,
    axis: Vec<usize>,
}

/// cos/sin factors shaped `(b, 1, len, head_dim)`.
#[derive(Debug, Clone)]
pub struct RotaryFactors {
    cos: Tensor,
    sin: Tensor,
}

impl Rotary {
    /// Angles for `head_dim` with base `theta`; `mrope_section` splits `head_dim / 2` over the axes.
    pub fn new(head_dim: usize, theta: f64, mrope_section: Option<&[usize]>) -> Self {
        let half = head_dim / 2;
        let inv_freq = (0..half)
            .map(|i| 1.0f32 / (theta as f32).powf((2 * i) as f32 / head_dim as f32))
            .collect();
        let axis = match mrope_section {
            Some(sections) => sections
                .iter()
                .enumerate()
                .flat_map(|(chunk, &n)| std::iter::repeat_n(chunk % 3, n))
                .collect(),
            None => vec![0; half],
        };
        Self { inv_freq, axis }
    }

    /// Factors for a `(b, len)` grid of positions.
    pub fn factors(
        &self,
        positions: &[Vec<Position3>],
        dtype: DType,
        device: &Device,
    ) -> Result<RotaryFactors> {
        let b = positions.len();
        let len = positions.first().map_or(0, Vec::len);
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(b * len * half * 2);
        let mut sin = Vec::with_capacity(b * len * half * 2);
        let mut angles = vec![0f32; half];
        for row in positions {
            for pos in row {
                for (j, angle) in angles.iter_mut().enumerate() {
                    *angle = pos[self.axis[j]] as f32 * self.inv_freq[j];
                }
                for _ in 0..2 {
                    cos.extend(angles.iter().map(|a| a.cos()));
                    sin.extend(angles.iter().map(|a| a.sin()));
                }
            }
        }
        let shape = (b, 1, len, 2 * half);
        Ok(RotaryFactors {
            cos: Tensor::from_vec(cos, shape, device)?.to_dtype(dtype)?,
            sin: Tensor::from_vec(sin, shape, device)?.to_dtype(dtype)?,
        })
    }
}

impl RotaryFactors {
    /// Factors from precomputed `cos`/`sin` tables that broadcast against the rotated tensor.
    pub fn from_tables(cos: Tensor, sin: Tensor) -> Self {
        Self { cos, sin }
    }

    /// Rotate `(b, heads, len, head_dim)` (half-split layout).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let half = x.dim(D::Minus1)? / 2;
        let x1 = x.narrow(D::Minus1, 0, half)?;
        let x2 = x.narrow(D::Minus1, half, half)?;
        let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        Ok((x.broadcast_mul(&self.cos)? + rotated.broadcast_mul(&self.sin)?)?)
    }
}

/// Preallocated keys and values of one layer, `(b, kv_heads, capacity, head_dim)`; `len` columns used.
#[derive(Debug, Clone)]
pub struct KvBuffer {
    keys: Tensor,
    values: Tensor,
    len: usize,
}

impl KvBuffer {
    /// Empty buffers with room for `capacity` columns.
    pub fn new(
        b: usize,
        kv_heads: usize,
        capacity: usize,
        head_dim: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let shape = (b, kv_heads, capacity, head_dim);
        Ok(Self {
            keys: Tensor::zeros(shape, dtype, device)?,
            values: Tensor::zeros(shape, dtype, device)?,
            len: 0,
        })
    }

    /// Columns filled so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `(b, kv_heads, add, head_dim)` keys and values (doubling the room when full) and
    /// returns views of every column filled so far.
    pub(crate) fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let add = k.dim(2)?;
        let capacity = self.keys.dim(2)?;
        if self.len + add > capacity {
            // Double the room once instead of concatenating on every step.
            let grow = (capacity.max(add)).max(self.len + add - capacity);
            let (b, h, _, d) = self.keys.dims4()?;
            let extra = Tensor::zeros((b, h, grow, d), self.keys.dtype(), self.keys.device())?;
            self.keys = Tensor::cat(&[&self.keys, &extra], 2)?;
            self.values = Tensor::cat(&[&self.values, &extra], 2)?;
        }
        self.keys.slice_set(&k.contiguous()?, 2, self.len)?;
        self.values.slice_set(&v.contiguous()?, 2, self.len)?;
        self.len += add;
        Ok((
            self.keys.narrow(2, 0, self.len)?,
            self.values.narrow(2, 0, self.len)?,
        ))
    }

    /// The device the buffers live on.
    pub fn device(&self) -> Device {
        self.keys.device().clone()
    }

    /// Keep only the listed batch rows.
    pub fn select_rows(&mut self, idx: &Tensor) -> Result<()> {
        self.keys = self.keys.index_select(idx, 0)?;
        self.values = self.values.index_select(idx, 0)?;
        Ok(())
    }
}

/// Where a layer's attention finds its keys and values, `(b, kv_heads, columns, head_dim)`.
#[derive(Debug)]
pub enum LayerKeys<'a> {
    /// The input's own only.
    Own,
    /// A generation cache: the input's are appended and attention covers everything cached.
    Cache(&'a mut KvBuffer),
    /// Keys and values kept before, one row per input row, then the input's own
    /// (differentiable: gradients reach whatever computed them).
    Prefix {
        /// Earlier columns' keys.
        keys: &'a Tensor,
        /// Earlier columns' values.
        values: &'a Tensor,
    },
}

/// One decoder layer under `model.layers.{i}`.
#[derive(Debug, Clone)]
pub struct TextLayer {
    input_layernorm: RmsNorm,
    q_proj: AdaptedLinear,
    k_proj: AdaptedLinear,
    v_proj: AdaptedLinear,
    o_proj: AdaptedLinear,
    post_attention_layernorm: RmsNorm,
    gate_proj: AdaptedLinear,
    up_proj: AdaptedLinear,
    down_proj: AdaptedLinear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    prefix: String,
}

impl TextLayer {
    /// Build layer `index`.
    pub fn new(pb: &mut ParamBuilder, cfg: &TextConfig, index: usize) -> Result<Self> {
        let prefix = format!("model.layers.{index}");
        let d = cfg.hidden_size;
        let q = cfg.num_attention_heads * cfg.head_dim;
        let kv = cfg.num_key_value_heads * cfg.head_dim;
        let lin = |pb: &mut ParamBuilder, name: &str, inp, out, bias| -> Result<AdaptedLinear> {
            Ok(AdaptedLinear::new(Linear::new(
                pb,
                &format!("{prefix}.{name}"),
                inp,
                out,
                bias,
            )?))
        };
        Ok(Self {
            input_layernorm: RmsNorm::new(
                pb,
                &format!("{prefix}.input_layernorm"),
                d,
                cfg.rms_norm_eps,
            )?,
            q_proj: lin(pb, "self_attn.q_proj", d, q, true)?,
            k_proj: lin(pb, "self_attn.k_proj", d, kv, true)?,
            v_proj: lin(pb, "self_attn.v_proj", d, kv, true)?,
            o_proj: lin(pb, "self_attn.o_proj", q, d, false)?,
            post_attention_layernorm: RmsNorm::new(
                pb,
                &format!("{prefix}.post_attention_layernorm"),
                d,
                cfg.rms_norm_eps,
            )?,
            gate_proj: lin(pb, "mlp.gate_proj", d, cfg.intermediate_size, false)?,
            up_proj: lin(pb, "mlp.up_proj", d, cfg.intermediate_size, false)?,
            down_proj: lin(pb, "mlp.down_proj", cfg.intermediate_size, d, false)?,
            heads: cfg.num_attention_heads,
            kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
            prefix,
        })
    }

    /// Attach LoRA adapters to the projections the builder's config targets.
    pub fn add_lora(
        &mut self,
        lb: &mut LoraBuilder,
        targets: &dyn Fn(&str) -> bool,
        r: usize,
        scale: f64,
    ) -> Result<()> {
        let prefix = self.prefix.clone();
        for (name, layer) in [
            ("self_attn.q_proj", &mut self.q_proj),
            ("self_attn.k_proj", &mut self.k_proj),
            ("self_attn.v_proj", &mut self.v_proj),
            ("self_attn.o_proj", &mut self.o_proj),
            ("mlp.gate_proj", &mut self.gate_proj),
            ("mlp.up_proj", &mut self.up_proj),
            ("mlp.down_proj", &mut self.down_proj),
        ] {
            let module = format!("{prefix}.{name}");
            if targets(&module) {
                lb.adapt(layer, &module, r, scale)?;
            }
        }
        Ok(())
    }

    /// Run on `(b, len, d)`; with `cache`, keys/values are appended and attention covers the cache.
    pub fn forward(
        &self,
        x: &Tensor,
        rotary: &RotaryFactors,
        mask: &Tensor,
        cache: Option<&mut KvBuffer>,
    ) -> Result<Tensor> {
        let keys = match cache {
            Some(buffer) => LayerKeys::Cache(buffer),
            None => LayerKeys::Own,
        };
        Ok(self.forward_keys(x, rotary, mask, keys)?.0)
    }

    /// Run on `(b, len, d)`, attending over the keys and values `keys` names; returns the output
    /// and those keys and values (differentiable except a cache's).
    pub fn forward_keys(
        &self,
        x: &Tensor,
        rotary: &RotaryFactors,
        mask: &Tensor,
        keys: LayerKeys<'_>,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        let (b, len, _) = x.dims3()?;
        let h = self.input_layernorm.forward(x)?;
        let split = |t: Tensor, heads: usize| -> Result<Tensor> {
            Ok(t.reshape((b, len, heads, self.head_dim))?.transpose(1, 2)?)
        };
        let q = rotary.apply(&split(self.q_proj.forward(&h)?, self.heads)?)?;
        let k = rotary.apply(&split(self.k_proj.forward(&h)?, self.kv_heads)?)?;
        let v = split(self.v_proj.forward(&h)?, self.kv_heads)?;
        // Cached keys are a narrowed view of the buffer that matmul reads in place (no copy).
        let (k, v) = match keys {
            LayerKeys::Cache(buffer) => buffer.append(&k, &v)?,
            LayerKeys::Own => (k.contiguous()?, v.contiguous()?),
            LayerKeys::Prefix { keys, values } => (
                Tensor::cat(&[keys, &k.contiguous()?], 2)?,
                Tensor::cat(&[values, &v.contiguous()?], 2)?,
            ),
        };
        let attended = grouped_attention(&q, &k, &v, mask, self.kv_heads)?
            .transpose(1, 2)?
            .reshape((b, len, self.heads * self.head_dim))?;
        let x = (x + self.o_proj.forward(&attended)?)?;
        let h = self.post_attention_layernorm.forward(&x)?;
        let gate = candle_nn::ops::silu(&self.gate_proj.forward(&h)?)?;
        let mlp = self
            .down_proj
            .forward(&(gate * self.up_proj.forward(&h)?)?)?;
        Ok(((x + mlp)?, (k, v)))
    }
}

/// Attention where `rep` query heads share each key/value head, without copying keys per query head.
/// `q` is `(b, heads, len, hd)`; `k`/`v` are `(b, kv, keys, hd)`, contiguous or a narrowed KV buffer;
/// `mask` is `(b, 1, len, keys)`.
pub fn grouped_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    kv_heads: usize,
) -> Result<Tensor> {
    let (b, heads, len, hd) = q.dims4()?;
    let keys = k.dim(2)?;
    let rep = heads / kv_heads;
    let scale = 1.0 / (hd as f64).sqrt();
    let q = q.contiguous()?.reshape((b, kv_heads, rep * len, hd))?;
    let scores = (q.matmul(&k.t()?)? * scale)?
        .reshape((b, kv_heads, rep, len, keys))?
        .broadcast_add(&mask.unsqueeze(1)?)?;
    let probs =
        candle_nn::ops::softmax(&scores, D::Minus1)?.reshape((b, kv_heads, rep * len, keys))?;
    Ok(probs.matmul(v)?.reshape((b, heads, len, hd))?)
}
