//! Rasterizes a [`Scene`] into a grayscale [`ScanImage`] with seeded noise.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::scene::{Ellipse, Modality, OrganKind, Scene, BODY, BONE_RING_THICKNESS, IMAGE_SIZE};
use crate::error::EnvError;
use crate::types::ScanImage;

/// Largest noise offset added to a pixel, in gray levels (either sign).
pub const NOISE_AMPLITUDE: i32 = 6;

/// Gray levels of each tissue for one modality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    /// Outside the body.
    pub background: u8,
    /// Soft tissue filling the body outline.
    pub body: u8,
    /// Bone ring, if the modality shows bone.
    pub bone: Option<u8>,
    /// Both lungs.
    pub lungs: u8,
    /// Liver.
    pub liver: u8,
    /// Spleen.
    pub spleen: u8,
    /// Both kidneys.
    pub kidneys: u8,
    /// Every lesion.
    pub lesion: u8,
}

impl Palette {
    /// The palette of a modality.
    pub fn of(modality: Modality) -> Self {
        match modality {
            Modality::Ct => Palette {
                background: 8,
                body: 95,
                bone: Some(235),
                lungs: 25,
                liver: 135,
                spleen: 120,
                kidneys: 140,
                lesion: 245,
            },
            Modality::Mri => Palette {
                background: 5,
                body: 60,
                bone: None,
                lungs: 12,
                liver: 40,
                spleen: 130,
                kidneys: 160,
                lesion: 250,
            },
            Modality::XRay => Palette {
                background: 200,
                body: 85,
                bone: Some(240),
                lungs: 145,
                liver: 60,
                spleen: 60,
                kidneys: 70,
                lesion: 250,
            },
        }
    }

    /// The gray level of an organ.
    pub fn organ(&self, kind: OrganKind) -> u8 {
        match kind {
            OrganKind::RightLung | OrganKind::LeftLung => self.lungs,
            OrganKind::Liver => self.liver,
            OrganKind::Spleen => self.spleen,
            OrganKind::RightKidney | OrganKind::LeftKidney => self.kidneys,
        }
    }
}

/// A square canvas of gray levels.
#[derive(Debug, Clone)]
struct Canvas {
    size: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn filled(size: i32, value: u8) -> Self {
        let side = usize::try_from(size).unwrap_or(0);
        Self {
            size,
            pixels: vec![value; side * side],
        }
    }

    fn set(&mut self, x: i32, y: i32, value: u8) {
        if (0..self.size).contains(&x) && (0..self.size).contains(&y) {
            if let Some(pixel) = self.pixels.get_mut((y * self.size + x) as usize) {
                *pixel = value;
            }
        }
    }

    fn fill(&mut self, shape: &Ellipse, value: u8) {
        for (x, y) in shape.pixels() {
            self.set(x, y, value);
        }
    }
}

/// Draws the scene and adds uniform noise of ±[`NOISE_AMPLITUDE`] from `rng`.
pub fn render(scene: &Scene, rng: &mut ChaCha8Rng) -> Result<ScanImage, EnvError> {
    let palette = Palette::of(scene.modality);
    let size = IMAGE_SIZE as i32;
    let mut canvas = Canvas::filled(size, palette.background);
    for (x, y) in BODY.pixels() {
        let in_ring = !BODY.contains_inset(x, y, BONE_RING_THICKNESS);
        let value = match palette.bone {
            Some(bone) if in_ring => bone,
            _ => palette.body,
        };
        canvas.set(x, y, value);
    }
    for organ in &scene.organs {
        canvas.fill(&organ.shape, palette.organ(organ.kind));
    }
    for lesion in &scene.lesions {
        canvas.fill(&lesion.shape(), palette.lesion);
    }
    for pixel in &mut canvas.pixels {
        let noise = rng.random_range(-NOISE_AMPLITUDE..=NOISE_AMPLITUDE);
        *pixel = (i32::from(*pixel) + noise).clamp(0, 255) as u8;
    }
    ScanImage::new(IMAGE_SIZE, IMAGE_SIZE, canvas.pixels)
}
