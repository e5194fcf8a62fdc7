//! Qwen2-VL image preprocessing: rescale, CLIP mean/std normalisation and patchify into the
//! `(t, h, w)` grid, for RGB images already resized to sides that are multiples of 28.

use crate::error::{PolicyError, Result};
use crate::hf::config::VisionTowerConfig;

/// Per-channel mean of the Qwen2-VL processor (OpenAI CLIP).
pub const IMAGE_MEAN: [f64; 3] = [0.48145466, 0.4578275, 0.40821073];
/// Per-channel standard deviation of the Qwen2-VL processor (OpenAI CLIP).
pub const IMAGE_STD: [f64; 3] = [0.26862954, 0.26130258, 0.27577711];

/// An RGB image, row-major with interleaved channels (`height × width × 3` bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Interleaved RGB bytes.
    pub pixels: Vec<u8>,
}

/// One image turned into flattened patches, in the processor's 2×2-merge order.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelPatches {
    /// `(t · h · w) × patch_dim` values, row after row.
    pub values: Vec<f32>,
    /// The patch grid `(t, h, w)`.
    pub grid: [usize; 3],
}

impl PixelPatches {
    /// Tokens this image contributes to the decoder after the patch merger.
    pub fn merged_tokens(&self, merge: usize) -> usize {
        self.grid[0] * (self.grid[1] / merge) * (self.grid[2] / merge)
    }
}

/// Normalise and patchify `image`; each side must be a positive multiple of patch × merge size.
pub fn patchify(image: &RgbImage, cfg: &VisionTowerConfig) -> Result<PixelPatches> {
    let unit = cfg.pixel_multiple();
    if image.width == 0
        || image.height == 0
        || !image.width.is_multiple_of(unit)
        || !image.height.is_multiple_of(unit)
    {
        return Err(PolicyError::InvalidInput(format!(
            "image is {}x{}; both sides must be positive multiples of {unit} (resize first)",
            image.width, image.height
        )));
    }
    if cfg.in_chans != 3 || image.pixels.len() != image.width * image.height * 3 {
        return Err(PolicyError::InvalidInput(format!(
            "image has {} bytes, expected {} ({}x{} RGB) for a {}-channel tower",
            image.pixels.len(),
            image.width * image.height * 3,
            image.width,
            image.height,
            cfg.in_chans
        )));
    }
    let p = cfg.patch_size;
    let m = cfg.spatial_merge_size;
    let tp = cfg.temporal_patch_size;
    let (gh, gw) = (image.height / p, image.width / p);
    let normalised: Vec<f32> = image
        .pixels
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = i % 3;
            ((v as f64 / 255.0 - IMAGE_MEAN[c]) / IMAGE_STD[c]) as f32
        })
        .collect();
    let patch_dim = cfg.patch_dim();
    let mut values = Vec::with_capacity(gh * gw * patch_dim);
    for bh in 0..gh / m {
        for bw in 0..gw / m {
            for ih in 0..m {
                for iw in 0..m {
                    let (row0, col0) = ((bh * m + ih) * p, (bw * m + iw) * p);
                    for c in 0..3 {
                        // A still image fills every temporal slot with the same frame.
                        for _ in 0..tp {
                            for y in 0..p {
                                for x in 0..p {
                                    let px = (row0 + y) * image.width + col0 + x;
                                    values.push(normalised[px * 3 + c]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(PixelPatches {
        values,
        grid: [1, gh, gw],
    })
}
