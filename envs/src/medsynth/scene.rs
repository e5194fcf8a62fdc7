//! Scene facts for synthetic scans: modality, organ geometry and lesions.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::EnvError;

/// Side length of every medsynth scan, in pixels.
pub const IMAGE_SIZE: u32 = 64;
/// Image columns left of this x are on the patient's right (radiological convention).
pub const MIDLINE_X: i32 = 32;
/// Smallest lesion radius, in pixels.
pub const MIN_LESION_RADIUS: i32 = 3;
/// Largest lesion radius, in pixels.
pub const MAX_LESION_RADIUS: i32 = 5;
/// Pixels of organ tissue kept between a lesion and its organ's outline.
pub const LESION_RIM: i32 = 1;
/// Largest organ displacement from its base position, per axis, in pixels.
pub const ORGAN_JITTER: i32 = 1;
/// Attempts at a non-overlapping jittered position before an organ keeps its base position.
const JITTER_ATTEMPTS: u32 = 8;

/// The body outline: center and semi-axes of the outer ellipse.
pub const BODY: Ellipse = Ellipse {
    center_x: 32,
    center_y: 32,
    radius_x: 30,
    radius_y: 29,
};
/// Thickness of the bone ring inside the body outline on CT and X-ray.
pub const BONE_RING_THICKNESS: i32 = 3;
/// An axis-aligned ellipse on the pixel grid (pixel centers at integer coordinates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ellipse {
    /// Center column.
    pub center_x: i32,
    /// Center row.
    pub center_y: i32,
    /// Horizontal semi-axis.
    pub radius_x: i32,
    /// Vertical semi-axis.
    pub radius_y: i32,
}

impl Ellipse {
    /// Whether pixel (x, y) lies inside the ellipse (boundary included).
    pub fn contains(&self, x: i32, y: i32) -> bool {
        self.contains_inset(x, y, 0)
    }

    /// Whether pixel (x, y) lies inside the ellipse shrunk by `inset` pixels on each semi-axis.
    ///
    /// Semi-axes are widened by half a pixel so outlines are round rather than star-tipped;
    /// a shape never extends more than its semi-axis from its center.
    pub fn contains_inset(&self, x: i32, y: i32, inset: i32) -> bool {
        if self.radius_x - inset < 0 || self.radius_y - inset < 0 {
            return false;
        }
        let radius_x = (self.radius_x - inset) as f32 + 0.5;
        let radius_y = (self.radius_y - inset) as f32 + 0.5;
        let dx = (x - self.center_x) as f32 / radius_x;
        let dy = (y - self.center_y) as f32 / radius_y;
        dx * dx + dy * dy <= 1.0
    }

    /// All pixels inside the ellipse shrunk by `inset`.
    pub fn pixels_inset(&self, inset: i32) -> Vec<(i32, i32)> {
        let mut pixels = Vec::new();
        for y in self.center_y - self.radius_y..=self.center_y + self.radius_y {
            for x in self.center_x - self.radius_x..=self.center_x + self.radius_x {
                if self.contains_inset(x, y, inset) {
                    pixels.push((x, y));
                }
            }
        }
        pixels
    }

    /// All pixels inside the ellipse.
    pub fn pixels(&self) -> Vec<(i32, i32)> {
        self.pixels_inset(0)
    }

    /// The same ellipse moved by (dx, dy).
    pub fn shifted(&self, dx: i32, dy: i32) -> Self {
        Self {
            center_x: self.center_x + dx,
            center_y: self.center_y + dy,
            ..*self
        }
    }
}

/// Imaging modality of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Modality {
    /// Computed tomography.
    #[serde(rename = "ct")]
    Ct,
    /// Magnetic resonance imaging.
    #[serde(rename = "mri")]
    Mri,
    /// Projection radiograph.
    #[serde(rename = "x-ray")]
    XRay,
}

impl Modality {
    /// Every modality, in answer order.
    pub const ALL: [Modality; 3] = [Modality::Ct, Modality::Mri, Modality::XRay];

    /// The answer string: "ct", "mri" or "x-ray".
    pub fn answer(self) -> &'static str {
        match self {
            Modality::Ct => "ct",
            Modality::Mri => "mri",
            Modality::XRay => "x-ray",
        }
    }

    /// The name used in reasoning text: "CT", "MRI" or "X-ray".
    pub fn display_name(self) -> &'static str {
        match self {
            Modality::Ct => "CT",
            Modality::Mri => "MRI",
            Modality::XRay => "X-ray",
        }
    }

    /// The visual cue that identifies the modality.
    pub fn cue(self) -> &'static str {
        match self {
            Modality::Ct => "Bright bone ring, dark lungs.",
            Modality::Mri => "No bone ring, bright kidneys.",
            Modality::XRay => "Bright background, light lungs.",
        }
    }

    /// Whether the modality shows the bone ring.
    pub fn shows_bone(self) -> bool {
        !matches!(self, Modality::Mri)
    }
}

/// The patient's side (radiological convention: image left is the patient's right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Patient's left (image right).
    Left,
    /// Patient's right (image left).
    Right,
}

impl Side {
    /// The side of the patient that image column `x` shows.
    pub fn of_image_x(x: i32) -> Self {
        if x < MIDLINE_X {
            Side::Right
        } else {
            Side::Left
        }
    }

    /// Lowercase name: "left" or "right".
    pub fn name(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

/// The organs drawn in every scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganKind {
    /// Right lung (image upper left).
    RightLung,
    /// Left lung (image upper right).
    LeftLung,
    /// Liver (image left).
    Liver,
    /// Spleen (image right).
    Spleen,
    /// Right kidney (image lower left).
    RightKidney,
    /// Left kidney (image lower right).
    LeftKidney,
}

impl OrganKind {
    /// Every organ, in drawing order.
    pub const ALL: [OrganKind; 6] = [
        OrganKind::RightLung,
        OrganKind::LeftLung,
        OrganKind::Liver,
        OrganKind::Spleen,
        OrganKind::RightKidney,
        OrganKind::LeftKidney,
    ];

    /// The name used in reasoning text, e.g. "right lung".
    pub fn name(self) -> &'static str {
        match self {
            OrganKind::RightLung => "right lung",
            OrganKind::LeftLung => "left lung",
            OrganKind::Liver => "liver",
            OrganKind::Spleen => "spleen",
            OrganKind::RightKidney => "right kidney",
            OrganKind::LeftKidney => "left kidney",
        }
    }

    /// The organ's outline before jitter.
    pub fn base_shape(self) -> Ellipse {
        let (center_x, center_y, radius_x, radius_y) = match self {
            OrganKind::RightLung => (22, 19, 8, 8),
            OrganKind::LeftLung => (42, 19, 8, 8),
            OrganKind::Liver => (21, 35, 10, 6),
            OrganKind::Spleen => (44, 35, 6, 6),
            OrganKind::RightKidney => (22, 48, 5, 5),
            OrganKind::LeftKidney => (42, 48, 5, 5),
        };
        Ellipse {
            center_x,
            center_y,
            radius_x,
            radius_y,
        }
    }

    /// The patient's side the organ lies on.
    pub fn side(self) -> Side {
        Side::of_image_x(self.base_shape().center_x)
    }

    /// Largest lesion radius that fits inside the organ with a tissue rim.
    pub fn max_lesion_radius(self) -> i32 {
        let shape = self.base_shape();
        (shape.radius_x.min(shape.radius_y) - 2 * LESION_RIM).clamp(0, MAX_LESION_RADIUS)
    }
}

/// One organ as placed in a scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organ {
    /// Which organ.
    pub kind: OrganKind,
    /// Its outline after jitter.
    pub shape: Ellipse,
}

/// A round lesion inside an organ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lesion {
    /// The organ that contains the lesion.
    pub organ: OrganKind,
    /// Patient's side, derived from the lesion's image column.
    pub side: Side,
    /// Center column.
    pub center_x: i32,
    /// Center row.
    pub center_y: i32,
    /// Radius in pixels.
    pub radius: i32,
}

impl Lesion {
    /// The lesion as a circle on the pixel grid.
    pub fn shape(&self) -> Ellipse {
        Ellipse {
            center_x: self.center_x,
            center_y: self.center_y,
            radius_x: self.radius,
            radius_y: self.radius,
        }
    }

    /// Whether pixel (x, y) belongs to the lesion.
    pub fn covers(&self, x: i32, y: i32) -> bool {
        self.shape().contains(x, y)
    }
}

/// Every fact about a synthetic scan, before rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scene {
    /// Imaging modality.
    pub modality: Modality,
    /// Organs in drawing order.
    pub organs: Vec<Organ>,
    /// Lesions in canonical order: top-to-bottom, then left-to-right in the image.
    pub lesions: Vec<Lesion>,
}

impl Scene {
    /// Places organs with jitter and one lesion in each organ of `lesion_organs`.
    ///
    /// Fails when an organ has no room for a lesion (cannot happen with the built-in layout).
    pub fn generate(
        rng: &mut ChaCha8Rng,
        modality: Modality,
        lesion_organs: &[OrganKind],
    ) -> Result<Scene, EnvError> {
        Self::generate_sized(
            rng,
            modality,
            lesion_organs,
            (MIN_LESION_RADIUS, MAX_LESION_RADIUS),
        )
    }

    /// Like [`Scene::generate`], with lesion radii drawn from `radius_range` (inclusive, capped per organ).
    pub fn generate_sized(
        rng: &mut ChaCha8Rng,
        modality: Modality,
        lesion_organs: &[OrganKind],
        radius_range: (i32, i32),
    ) -> Result<Scene, EnvError> {
        let organs = place_organs(rng);
        let mut lesions = Vec::with_capacity(lesion_organs.len());
        for kind in lesion_organs {
            let organ = organs
                .iter()
                .find(|organ| organ.kind == *kind)
                .ok_or_else(|| no_room(*kind, 0, "the organ is not in the scene"))?;
            lesions.push(place_lesion(rng, organ, radius_range)?);
        }
        lesions.sort_by_key(|lesion| (lesion.center_y, lesion.center_x));
        Ok(Scene {
            modality,
            organs,
            lesions,
        })
    }

    /// The placed organ of the given kind.
    pub fn organ(&self, kind: OrganKind) -> Option<&Organ> {
        self.organs.iter().find(|organ| organ.kind == kind)
    }
}

/// Whether an organ outline keeps a pixel of clearance from the bone ring and the other organs.
fn fits(shape: &Ellipse, placed: &[Organ]) -> bool {
    shape.pixels().into_iter().all(|(x, y)| {
        let inside_ring = BODY.contains_inset(x, y, BONE_RING_THICKNESS + 1);
        let clear_of_organs = placed
            .iter()
            .all(|other| !other.shape.contains_inset(x, y, -1));
        inside_ring && clear_of_organs
    })
}

/// Jitters every organ by up to [`ORGAN_JITTER`] pixels, keeping organs apart.
fn place_organs(rng: &mut ChaCha8Rng) -> Vec<Organ> {
    let mut organs: Vec<Organ> = Vec::with_capacity(OrganKind::ALL.len());
    for kind in OrganKind::ALL {
        let base = kind.base_shape();
        let mut shape = base;
        for _ in 0..JITTER_ATTEMPTS {
            let dx = rng.random_range(-ORGAN_JITTER..=ORGAN_JITTER);
            let dy = rng.random_range(-ORGAN_JITTER..=ORGAN_JITTER);
            let candidate = base.shifted(dx, dy);
            if fits(&candidate, &organs) {
                shape = candidate;
                break;
            }
        }
        organs.push(Organ { kind, shape });
    }
    organs
}

/// The error for a lesion that cannot be placed.
fn no_room(organ: OrganKind, radius: i32, reason: &str) -> EnvError {
    EnvError::LesionPlacement {
        organ: organ.name().to_string(),
        radius,
        reason: reason.to_string(),
    }
}

/// Draws a radius in `radius_range` (capped by the organ) and a center whose disk stays inside the organ's rim.
fn place_lesion(
    rng: &mut ChaCha8Rng,
    organ: &Organ,
    radius_range: (i32, i32),
) -> Result<Lesion, EnvError> {
    let organ_max = organ.kind.max_lesion_radius();
    let min_radius = radius_range.0.min(organ_max);
    let max_radius = organ_max.min(radius_range.1);
    if max_radius < min_radius || min_radius < 1 {
        return Err(no_room(
            organ.kind,
            min_radius,
            "the organ is smaller than the smallest lesion",
        ));
    }
    let radius = rng.random_range(min_radius..=max_radius);
    let candidates: Vec<(i32, i32)> = organ
        .shape
        .pixels()
        .into_iter()
        .filter(|&(center_x, center_y)| {
            let disk = Ellipse {
                center_x,
                center_y,
                radius_x: radius,
                radius_y: radius,
            };
            disk.pixels()
                .into_iter()
                .all(|(x, y)| organ.shape.contains_inset(x, y, LESION_RIM))
        })
        .collect();
    let count = u32::try_from(candidates.len())
        .map_err(|_| no_room(organ.kind, radius, "too many candidate centers"))?;
    if count == 0 {
        return Err(no_room(
            organ.kind,
            radius,
            "no center keeps the disk inside",
        ));
    }
    let pick = rng.random_range(0..count) as usize;
    let &(center_x, center_y) = candidates
        .get(pick)
        .ok_or_else(|| no_room(organ.kind, radius, "candidate index out of range"))?;
    Ok(Lesion {
        organ: organ.kind,
        side: Side::of_image_x(center_x),
        center_x,
        center_y,
        radius,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_layout_fits_without_jitter() {
        let mut placed: Vec<Organ> = Vec::new();
        for kind in OrganKind::ALL {
            let shape = kind.base_shape();
            assert!(fits(&shape, &placed), "{kind:?} does not fit");
            assert!(kind.max_lesion_radius() >= MIN_LESION_RADIUS, "{kind:?}");
            placed.push(Organ { kind, shape });
        }
    }

    #[test]
    fn ellipse_extent_matches_its_semi_axes() {
        let shape = Ellipse {
            center_x: 10,
            center_y: 10,
            radius_x: 3,
            radius_y: 2,
        };
        let pixels = shape.pixels();
        let min_x = pixels.iter().map(|p| p.0).min();
        let max_y = pixels.iter().map(|p| p.1).max();
        assert_eq!((min_x, max_y), (Some(7), Some(12)));
        assert!(!shape.contains(14, 10));
        assert!(shape.contains_inset(10, 10, 2));
        assert!(!shape.contains_inset(10, 10, 3));
    }
}
