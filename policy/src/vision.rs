//! ViT-style patch encoder with a Qwen2.5-VL-style 2×2 patch merger.

use candle_core::{DType, Tensor};

use crate::config::VisionConfig;
use crate::error::{PolicyError, Result};
use crate::layers::{attention, GatedMlp, Linear, RmsNorm};
use crate::params::{Init, ParamBuilder};

/// A grayscale image handed to the policy (row-major `u8`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInput {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major intensities.
    pub pixels: Vec<u8>,
}

#[derive(Debug, Clone)]
struct VisionBlock {
    norm1: RmsNorm,
    qkv: Linear,
    proj: Linear,
    norm2: RmsNorm,
    mlp: GatedMlp,
    heads: usize,
}

impl VisionBlock {
    fn new(pb: &mut ParamBuilder, name: &str, cfg: &VisionConfig) -> Result<Self> {
        let d = cfg.hidden_size;
        Ok(Self {
            norm1: RmsNorm::new(pb, &format!("{name}.norm1"), d, 1e-6)?,
            qkv: Linear::new(pb, &format!("{name}.attn.qkv"), d, 3 * d, true)?,
            proj: Linear::new(pb, &format!("{name}.attn.proj"), d, d, true)?,
            norm2: RmsNorm::new(pb, &format!("{name}.norm2"), d, 1e-6)?,
            mlp: GatedMlp::new(pb, &format!("{name}.mlp"), d, cfg.intermediate_size, true)?,
            heads: cfg.num_heads,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, len, d) = x.dims3()?;
        let head_dim = d / self.heads;
        let qkv = self
            .qkv
            .forward(&self.norm1.forward(x)?)?
            .reshape((n, len, 3, self.heads, head_dim))?
            .permute((2, 0, 3, 1, 4))?;
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let attended = attention(&q, &k, &v, None)?
            .transpose(1, 2)?
            .reshape((n, len, d))?;
        let x = (x + self.proj.forward(&attended)?)?;
        Ok((&x + self.mlp.forward(&self.norm2.forward(&x)?)?)?)
    }
}

/// The vision tower: patch embedding, learned positions, blocks, merger into the decoder width.
#[derive(Debug, Clone)]
pub struct VisionEncoder {
    cfg: VisionConfig,
    patch_embed: Linear,
    pos_embed: Tensor,
    blocks: Vec<VisionBlock>,
    merger_norm: RmsNorm,
    merger_fc1: Linear,
    merger_fc2: Linear,
    dtype: DType,
}

impl VisionEncoder {
    /// Build under the `visual.` prefix, projecting to `out_size`.
    pub fn new(
        pb: &mut ParamBuilder,
        cfg: &VisionConfig,
        out_size: usize,
        dtype: DType,
    ) -> Result<Self> {
        let patch_dim = cfg.in_channels * cfg.patch_size * cfg.patch_size;
        let patches = cfg.grid_side() * cfg.grid_side();
        let merged_dim = cfg.hidden_size * cfg.spatial_merge_size * cfg.spatial_merge_size;
        let blocks = (0..cfg.depth)
            .map(|i| VisionBlock::new(pb, &format!("visual.blocks.{i}"), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            patch_embed: Linear::new(
                pb,
                "visual.patch_embed.proj",
                patch_dim,
                cfg.hidden_size,
                false,
            )?,
            pos_embed: pb.get(
                "visual.pos_embed.weight",
                &[patches, cfg.hidden_size],
                Init::Uniform { std: 0.02 },
            )?,
            blocks,
            merger_norm: RmsNorm::new(pb, "visual.merger.ln_q", cfg.hidden_size, 1e-6)?,
            merger_fc1: Linear::new(pb, "visual.merger.mlp.0", merged_dim, merged_dim, true)?,
            merger_fc2: Linear::new(pb, "visual.merger.mlp.2", merged_dim, out_size, true)?,
            cfg: cfg.clone(),
            dtype,
        })
    }

    /// Pixels of several images as a `(n, patches, patch_dim)` tensor scaled to [-1, 1].
    fn patchify(&self, images: &[&ImageInput], device: &candle_core::Device) -> Result<Tensor> {
        let side = self.cfg.image_size;
        let p = self.cfg.patch_size;
        let g = self.cfg.grid_side();
        let mut values = Vec::with_capacity(images.len() * side * side);
        for (i, img) in images.iter().enumerate() {
            if img.width != side || img.height != side || img.pixels.len() != side * side {
                return Err(PolicyError::InvalidInput(format!(
                    "image {i} is {}x{} with {} pixels; this policy takes {side}x{side} grayscale",
                    img.width,
                    img.height,
                    img.pixels.len()
                )));
            }
            values.extend(img.pixels.iter().map(|&v| v as f32 / 127.5 - 1.0));
        }
        let t = Tensor::from_vec(values, (images.len(), g, p, g, p), device)?
            .permute((0, 1, 3, 2, 4))?
            .reshape((images.len(), g * g, p * p))?;
        Ok(t.to_dtype(self.dtype)?)
    }

    /// Encode images into `(n · tokens_per_image, out_size)` embeddings, image after image.
    pub fn forward(&self, images: &[&ImageInput], device: &candle_core::Device) -> Result<Tensor> {
        let n = images.len();
        let g = self.cfg.grid_side();
        let m = self.cfg.spatial_merge_size;
        let d = self.cfg.hidden_size;
        let patches = self.patchify(images, device)?;
        let mut x = self
            .patch_embed
            .forward(&patches)?
            .broadcast_add(&self.pos_embed)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        let x = self
            .merger_norm
            .forward(&x)?
            .reshape((n, g / m, m, g / m, m, d))?
            .permute((0, 1, 3, 2, 4, 5))?
            .reshape((n * (g / m) * (g / m), m * m * d))?;
        let x = self.merger_fc1.forward(&x)?.gelu_erf()?;
        self.merger_fc2.forward(&x)
    }
}
