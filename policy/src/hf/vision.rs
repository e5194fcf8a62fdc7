//! The Qwen2.5-VL / Qwen2-VL vision tower: patch embedding, 2-D rotary, window (2.5) and full
//! attention blocks, and the 2×2 patch merger into the decoder width.

use candle_core::{DType, Device, Tensor};

use crate::error::{PolicyError, Result};
use crate::hf::config::{VisionKind, VisionTowerConfig};
use crate::hf::grouped_attention::GroupedAttention;
use crate::hf::text::RotaryFactors;
use crate::layers::{GatedMlp, LayerNorm, Linear, RmsNorm};
use crate::params::{Init, ParamBuilder};

const VISION_EPS: f64 = 1e-6;
const VISION_THETA: f32 = 10000.0;

/// RMSNorm (Qwen2.5-VL) or LayerNorm (Qwen2-VL).
#[derive(Debug, Clone)]
enum Norm {
    Rms(RmsNorm),
    Layer(LayerNorm),
}

impl Norm {
    fn new(pb: &mut ParamBuilder, name: &str, size: usize, kind: VisionKind) -> Result<Self> {
        Ok(match kind {
            VisionKind::Qwen25Vl => Self::Rms(RmsNorm::new(pb, name, size, VISION_EPS)?),
            VisionKind::Qwen2Vl => Self::Layer(LayerNorm::new(pb, name, size, VISION_EPS)?),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Rms(n) => n.forward(x),
            Self::Layer(n) => n.forward(x),
        }
    }
}

/// Gated SiLU MLP (Qwen2.5-VL) or fc1 → QuickGELU → fc2 (Qwen2-VL).
#[derive(Debug, Clone)]
enum VisionMlp {
    Gated(GatedMlp),
    QuickGelu { fc1: Linear, fc2: Linear },
}

impl VisionMlp {
    fn new(pb: &mut ParamBuilder, name: &str, cfg: &VisionTowerConfig) -> Result<Self> {
        let (d, inner) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(match cfg.kind {
            VisionKind::Qwen25Vl => Self::Gated(GatedMlp::new(pb, name, d, inner, true)?),
            VisionKind::Qwen2Vl => Self::QuickGelu {
                fc1: Linear::new(pb, &format!("{name}.fc1"), d, inner, true)?,
                fc2: Linear::new(pb, &format!("{name}.fc2"), inner, d, true)?,
            },
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Gated(mlp) => mlp.forward(x),
            Self::QuickGelu { fc1, fc2 } => {
                let h = fc1.forward(x)?;
                let gate = candle_nn::ops::sigmoid(&(&h * 1.702)?)?;
                fc2.forward(&(h * gate)?)
            }
        }
    }
}

#[derive(Debug, Clone)]
struct VisionBlock {
    norm1: Norm,
    qkv: Linear,
    proj: Linear,
    norm2: Norm,
    mlp: VisionMlp,
    heads: usize,
}

impl VisionBlock {
    fn new(pb: &mut ParamBuilder, name: &str, cfg: &VisionTowerConfig) -> Result<Self> {
        let d = cfg.hidden_size;
        Ok(Self {
            norm1: Norm::new(pb, &format!("{name}.norm1"), d, cfg.kind)?,
            qkv: Linear::new(pb, &format!("{name}.attn.qkv"), d, 3 * d, true)?,
            proj: Linear::new(pb, &format!("{name}.attn.proj"), d, d, true)?,
            norm2: Norm::new(pb, &format!("{name}.norm2"), d, cfg.kind)?,
            mlp: VisionMlp::new(pb, &format!("{name}.mlp"), cfg)?,
            heads: cfg.num_heads,
        })
    }

    /// `x` is `(n, d)`; tokens attend within the groups of `groups`.
    fn forward(
        &self,
        x: &Tensor,
        rotary: &RotaryFactors,
        groups: &GroupedAttention,
    ) -> Result<Tensor> {
        let (n, d) = x.dims2()?;
        let hd = d / self.heads;
        let qkv = self
            .qkv
            .forward(&self.norm1.forward(x)?)?
            .reshape((n, 3, self.heads, hd))?
            .permute((1, 2, 0, 3))?;
        // (1, heads, n, hd) so the `(1, 1, n, hd)` rotary factors broadcast.
        let q = rotary.apply(&qkv.get(0)?.unsqueeze(0)?)?;
        let k = rotary.apply(&qkv.get(1)?.unsqueeze(0)?)?;
        let v = qkv.get(2)?.unsqueeze(0)?;
        let attended = groups
            .attend(&q, &k, &v)?
            .squeeze(0)?
            .transpose(0, 1)?
            .reshape((n, d))?;
        let x = (x + self.proj.forward(&attended)?)?;
        Ok((&x + self.mlp.forward(&self.norm2.forward(&x)?)?)?)
    }
}

/// Window layout of a batch of images: the order tokens are processed in and the attention groups.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowLayout {
    /// Merged-token permutation: position `i` holds original merged token `order[i]`.
    pub order: Vec<usize>,
    /// Window group of every patch in processing order.
    pub window_group: Vec<usize>,
    /// Image/frame group of every patch in processing order.
    pub frame_group: Vec<usize>,
}

/// Compute the window permutation and attention groups for images with patch grids `grids`.
pub fn window_layout(grids: &[[usize; 3]], cfg: &VisionTowerConfig) -> WindowLayout {
    let m = cfg.spatial_merge_size;
    let unit = m * m;
    // Without windows (Qwen2-VL) one window spans the whole frame.
    let ws = match cfg.window_size / m / cfg.patch_size {
        0 => usize::MAX,
        ws => ws,
    };
    let mut order = Vec::new();
    let mut window_group = Vec::new();
    let mut frame_group = Vec::new();
    let (mut offset, mut window, mut frame) = (0usize, 0usize, 0usize);
    for &[t, h, w] in grids {
        let (lh, lw) = (h / m, w / m);
        let (ws_h, ws_w) = (ws.min(lh.max(1)), ws.min(lw.max(1)));
        let (nwh, nww) = (lh.div_ceil(ws_h), lw.div_ceil(ws_w));
        for ti in 0..t {
            for wh in 0..nwh {
                for ww in 0..nww {
                    let mut count = 0;
                    for ih in 0..ws_h {
                        for iw in 0..ws_w {
                            let (r, c) = (wh * ws_h + ih, ww * ws_w + iw);
                            if r < lh && c < lw {
                                order.push(offset + ti * lh * lw + r * lw + c);
                                count += 1;
                            }
                        }
                    }
                    window_group.extend(std::iter::repeat_n(window, count * unit));
                    frame_group.extend(std::iter::repeat_n(frame, count * unit));
                    window += 1;
                }
            }
            frame += 1;
        }
        offset += t * lh * lw;
    }
    WindowLayout {
        order,
        window_group,
        frame_group,
    }
}

/// The vision tower under `visual.`.
#[derive(Debug, Clone)]
pub struct VisionTower {
    cfg: VisionTowerConfig,
    patch_embed: Linear,
    blocks: Vec<VisionBlock>,
    ln_q: Norm,
    mlp0: Linear,
    mlp2: Linear,
}

impl VisionTower {
    /// Build the tower's parameters.
    pub fn new(pb: &mut ParamBuilder, cfg: &VisionTowerConfig) -> Result<Self> {
        let d = cfg.hidden_size;
        let std = 1.0 / (cfg.patch_dim() as f64).sqrt();
        let conv = pb.get(
            "visual.patch_embed.proj.weight",
            &[
                d,
                cfg.in_chans,
                cfg.temporal_patch_size,
                cfg.patch_size,
                cfg.patch_size,
            ],
            Init::Uniform { std },
        )?;
        let patch_embed = Linear::from_parts(conv.reshape((d, cfg.patch_dim()))?, None);
        let blocks = (0..cfg.depth)
            .map(|i| VisionBlock::new(pb, &format!("visual.blocks.{i}"), cfg))
            .collect::<Result<Vec<_>>>()?;
        let merged = d * cfg.spatial_merge_size * cfg.spatial_merge_size;
        Ok(Self {
            patch_embed,
            blocks,
            ln_q: Norm::new(pb, "visual.merger.ln_q", d, cfg.kind)?,
            mlp0: Linear::new(pb, "visual.merger.mlp.0", merged, merged, true)?,
            mlp2: Linear::new(pb, "visual.merger.mlp.2", merged, cfg.out_hidden_size, true)?,
            cfg: cfg.clone(),
        })
    }

    /// 2-D rotary factors `(1, 1, n, head_dim)` for patches in processing order.
    fn rotary(
        &self,
        grids: &[[usize; 3]],
        order: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<RotaryFactors> {
        let hd = self.cfg.hidden_size / self.cfg.num_heads;
        let spatial = hd / 2;
        let inv_freq: Vec<f32> = (0..spatial / 2)
            .map(|i| 1.0 / VISION_THETA.powf((2 * i) as f32 / spatial as f32))
            .collect();
        let m = self.cfg.spatial_merge_size;
        // (h, w) of every patch in the processor's merge order.
        let mut hw = Vec::new();
        for &[t, h, w] in grids {
            for _ in 0..t {
                for bh in 0..h / m {
                    for bw in 0..w / m {
                        for ih in 0..m {
                            for iw in 0..m {
                                hw.push(((bh * m + ih) as f32, (bw * m + iw) as f32));
                            }
                        }
                    }
                }
            }
        }
        let unit = m * m;
        let mut cos = Vec::with_capacity(hw.len() * hd);
        let mut sin = Vec::with_capacity(hw.len() * hd);
        let mut angles = Vec::with_capacity(spatial);
        for &merged in order {
            for &(h, w) in &hw[merged * unit..(merged + 1) * unit] {
                angles.clear();
                angles.extend(inv_freq.iter().map(|f| h * f));
                angles.extend(inv_freq.iter().map(|f| w * f));
                for _ in 0..2 {
                    cos.extend(angles.iter().map(|a| a.cos()));
                    sin.extend(angles.iter().map(|a| a.sin()));
                }
            }
        }
        let n = order.len() * unit;
        Ok(RotaryFactors::from_tables(
            Tensor::from_vec(cos, (1, 1, n, hd), device)?.to_dtype(dtype)?,
            Tensor::from_vec(sin, (1, 1, n, hd), device)?.to_dtype(dtype)?,
        ))
    }

    /// Encode flattened patches `(n, patch_dim)` of images with grids `grids` into `(n / 4, out)` tokens.
    pub fn forward(&self, pixel_values: &Tensor, grids: &[[usize; 3]]) -> Result<Tensor> {
        let (n, dim) = pixel_values.dims2()?;
        let expected: usize = grids.iter().map(|g| g[0] * g[1] * g[2]).sum();
        if n != expected || dim != self.cfg.patch_dim() {
            return Err(PolicyError::InvalidInput(format!(
                "pixel values are {n}x{dim}; the grids {grids:?} need {expected}x{}",
                self.cfg.patch_dim()
            )));
        }
        let device = pixel_values.device();
        let dtype = pixel_values.dtype();
        let unit = self.cfg.spatial_merge_size * self.cfg.spatial_merge_size;
        let d = self.cfg.hidden_size;
        let layout = window_layout(grids, &self.cfg);
        let order = Tensor::from_vec(
            layout.order.iter().map(|&i| i as u32).collect::<Vec<_>>(),
            layout.order.len(),
            device,
        )?;
        let mut x = self
            .patch_embed
            .forward(pixel_values)?
            .reshape((n / unit, unit * d))?
            .index_select(&order, 0)?
            .reshape((n, d))?;
        let rotary = self.rotary(grids, &layout.order, dtype, device)?;
        let windows = GroupedAttention::new(&layout.window_group, device)?;
        let frames = GroupedAttention::new(&layout.frame_group, device)?;
        for (i, block) in self.blocks.iter().enumerate() {
            let groups = if self.cfg.fullatt_block_indexes.contains(&i) {
                &frames
            } else {
                &windows
            };
            x = block.forward(&x, &rotary, groups)?;
        }
        let x = self.ln_q.forward(&x)?.reshape((n / unit, unit * d))?;
        let x = self.mlp2.forward(&self.mlp0.forward(&x)?.gelu_erf()?)?;
        let mut inverse = vec![0u32; layout.order.len()];
        for (pos, &orig) in layout.order.iter().enumerate() {
            inverse[orig] = pos as u32;
        }
        let inverse = Tensor::from_vec(inverse, layout.order.len(), device)?;
        Ok(x.index_select(&inverse, 0)?)
    }
}
