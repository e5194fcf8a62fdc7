//! Qwen2-VL image preprocessing as transformers' processor does it: smart resize (sides made
//! multiples of 28 within the pixel bounds of `preprocessor_config.json`), bicubic resampling,
//! rescale, CLIP mean/std normalisation and patchify into the `(t, h, w)` grid.

use std::path::Path;
use std::sync::Arc;

use crate::error::{read_json_file, PolicyError, Result};
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

/// Placeholder of one merged image patch in Qwen2-VL prompts.
pub const IMAGE_PAD: &str = "<|image_pad|>";

/// The prompt text an image of `merged` merged patches stands for, as the Qwen2-VL chat templates
/// write an image entry: `<|vision_start|>`, one [`IMAGE_PAD`] per merged patch, `<|vision_end|>`.
pub fn image_placeholder(merged: usize) -> String {
    format!("<|vision_start|>{}<|vision_end|>", IMAGE_PAD.repeat(merged))
}

/// One image turned into flattened patches, in the processor's 2×2-merge order.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelPatches {
    /// `(t · h · w) × patch_dim` values, row after row; shared, so that clones of a prompt hold
    /// one copy.
    pub values: Arc<[f32]>,
    /// The patch grid `(t, h, w)`.
    pub grid: [usize; 3],
}

impl PixelPatches {
    /// Tokens this image contributes to the decoder after the patch merger.
    pub fn merged_tokens(&self, merge: usize) -> usize {
        self.grid[0] * (self.grid[1] / merge) * (self.grid[2] / merge)
    }
}

/// Bounds on the pixel count of a resized image (`min_pixels` / `max_pixels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResizeBounds {
    /// Fewest pixels after resizing.
    pub min_pixels: usize,
    /// Most pixels after resizing.
    pub max_pixels: usize,
}

impl Default for ResizeBounds {
    /// The Qwen2-VL processor's defaults: 56 × 56 and 28 × 28 × 1280 pixels.
    fn default() -> Self {
        Self {
            min_pixels: 56 * 56,
            max_pixels: 28 * 28 * 1280,
        }
    }
}

impl ResizeBounds {
    /// The bounds in `dir/preprocessor_config.json` (`min_pixels` / `max_pixels`, or transformers
    /// 5's `size.shortest_edge` / `size.longest_edge`); the defaults when the file is absent.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("preprocessor_config.json");
        if !path.exists() {
            return Ok(Self::default());
        }
        let shown = path.display().to_string();
        let json: serde_json::Value = read_json_file(&path)?;
        fn present(value: Option<&serde_json::Value>) -> Option<&serde_json::Value> {
            value.filter(|v| !v.is_null())
        }
        let read = |top: &str, nested: &str, default: usize| -> Result<usize> {
            let size = json.get("size");
            let value = present(json.get(top))
                .or_else(|| present(size?.get(nested)))
                .or_else(|| present(size?.get(top)));
            match value {
                None => Ok(default),
                Some(value) => value
                    .as_u64()
                    .filter(|&v| v > 0)
                    .map(|v| v as usize)
                    .ok_or_else(|| PolicyError::InvalidConfig {
                        field: format!("{shown}: {top}"),
                        reason: format!("expected a positive integer, found {value}"),
                    }),
            }
        };
        let defaults = Self::default();
        let bounds = Self {
            min_pixels: read("min_pixels", "shortest_edge", defaults.min_pixels)?,
            max_pixels: read("max_pixels", "longest_edge", defaults.max_pixels)?,
        };
        if bounds.min_pixels > bounds.max_pixels {
            return Err(PolicyError::InvalidConfig {
                field: format!("{shown}: min_pixels"),
                reason: format!(
                    "{} is above max_pixels {}",
                    bounds.min_pixels, bounds.max_pixels
                ),
            });
        }
        Ok(bounds)
    }
}

/// The processor's target size `(height, width)`: each side a multiple of `factor`, the pixel
/// count within `bounds`, the aspect ratio kept as closely as possible. The same arithmetic as
/// transformers' `smart_resize`, Python's round-half-to-even included.
pub fn smart_resize(
    height: usize,
    width: usize,
    factor: usize,
    bounds: ResizeBounds,
) -> Result<(usize, usize)> {
    if height == 0 || width == 0 || factor == 0 || bounds.max_pixels == 0 {
        return Err(PolicyError::InvalidInput(format!(
            "cannot resize a {width}x{height} image to multiples of {factor} within {} pixels",
            bounds.max_pixels
        )));
    }
    let (h, w, f) = (height as f64, width as f64, factor as f64);
    if h.max(w) / h.min(w) > 200.0 {
        return Err(PolicyError::InvalidInput(format!(
            "image is {width}x{height}: the aspect ratio must be at most 200"
        )));
    }
    let mut h_bar = (h / f).round_ties_even() * f;
    let mut w_bar = (w / f).round_ties_even() * f;
    if h_bar * w_bar > bounds.max_pixels as f64 {
        let beta = (h * w / bounds.max_pixels as f64).sqrt();
        h_bar = f.max((h / beta / f).floor() * f);
        w_bar = f.max((w / beta / f).floor() * f);
    } else if h_bar * w_bar < bounds.min_pixels as f64 {
        let beta = (bounds.min_pixels as f64 / (h * w)).sqrt();
        h_bar = (h * beta / f).ceil() * f;
        w_bar = (w * beta / f).ceil() * f;
    }
    Ok((h_bar as usize, w_bar as usize))
}

/// `image` resampled to `height × width` as PIL's bicubic resize does (the bytes of
/// transformers' PIL processor): Pillow 13's fixed-point weights and pass order.
pub fn resize_rgb(image: &RgbImage, height: usize, width: usize) -> Result<RgbImage> {
    if image.width == 0 || image.height == 0 || height == 0 || width == 0 {
        return Err(PolicyError::InvalidInput(format!(
            "cannot resize a {}x{} image to {width}x{height}",
            image.width, image.height
        )));
    }
    if image.pixels.len() != image.width * image.height * 3 {
        return Err(PolicyError::InvalidInput(format!(
            "image has {} bytes, expected {} ({}x{} RGB)",
            image.pixels.len(),
            image.width * image.height * 3,
            image.width,
            image.height
        )));
    }
    Ok(RgbImage {
        width,
        height,
        pixels: crate::hf::resample::resize_bicubic(
            &image.pixels,
            (image.height, image.width),
            (height, width),
            3,
        ),
    })
}

/// PNG, JPEG or netpbm bytes (told apart by content) decoded as transformers converts them: RGB,
/// transparency composited onto white (see [`rgb_on_white`]).
pub fn decode_rgb(bytes: &[u8]) -> std::result::Result<RgbImage, image::ImageError> {
    image::load_from_memory(bytes).map(|decoded| rgb_on_white(&decoded))
}

/// A decoded image as RGB the way transformers converts it: transparency (an alpha channel or a
/// transparent palette entry) is composited onto white, as `PIL.Image.alpha_composite` rounds.
pub fn rgb_on_white(decoded: &image::DynamicImage) -> RgbImage {
    let (width, height) = (decoded.width() as usize, decoded.height() as usize);
    let pixels = if decoded.color().has_alpha() {
        decoded
            .to_rgba8()
            .pixels()
            .flat_map(|p| {
                let alpha = u32::from(p[3]);
                [0, 1, 2]
                    .map(|c| ((u32::from(p[c]) * alpha + 255 * (255 - alpha) + 127) / 255) as u8)
            })
            .collect()
    } else {
        decoded.to_rgb8().into_raw()
    };
    RgbImage {
        width,
        height,
        pixels,
    }
}

/// The processor's whole path for one image: smart resize within `bounds`, bicubic resampling,
/// normalisation and patchify.
pub fn preprocess(
    image: &RgbImage,
    cfg: &VisionTowerConfig,
    bounds: ResizeBounds,
) -> Result<PixelPatches> {
    let (height, width) = smart_resize(image.height, image.width, cfg.pixel_multiple(), bounds)?;
    patchify(&resize_rgb(image, height, width)?, cfg)
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
        values: values.into(),
        grid: [1, gh, gw],
    })
}
