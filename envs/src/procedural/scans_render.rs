//! Renders a medsynth scene at a difficulty level: lesion contrast, noise and distractor specks.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::error::EnvError;
use crate::medsynth::scene::{BODY, BONE_RING_THICKNESS, IMAGE_SIZE};
use crate::medsynth::{Ellipse, Palette, Scene};
use crate::types::ScanImage;

/// Radius of a distractor speck, in pixels.
pub const SPECK_RADIUS: i32 = 1;

/// How one scan is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderStyle {
    /// Gray-level difference between a lesion and its organ.
    pub contrast: i32,
    /// Largest uniform noise offset per pixel (either sign).
    pub noise: i32,
    /// Bright specks drawn in soft tissue outside the organs.
    pub distractors: u32,
}

/// A lesion's gray level: `contrast` above its organ, or below when that would saturate.
pub fn lesion_gray(organ_gray: u8, contrast: i32) -> u8 {
    let organ = i32::from(organ_gray);
    let value = if organ + contrast <= 255 {
        organ + contrast
    } else {
        organ - contrast
    };
    value.clamp(0, 255) as u8
}

/// Pixels of soft tissue well away from the bone ring and every organ.
fn speck_sites(scene: &Scene) -> Vec<(i32, i32)> {
    BODY.pixels_inset(BONE_RING_THICKNESS + 2)
        .into_iter()
        .filter(|&(x, y)| {
            scene
                .organs
                .iter()
                .all(|organ| !organ.shape.contains_inset(x, y, -3))
        })
        .collect()
}

/// Draws the scene in `style`; returns the image and the centers of the distractor specks.
pub fn render_styled(
    scene: &Scene,
    style: RenderStyle,
    rng: &mut ChaCha8Rng,
) -> Result<(ScanImage, Vec<(i32, i32)>), EnvError> {
    let palette = Palette::of(scene.modality);
    let size = IMAGE_SIZE as i32;
    let mut pixels = vec![palette.background; (IMAGE_SIZE * IMAGE_SIZE) as usize];
    let mut set = |x: i32, y: i32, value: u8| {
        if (0..size).contains(&x) && (0..size).contains(&y) {
            if let Some(pixel) = pixels.get_mut((y * size + x) as usize) {
                *pixel = value;
            }
        }
    };
    for (x, y) in BODY.pixels() {
        let in_ring = !BODY.contains_inset(x, y, BONE_RING_THICKNESS);
        let value = match palette.bone {
            Some(bone) if in_ring => bone,
            _ => palette.body,
        };
        set(x, y, value);
    }
    for organ in &scene.organs {
        for (x, y) in organ.shape.pixels() {
            set(x, y, palette.organ(organ.kind));
        }
    }
    for lesion in &scene.lesions {
        let gray = lesion_gray(palette.organ(lesion.organ), style.contrast);
        for (x, y) in lesion.shape().pixels() {
            set(x, y, gray);
        }
    }
    let sites = speck_sites(scene);
    let mut specks = Vec::new();
    if !sites.is_empty() {
        let speck_gray = lesion_gray(palette.body, style.contrast);
        for _ in 0..style.distractors {
            let pick = rng.random_range(0..sites.len());
            if let Some(&(center_x, center_y)) = sites.get(pick) {
                let speck = Ellipse {
                    center_x,
                    center_y,
                    radius_x: SPECK_RADIUS,
                    radius_y: SPECK_RADIUS,
                };
                for (x, y) in speck.pixels() {
                    set(x, y, speck_gray);
                }
                specks.push((center_x, center_y));
            }
        }
    }
    let noise = style.noise.max(0);
    for pixel in &mut pixels {
        let offset = rng.random_range(-noise..=noise);
        *pixel = (i32::from(*pixel) + offset).clamp(0, 255) as u8;
    }
    Ok((ScanImage::new(IMAGE_SIZE, IMAGE_SIZE, pixels)?, specks))
}
