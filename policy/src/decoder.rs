//! Qwen2-architecture decoder layers (q/k/v bias, grouped-query attention, SwiGLU, RMSNorm).

use candle_core::Tensor;

use crate::config::PolicyConfig;
use crate::error::Result;
use crate::hf::text::KvBuffer;
use crate::layers::{attention, repeat_kv, GatedMlp, Linear, RmsNorm, RotaryFactors};
use crate::params::ParamBuilder;

/// Cached keys and values of one layer, `(b, kv_heads, len, head_dim)` each, in buffers with room
/// to spare (written in place, doubled when full) instead of concatenated anew at every step.
pub type LayerCache = Option<KvBuffer>;

/// Columns of room a layer's cache starts with beyond its prompt.
const CACHE_ROOM: usize = 64;

/// One decoder layer with HF tensor names under `model.layers.{i}`.
#[derive(Debug, Clone)]
pub struct DecoderLayer {
    input_layernorm: RmsNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    post_attention_layernorm: RmsNorm,
    mlp: GatedMlp,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl DecoderLayer {
    /// Build layer `index`.
    pub fn new(pb: &mut ParamBuilder, cfg: &PolicyConfig, index: usize) -> Result<Self> {
        let name = format!("model.layers.{index}");
        let d = cfg.hidden_size;
        let hd = cfg.head_dim();
        let kv = cfg.num_key_value_heads * hd;
        Ok(Self {
            input_layernorm: RmsNorm::new(
                pb,
                &format!("{name}.input_layernorm"),
                d,
                cfg.rms_norm_eps,
            )?,
            q_proj: Linear::new(pb, &format!("{name}.self_attn.q_proj"), d, d, true)?,
            k_proj: Linear::new(pb, &format!("{name}.self_attn.k_proj"), d, kv, true)?,
            v_proj: Linear::new(pb, &format!("{name}.self_attn.v_proj"), d, kv, true)?,
            o_proj: Linear::new(pb, &format!("{name}.self_attn.o_proj"), d, d, false)?,
            post_attention_layernorm: RmsNorm::new(
                pb,
                &format!("{name}.post_attention_layernorm"),
                d,
                cfg.rms_norm_eps,
            )?,
            mlp: GatedMlp::new(pb, &format!("{name}.mlp"), d, cfg.intermediate_size, false)?,
            heads: cfg.num_attention_heads,
            kv_heads: cfg.num_key_value_heads,
            head_dim: hd,
        })
    }

    /// Run on `(b, len, d)`; appends to `cache` when given.
    pub fn forward(
        &self,
        x: &Tensor,
        rotary: &RotaryFactors,
        mask: &Tensor,
        cache: Option<&mut LayerCache>,
    ) -> Result<Tensor> {
        let (b, len, d) = x.dims3()?;
        let h = self.input_layernorm.forward(x)?;
        let split = |t: Tensor, heads: usize| -> Result<Tensor> {
            Ok(t.reshape((b, len, heads, self.head_dim))?.transpose(1, 2)?)
        };
        let q = rotary.apply(&split(self.q_proj.forward(&h)?, self.heads)?)?;
        let k = rotary.apply(&split(self.k_proj.forward(&h)?, self.kv_heads)?)?;
        let v = split(self.v_proj.forward(&h)?, self.kv_heads)?;
        let (k, v) = match cache {
            Some(slot) => {
                let buffer = match slot {
                    Some(buffer) => buffer,
                    None => slot.insert(KvBuffer::new(
                        b,
                        self.kv_heads,
                        len + CACHE_ROOM,
                        self.head_dim,
                        k.dtype(),
                        k.device(),
                    )?),
                };
                buffer.append(&k, &v)?
            }
            None => (k, v),
        };
        let rep = self.heads / self.kv_heads;
        let attended = attention(&q, &repeat_kv(&k, rep)?, &repeat_kv(&v, rep)?, Some(mask))?
            .transpose(1, 2)?
            .reshape((b, len, d))?;
        let x = (x + self.o_proj.forward(&attended)?)?;
        Ok((&x
            + self
                .mlp
                .forward(&self.post_attention_layernorm.forward(&x)?)?)?)
    }
}
