//! Image decoding (PNG, JPEG) to RGB and Qwen2.5-VL's "smart resize".

use image::imageops::FilterType;
use image::{DynamicImage, ImageReader, RgbImage};
use std::io::Cursor;

use crate::error::EnvError;
use crate::types::{ColorImage, ItemImage};

/// Qwen2.5-VL's side factor: patch size 14 times spatial merge 2.
pub const QWEN_FACTOR: u32 = 28;
/// Qwen2.5-VL's default lower pixel bound (4 × 28 × 28).
pub const QWEN_MIN_PIXELS: u64 = 4 * 28 * 28;
/// Qwen2.5-VL's default upper pixel bound (16384 × 28 × 28).
pub const QWEN_MAX_PIXELS: u64 = 16384 * 28 * 28;
/// Largest allowed ratio between the long and the short side.
pub const MAX_ASPECT_RATIO: f64 = 200.0;

/// Bounds for [`smart_resize`]: sides become multiples of `factor`, area within `[min_pixels, max_pixels]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResizeBounds {
    /// Both sides become multiples of this.
    pub factor: u32,
    /// Smallest allowed `height * width`.
    pub min_pixels: u64,
    /// Largest allowed `height * width`.
    pub max_pixels: u64,
}

impl Default for ResizeBounds {
    fn default() -> Self {
        Self {
            factor: QWEN_FACTOR,
            min_pixels: QWEN_MIN_PIXELS,
            max_pixels: QWEN_MAX_PIXELS,
        }
    }
}

/// The `(height, width)` Qwen2.5-VL resizes an image to (Hugging Face `smart_resize`).
///
/// Sides are rounded to the nearest multiple of `factor`; when the area falls outside
/// `[min_pixels, max_pixels]` both sides are scaled by the square root of the excess, flooring
/// (too large) or ceiling (too small) to the factor. An aspect ratio above 200 is an error.
pub fn smart_resize(height: u32, width: u32, bounds: ResizeBounds) -> Result<(u32, u32), EnvError> {
    let origin = format!("{width}x{height}");
    if height == 0 || width == 0 || bounds.factor == 0 {
        return Err(EnvError::Image {
            origin,
            reason: "sides and resize factor must be positive".into(),
        });
    }
    let (h, w, f) = (height as f64, width as f64, bounds.factor as f64);
    if h.max(w) / h.min(w) > MAX_ASPECT_RATIO {
        return Err(EnvError::Image {
            origin,
            reason: format!(
                "absolute aspect ratio must be smaller than {MAX_ASPECT_RATIO}, got {}",
                h.max(w) / h.min(w)
            ),
        });
    }
    let mut h_bar = f.max((h / f).round_ties_even() * f);
    let mut w_bar = f.max((w / f).round_ties_even() * f);
    if h_bar * w_bar > bounds.max_pixels as f64 {
        let beta = (h * w / bounds.max_pixels as f64).sqrt();
        h_bar = f.max((h / beta / f).floor() * f);
        w_bar = f.max((w / beta / f).floor() * f);
    } else if h_bar * w_bar < bounds.min_pixels as f64 {
        let beta = (bounds.min_pixels as f64 / (h * w)).sqrt();
        h_bar = (h * beta / f).ceil() * f;
        w_bar = (w * beta / f).ceil() * f;
    }
    Ok((h_bar as u32, w_bar as u32))
}

/// Decodes encoded PNG or JPEG bytes to RGB (grayscale and alpha are converted), naming `origin` on error.
pub fn decode_bytes(bytes: &[u8], origin: &str) -> Result<ColorImage, EnvError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| EnvError::Image {
            origin: origin.to_string(),
            reason: format!("cannot detect the format: {error}"),
        })?;
    let decoded = reader.decode().map_err(|error| EnvError::Image {
        origin: origin.to_string(),
        reason: format!("cannot decode: {error}"),
    })?;
    from_rgb(decoded.to_rgb8())
}

/// Reads and decodes an image file to RGB.
pub fn decode_file(path: &std::path::Path) -> Result<ColorImage, EnvError> {
    let bytes = std::fs::read(path).map_err(|source| EnvError::Io {
        path: path.display().to_string(),
        source,
    })?;
    decode_bytes(&bytes, &path.display().to_string())
}

/// Any item image as RGB: scans are replicated to three channels, files and bytes are decoded.
pub fn to_rgb(image: &ItemImage) -> Result<ColorImage, EnvError> {
    match image {
        ItemImage::Scan(scan) => ColorImage::new(
            scan.width,
            scan.height,
            scan.pixels.iter().flat_map(|&v| [v, v, v]).collect(),
        ),
        ItemImage::Color(color) => Ok(color.clone()),
        ItemImage::File { path } => decode_file(path),
        ItemImage::Encoded { bytes, origin } => decode_bytes(bytes, origin),
    }
}

/// Resizes an RGB image to exactly `width` x `height` with a bicubic filter.
pub fn resize(image: &ColorImage, width: u32, height: u32) -> Result<ColorImage, EnvError> {
    if image.width == width && image.height == height {
        return Ok(image.clone());
    }
    let buffer =
        RgbImage::from_raw(image.width, image.height, image.pixels.clone()).ok_or_else(|| {
            EnvError::InvalidImage {
                width: image.width,
                height: image.height,
                expected: image.width as usize * image.height as usize * 3,
                actual: image.pixels.len(),
            }
        })?;
    let resized =
        DynamicImage::ImageRgb8(buffer).resize_exact(width, height, FilterType::CatmullRom);
    from_rgb(resized.to_rgb8())
}

/// Decodes any item image to RGB and resizes it to its [`smart_resize`] size.
pub fn to_rgb_smart_resized(
    image: &ItemImage,
    bounds: ResizeBounds,
) -> Result<ColorImage, EnvError> {
    let rgb = to_rgb(image)?;
    let (height, width) =
        smart_resize(rgb.height, rgb.width, bounds).map_err(|error| match error {
            EnvError::Image { reason, .. } => EnvError::Image {
                origin: image.describe(),
                reason,
            },
            other => other,
        })?;
    resize(&rgb, width, height)
}

/// Width and height of an encoded image from its header only (no pixel decoding).
pub fn encoded_dimensions(bytes: &[u8], origin: &str) -> Result<(u32, u32), EnvError> {
    ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| EnvError::Image {
            origin: origin.to_string(),
            reason: format!("cannot detect the format: {error}"),
        })?
        .into_dimensions()
        .map_err(|error| EnvError::Image {
            origin: origin.to_string(),
            reason: format!("cannot read the header: {error}"),
        })
}

fn from_rgb(buffer: RgbImage) -> Result<ColorImage, EnvError> {
    let (width, height) = buffer.dimensions();
    ColorImage::new(width, height, buffer.into_raw())
}
