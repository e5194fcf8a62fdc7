//! "medsynth" version 2: synthetic scans at difficulty levels 1–5 (lesion contrast, noise,
//! lesion size and distractor specks), asking about lesion presence, count, side, size,
//! grade, the organ that holds it, or the modality.

use std::sync::Arc;

use medgym_rewards::{AnswerType, Reference};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::scans_render::{render_styled, RenderStyle};
use super::{by_level, put, Generated, Generator};
use crate::error::EnvError;
use crate::medsynth::{Modality, OrganKind, Scene, Side};
use crate::types::Info;

/// Lesion contrast (gray levels) per difficulty level 1–5.
pub const CONTRAST_BY_LEVEL: [i32; 5] = [110, 80, 55, 38, 26];
/// Noise amplitude (gray levels) per level.
pub const NOISE_BY_LEVEL: [i32; 5] = [3, 6, 10, 14, 18];
/// Lesion radius range (pixels, inclusive) per level.
pub const RADIUS_BY_LEVEL: [(i32, i32); 5] = [(4, 5), (3, 5), (2, 4), (2, 3), (1, 3)];
/// Distractor specks outside the organs per level.
pub const DISTRACTORS_BY_LEVEL: [u32; 5] = [0, 0, 1, 2, 3];
/// Contrast multipliers of lesion grades mild, moderate and marked.
pub const GRADE_FACTORS: [f32; 3] = [0.55, 1.0, 1.6];
/// Names of the lesion grades, in increasing contrast.
pub const GRADE_NAMES: [&str; 3] = ["mild", "moderate", "marked"];
/// Most lesions a version-2 count scene holds.
pub const MAX_LESIONS_V2: u32 = 4;

/// The question a version-2 scan task asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanQuestion {
    /// Is any lesion present (yes/no)?
    Presence,
    /// How many lesions (0–4)?
    Count,
    /// Patient's side of the single lesion (left/right).
    Side,
    /// Diameter of the single lesion in pixels.
    Size,
    /// Conspicuity grade of the single lesion (mild/moderate/marked).
    Grade,
    /// Organ holding the single lesion.
    Organ,
    /// Imaging modality (ct/mri/x-ray).
    Modality,
}

impl ScanQuestion {
    /// Every version-2 question.
    pub const ALL: [ScanQuestion; 7] = [
        ScanQuestion::Presence,
        ScanQuestion::Count,
        ScanQuestion::Side,
        ScanQuestion::Size,
        ScanQuestion::Grade,
        ScanQuestion::Organ,
        ScanQuestion::Modality,
    ];
}

/// The version-2 medsynth generators.
pub fn generators() -> Vec<Arc<dyn Generator>> {
    ScanQuestion::ALL
        .iter()
        .map(|question| Arc::new(ScanGenerator(*question)) as Arc<dyn Generator>)
        .collect()
}

/// Generator of one version-2 scan question.
#[derive(Debug, Clone, Copy)]
pub struct ScanGenerator(pub ScanQuestion);

/// `count` distinct organs drawn uniformly (partial Fisher–Yates shuffle).
fn distinct_organs(rng: &mut ChaCha8Rng, count: u32) -> Vec<OrganKind> {
    let mut organs = OrganKind::ALL.to_vec();
    let total = organs.len();
    let take = (count as usize).min(total);
    for position in 0..take {
        let pick = rng.random_range(position..total);
        organs.swap(position, pick);
    }
    organs.truncate(take);
    organs
}

/// The organ a hurried reader confuses with `organ`.
fn confused_organ(organ: OrganKind) -> OrganKind {
    match organ {
        OrganKind::RightLung => OrganKind::LeftLung,
        OrganKind::LeftLung => OrganKind::RightLung,
        OrganKind::Liver => OrganKind::RightKidney,
        OrganKind::Spleen => OrganKind::LeftKidney,
        OrganKind::RightKidney => OrganKind::Liver,
        OrganKind::LeftKidney => OrganKind::Spleen,
    }
}

/// Another modality than `modality`, the one most often mistaken for it.
fn confused_modality(modality: Modality) -> Modality {
    match modality {
        Modality::Ct => Modality::XRay,
        Modality::Mri | Modality::XRay => Modality::Ct,
    }
}

impl ScanGenerator {
    fn lesion_count(&self, rng: &mut ChaCha8Rng) -> u32 {
        match self.0 {
            ScanQuestion::Presence => {
                if rng.random_range(0..2u32) == 1 {
                    rng.random_range(1..=3)
                } else {
                    0
                }
            }
            ScanQuestion::Count => rng.random_range(0..=MAX_LESIONS_V2),
            ScanQuestion::Modality => rng.random_range(0..=2),
            ScanQuestion::Side | ScanQuestion::Size | ScanQuestion::Grade | ScanQuestion::Organ => {
                1
            }
        }
    }

    fn invalid(&self, reason: String) -> EnvError {
        EnvError::InvalidItem {
            task_id: self.id().to_string(),
            field: "lesions".into(),
            reason,
        }
    }
}

impl Generator for ScanGenerator {
    fn id(&self) -> &'static str {
        match self.0 {
            ScanQuestion::Presence => "medsynth/lesion-presence-v2",
            ScanQuestion::Count => "medsynth/lesion-count-v2",
            ScanQuestion::Side => "medsynth/lesion-side-v2",
            ScanQuestion::Size => "medsynth/lesion-size-v2",
            ScanQuestion::Grade => "medsynth/lesion-grade-v2",
            ScanQuestion::Organ => "medsynth/organ-v2",
            ScanQuestion::Modality => "medsynth/modality-v2",
        }
    }

    fn answer_type(&self) -> AnswerType {
        match self.0 {
            ScanQuestion::Presence => AnswerType::YesNo,
            ScanQuestion::Count => AnswerType::Count,
            ScanQuestion::Size => AnswerType::Numeric,
            ScanQuestion::Organ => AnswerType::Open,
            ScanQuestion::Side | ScanQuestion::Grade | ScanQuestion::Modality => AnswerType::Closed,
        }
    }

    fn description(&self) -> &'static str {
        match self.0 {
            ScanQuestion::Presence => "Synthetic scan with levels 1-5; is any lesion present?",
            ScanQuestion::Count => "Synthetic scan with levels 1-5; how many lesions (0-4)?",
            ScanQuestion::Side => "Synthetic scan with levels 1-5; patient's side of the lesion.",
            ScanQuestion::Size => "Synthetic scan with levels 1-5; lesion diameter in pixels.",
            ScanQuestion::Grade => {
                "Synthetic scan with levels 1-5; lesion conspicuity: mild, moderate or marked."
            }
            ScanQuestion::Organ => "Synthetic scan with levels 1-5; which organ holds the lesion?",
            ScanQuestion::Modality => "Synthetic scan with levels 1-5; ct, mri or x-ray?",
        }
    }

    fn chance(&self) -> f64 {
        match self.0 {
            ScanQuestion::Presence | ScanQuestion::Side => 0.5,
            ScanQuestion::Count => 1.0 / 5.0,
            ScanQuestion::Size => 1.0 / 5.0,
            ScanQuestion::Grade | ScanQuestion::Modality => 1.0 / 3.0,
            ScanQuestion::Organ => 1.0 / 6.0,
        }
    }

    fn generate(&self, rng: &mut ChaCha8Rng, level: u8) -> Result<Generated, EnvError> {
        let modality_index = rng.random_range(0..Modality::ALL.len());
        let modality = Modality::ALL
            .get(modality_index)
            .copied()
            .unwrap_or(Modality::Ct);
        let count = self.lesion_count(rng);
        let organs = distinct_organs(rng, count);
        let scene =
            Scene::generate_sized(rng, modality, &organs, by_level(RADIUS_BY_LEVEL, level))?;
        let grade = rng.random_range(0..GRADE_FACTORS.len());
        let base_contrast = by_level(CONTRAST_BY_LEVEL, level);
        let contrast = if self.0 == ScanQuestion::Grade {
            (base_contrast as f32 * GRADE_FACTORS[grade]).round() as i32
        } else {
            base_contrast
        };
        let style = RenderStyle {
            contrast,
            noise: by_level(NOISE_BY_LEVEL, level),
            distractors: by_level(DISTRACTORS_BY_LEVEL, level),
        };
        let (image, specks) = render_styled(&scene, style, rng)?;
        let parts = self.parts(&scene, grade, !specks.is_empty())?;
        let mut meta = Info::new();
        put(&mut meta, "modality", scene.modality)?;
        put(&mut meta, "organs", &scene.organs)?;
        put(&mut meta, "lesions", &scene.lesions)?;
        put(&mut meta, "lesion_count", scene.lesions.len())?;
        put(&mut meta, "contrast", contrast)?;
        put(&mut meta, "noise", style.noise)?;
        put(&mut meta, "distractors", &specks)?;
        if self.0 == ScanQuestion::Grade {
            put(&mut meta, "grade", GRADE_NAMES[grade])?;
        }
        Ok(Generated {
            images: vec![image.into()],
            question: parts.0,
            reference: parts.1,
            cot: parts.2,
            first_reading: parts.3,
            meta,
        })
    }
}

impl ScanGenerator {
    /// Question, reference, reasoning and wrong first reading for a scene.
    fn parts(
        &self,
        scene: &Scene,
        grade: usize,
        has_specks: bool,
    ) -> Result<(String, Reference, String, String), EnvError> {
        let findings: Vec<String> = scene
            .lesions
            .iter()
            .map(|lesion| {
                format!(
                    "{} (diameter {} px)",
                    lesion.organ.name(),
                    2 * lesion.radius + 1
                )
            })
            .collect();
        let findings = if findings.is_empty() {
            "Lesions: none.".to_string()
        } else {
            format!("Lesions: {}.", findings.join(", "))
        };
        let specks = if has_specks {
            " Small specks outside the organs are not lesions."
        } else {
            ""
        };
        let scan = format!(
            "{} scan. {}{specks} {findings}",
            scene.modality.display_name(),
            scene.modality.cue()
        );
        let count = scene.lesions.len();
        let single = || match scene.lesions.as_slice() {
            [lesion] => Ok(*lesion),
            other => Err(self.invalid(format!("needs exactly 1 lesion, has {}", other.len()))),
        };
        let (question, answer, conclusion, first) = match self.0 {
            ScanQuestion::Presence => {
                let answer = if count == 0 { "no" } else { "yes" };
                let first = if count == 0 {
                    "A bright spot looks like a lesion at first, so yes."
                } else {
                    "The organs look uniform at first glance, so no."
                };
                (
                    "Is there a lesion in this scan?".to_string(),
                    answer.to_string(),
                    format!("So the answer is {answer}."),
                    first.to_string(),
                )
            }
            ScanQuestion::Count => {
                let wrong = if has_specks || count == 0 {
                    count + 1
                } else {
                    count - 1
                };
                (
                    "How many lesions are in this scan? Answer with a number.".to_string(),
                    count.to_string(),
                    format!("Count {count}."),
                    format!("I count {wrong} lesions at first."),
                )
            }
            ScanQuestion::Side => {
                let lesion = single()?;
                let side = lesion.side.name();
                let wrong = match lesion.side {
                    Side::Left => "right",
                    Side::Right => "left",
                };
                (
                    "On which side of the patient is the lesion: left or right?".to_string(),
                    side.to_string(),
                    format!(
                        "Image left is the patient's right; the {} is on the patient's {side}.",
                        lesion.organ.name()
                    ),
                    format!("The lesion is on the image's {wrong}, so the patient's {wrong}."),
                )
            }
            ScanQuestion::Size => {
                let lesion = single()?;
                let diameter = 2 * lesion.radius + 1;
                (
                    "What is the diameter of the lesion, in pixels?".to_string(),
                    diameter.to_string(),
                    format!("The lesion spans {diameter} pixels across."),
                    format!(
                        "From edge to center is {} pixels, so {} across.",
                        lesion.radius,
                        2 * lesion.radius
                    ),
                )
            }
            ScanQuestion::Grade => {
                let lesion = single()?;
                let name = GRADE_NAMES.get(grade).copied().unwrap_or("moderate");
                let wrong = GRADE_NAMES
                    .get(if grade == 1 { 2 } else { 1 })
                    .copied()
                    .unwrap_or("moderate");
                (
                    "Grade how strongly the lesion stands out from its organ: mild, moderate or marked?"
                        .to_string(),
                    name.to_string(),
                    format!(
                        "The {} lesion differs from the surrounding organ by a {name} step.",
                        lesion.organ.name()
                    ),
                    format!("The contrast looks {wrong} at first."),
                )
            }
            ScanQuestion::Organ => {
                let lesion = single()?;
                (
                    "Which organ contains the lesion?".to_string(),
                    lesion.organ.name().to_string(),
                    format!("The lesion lies inside the {}.", lesion.organ.name()),
                    format!(
                        "The lesion seems to sit in the {}.",
                        confused_organ(lesion.organ).name()
                    ),
                )
            }
            ScanQuestion::Modality => (
                "What imaging modality is this: ct, mri or x-ray?".to_string(),
                scene.modality.answer().to_string(),
                format!("This is {}.", scene.modality.display_name()),
                format!(
                    "At first this looks like {}.",
                    confused_modality(scene.modality).display_name()
                ),
            ),
        };
        let reference = Reference::new(&answer, self.answer_type())?;
        Ok((question, reference, format!("{scan} {conclusion}"), first))
    }
}
