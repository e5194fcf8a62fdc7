//! Building blocks written only with differentiable candle ops (no fused kernels that drop gradients).

use candle_core::{DType, Device, Tensor, D};

use crate::error::Result;
use crate::params::{Init, ParamBuilder};

/// Additive mask value for blocked attention (exp of it underflows to exactly zero).
pub const MASKED: f64 = -1e9;

/// Additive mask `(b, 1, q_len, offset + q_len)` of a left-padded batch (row `r` padded by
/// `pad[r]` columns) whose queries start at column `offset`: causal, padding blocked, each position
/// sees itself.
pub fn padded_causal_mask(
    pad: &[usize],
    q_len: usize,
    offset: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let k_len = offset + q_len;
    let mut values = Vec::with_capacity(pad.len() * q_len * k_len);
    for &p in pad {
        for q in 0..q_len {
            let qpos = offset + q;
            values.extend((0..k_len).map(|k| {
                if k == qpos || (k <= qpos && k >= p) {
                    0.0f32
                } else {
                    MASKED as f32
                }
            }));
        }
    }
    Ok(Tensor::from_vec(values, (pad.len(), 1, q_len, k_len), device)?.to_dtype(dtype)?)
}

/// A dense layer `y = x Wᵀ + b` with HF weight layout `(out, in)`.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// Build `name.weight` (and `name.bias` when `bias`).
    pub fn new(
        pb: &mut ParamBuilder,
        name: &str,
        inp: usize,
        out: usize,
        bias: bool,
    ) -> Result<Self> {
        let std = 1.0 / (inp as f64).sqrt();
        let weight = pb.get(
            &format!("{name}.weight"),
            &[out, inp],
            Init::Uniform { std },
        )?;
        let bias = if bias {
            Some(pb.get(&format!("{name}.bias"), &[out], Init::Constant(0.0))?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }

    /// A layer from existing tensors: `weight` shaped `(out, in)`, `bias` shaped `(out)`.
    pub fn from_parts(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    /// The `(out, in)` weight.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Apply to `(..., in)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let inp = dims[dims.len() - 1];
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let y = crate::skinny::matmul_transposed(&x.reshape((rows, inp))?, &self.weight)?;
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let mut out_dims = dims;
        let last = out_dims.len() - 1;
        out_dims[last] = self.weight.dim(0)?;
        Ok(y.reshape(out_dims)?)
    }
}

/// Root-mean-square normalisation composed from basic ops.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    /// Build `name.weight` initialised to ones.
    pub fn new(pb: &mut ParamBuilder, name: &str, size: usize, eps: f64) -> Result<Self> {
        let weight = pb.get(&format!("{name}.weight"), &[size], Init::Constant(1.0))?;
        Ok(Self { weight, eps })
    }

    /// Normalise over the last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean_square = x.sqr()?.mean_keepdim(D::Minus1)?;
        let denom = (mean_square + self.eps)?.sqrt()?;
        Ok(x.broadcast_div(&denom)?.broadcast_mul(&self.weight)?)
    }
}

/// Layer normalisation with bias, composed from basic ops.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Build `name.weight` (ones) and `name.bias` (zeros).
    pub fn new(pb: &mut ParamBuilder, name: &str, size: usize, eps: f64) -> Result<Self> {
        let weight = pb.get(&format!("{name}.weight"), &[size], Init::Constant(1.0))?;
        let bias = pb.get(&format!("{name}.bias"), &[size], Init::Constant(0.0))?;
        Ok(Self { weight, bias, eps })
    }

    /// Normalise over the last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        Ok(normed
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)?)
    }
}

/// SwiGLU MLP `down(silu(gate(x)) * up(x))`.
#[derive(Debug, Clone)]
pub struct GatedMlp {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl GatedMlp {
    /// Build `name.{gate,up,down}_proj`.
    pub fn new(
        pb: &mut ParamBuilder,
        name: &str,
        size: usize,
        inner: usize,
        bias: bool,
    ) -> Result<Self> {
        Ok(Self {
            gate: Linear::new(pb, &format!("{name}.gate_proj"), size, inner, bias)?,
            up: Linear::new(pb, &format!("{name}.up_proj"), size, inner, bias)?,
            down: Linear::new(pb, &format!("{name}.down_proj"), inner, size, bias)?,
        })
    }

    /// Apply to `(..., size)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate.forward(x)?)?;
        self.down.forward(&(gate * self.up.forward(x)?)?)
    }
}

/// Precomputed rotary angles (GPT-NeoX / Qwen2 half-split layout).
#[derive(Debug, Clone)]
pub struct RotaryTable {
    cos: Tensor,
    sin: Tensor,
}

/// Rotary factors for one batch, shaped `(b, 1, len, head_dim)`.
#[derive(Debug, Clone)]
pub struct RotaryFactors {
    cos: Tensor,
    sin: Tensor,
}

impl RotaryTable {
    /// Table for positions `0..max_positions`.
    pub fn new(
        head_dim: usize,
        max_positions: usize,
        theta: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(max_positions * half);
        let mut sin = Vec::with_capacity(max_positions * half);
        for pos in 0..max_positions {
            for i in 0..half {
                let inv_freq = 1.0 / theta.powf((2 * i) as f64 / head_dim as f64);
                let angle = pos as f64 * inv_freq;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let cos = Tensor::from_vec(cos, (max_positions, half), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (max_positions, half), device)?.to_dtype(dtype)?;
        Ok(Self { cos, sin })
    }

    /// Factors for a `(b, len)` grid of positions.
    pub fn factors(&self, positions: &[Vec<u32>]) -> Result<RotaryFactors> {
        let b = positions.len();
        let len = positions.first().map_or(0, Vec::len);
        let flat: Vec<u32> = positions.iter().flatten().copied().collect();
        let idx = Tensor::from_vec(flat, b * len, self.cos.device())?;
        let expand = |table: &Tensor| -> Result<Tensor> {
            let half = table.index_select(&idx, 0)?.reshape((b, 1, len, ()))?;
            Ok(Tensor::cat(&[&half, &half], D::Minus1)?)
        };
        Ok(RotaryFactors {
            cos: expand(&self.cos)?,
            sin: expand(&self.sin)?,
        })
    }
}

impl RotaryFactors {
    /// Rotate `(b, heads, len, head_dim)`.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let half = x.dim(D::Minus1)? / 2;
        let x1 = x.narrow(D::Minus1, 0, half)?;
        let x2 = x.narrow(D::Minus1, half, half)?;
        let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        Ok((x.broadcast_mul(&self.cos)? + rotated.broadcast_mul(&self.sin)?)?)
    }
}

/// Repeat key/value heads for grouped-query attention: `(b, kv, len, d)` → `(b, kv·rep, len, d)`.
pub fn repeat_kv(x: &Tensor, rep: usize) -> Result<Tensor> {
    if rep == 1 {
        return Ok(x.clone());
    }
    let (b, kv, len, d) = x.dims4()?;
    Ok(x.unsqueeze(2)?
        .expand((b, kv, rep, len, d))?
        .reshape((b, kv * rep, len, d))?)
}

/// Scaled dot-product attention with an optional additive mask, differentiable.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let scale = 1.0 / (q.dim(D::Minus1)? as f64).sqrt();
    let scores = (q.contiguous()?.matmul(&k.t()?.contiguous()?)? * scale)?;
    let scores = match mask {
        Some(m) => scores.broadcast_add(m)?,
        None => scores,
    };
    let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
    Ok(probs.matmul(&v.contiguous()?)?)
}
