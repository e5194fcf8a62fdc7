//! The four medsynth questions: what each asks, its reasoning text and its reference answer.

use std::collections::BTreeMap;

use medgym_rewards::{AnswerType, Reference};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::scene::{Lesion, Modality, OrganKind, Scene, Side};
use crate::error::EnvError;

/// Most lesions a scene can hold.
pub const MAX_LESIONS: u32 = 3;
/// Option letters of the lesion-count question, in order; option i means a count of i.
pub const COUNT_LETTERS: [&str; 4] = ["A", "B", "C", "D"];

/// Which question a medsynth task asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MedsynthKind {
    /// "Is there a lesion in this scan?" (yes/no).
    LesionPresence,
    /// "How many lesions are in this scan?" (A–D for 0–3).
    LesionCount,
    /// "On which side of the patient is the lesion?" (left/right).
    LesionSide,
    /// "What imaging modality is this?" (ct/mri/x-ray).
    Modality,
}

/// The parts of an item that depend on the question.
#[derive(Debug, Clone)]
pub struct QuestionParts {
    /// Question text shown to the agent.
    pub question: String,
    /// Reasoning text, without tags.
    pub cot: String,
    /// Verifiable reference answer.
    pub reference: Reference,
}

impl MedsynthKind {
    /// Every medsynth question kind.
    pub const ALL: [MedsynthKind; 4] = [
        MedsynthKind::LesionPresence,
        MedsynthKind::LesionCount,
        MedsynthKind::LesionSide,
        MedsynthKind::Modality,
    ];

    /// The registered environment id.
    pub fn id(self) -> &'static str {
        match self {
            MedsynthKind::LesionPresence => "medsynth/lesion-presence-v1",
            MedsynthKind::LesionCount => "medsynth/lesion-count-v1",
            MedsynthKind::LesionSide => "medsynth/lesion-side-v1",
            MedsynthKind::Modality => "medsynth/modality-v1",
        }
    }

    /// The kind of answer the question expects.
    pub fn answer_type(self) -> AnswerType {
        match self {
            MedsynthKind::LesionPresence => AnswerType::YesNo,
            MedsynthKind::LesionCount => AnswerType::MultipleChoice,
            MedsynthKind::LesionSide | MedsynthKind::Modality => AnswerType::Open,
        }
    }

    /// One-sentence description for the spec.
    pub fn description(self) -> &'static str {
        match self {
            MedsynthKind::LesionPresence => {
                "Synthetic CT/MRI/X-ray scan; answer yes or no: is any lesion present?"
            }
            MedsynthKind::LesionCount => {
                "Synthetic CT/MRI/X-ray scan; choose the number of lesions (0-3) from four options."
            }
            MedsynthKind::LesionSide => {
                "Synthetic scan with one lesion; answer the patient's side (left or right) it lies on."
            }
            MedsynthKind::Modality => {
                "Synthetic scan; answer its imaging modality: ct, mri or x-ray."
            }
        }
    }

    /// Expected accuracy of uniform random guessing.
    pub fn chance(self) -> f64 {
        match self {
            MedsynthKind::LesionPresence | MedsynthKind::LesionSide => 0.5,
            MedsynthKind::LesionCount => 0.25,
            MedsynthKind::Modality => 1.0 / 3.0,
        }
    }

    /// The question text.
    pub fn question(self) -> String {
        match self {
            MedsynthKind::LesionPresence => "Is there a lesion in this scan?".to_string(),
            MedsynthKind::LesionCount => {
                let options: Vec<String> = COUNT_LETTERS
                    .iter()
                    .enumerate()
                    .map(|(count, letter)| format!("{letter}. {count}"))
                    .collect();
                format!("How many lesions are in this scan?\n{}", options.join("\n"))
            }
            MedsynthKind::LesionSide => "On which side of the patient is the lesion?".to_string(),
            MedsynthKind::Modality => "What imaging modality is this?".to_string(),
        }
    }

    /// Draws which organs carry a lesion, so that the task's answers are balanced.
    pub fn draw_lesion_organs(self, rng: &mut ChaCha8Rng) -> Vec<OrganKind> {
        let count = match self {
            MedsynthKind::LesionPresence => {
                if rng.random_range(0..2u32) == 1 {
                    rng.random_range(1..=MAX_LESIONS)
                } else {
                    0
                }
            }
            MedsynthKind::LesionCount | MedsynthKind::Modality => rng.random_range(0..=MAX_LESIONS),
            MedsynthKind::LesionSide => 1,
        };
        choose_distinct_organs(rng, count)
    }

    /// Question, reasoning and reference answer for a scene.
    pub fn parts(self, scene: &Scene) -> Result<QuestionParts, EnvError> {
        let scan = format!("{} scan.", scene.modality.display_name());
        let findings = lesion_list(&scene.lesions);
        let (cot, reference) = match self {
            MedsynthKind::LesionPresence => {
                let (conclusion, answer) = if scene.lesions.is_empty() {
                    ("No lesion is present.", "no")
                } else {
                    ("A lesion is present.", "yes")
                };
                (
                    format!("{scan} {findings} {conclusion}"),
                    Reference::new(answer, AnswerType::YesNo)?,
                )
            }
            MedsynthKind::LesionCount => {
                let count = scene.lesions.len();
                let letter = COUNT_LETTERS.get(count).ok_or_else(|| {
                    self.invalid("lesions", format!("{count} lesions, at most 3"))
                })?;
                let options: BTreeMap<String, String> = COUNT_LETTERS
                    .iter()
                    .enumerate()
                    .map(|(value, letter)| (letter.to_string(), value.to_string()))
                    .collect();
                (
                    format!("{scan} {findings} Count {count}, so {letter}."),
                    Reference::multiple_choice(letter, options)?,
                )
            }
            MedsynthKind::LesionSide => {
                let lesion = match scene.lesions.as_slice() {
                    [lesion] => lesion,
                    other => {
                        return Err(self.invalid(
                            "lesions",
                            format!("needs exactly 1 lesion, scene has {}", other.len()),
                        ))
                    }
                };
                let side = lesion.side.name();
                (
                    format!(
                        "{scan} {findings} The {} is on the patient's {side}.",
                        lesion.organ.name()
                    ),
                    Reference::new(side, AnswerType::Open)?,
                )
            }
            MedsynthKind::Modality => (
                format!(
                    "{} This is {}.",
                    scene.modality.cue(),
                    scene.modality.display_name()
                ),
                Reference::new(scene.modality.answer(), AnswerType::Open)?,
            ),
        };
        Ok(QuestionParts {
            question: self.question(),
            cot,
            reference,
        })
    }

    /// A plausible wrong first reading of the scene, used by the reflective reference.
    pub fn first_reading(self, scene: &Scene) -> String {
        let count = scene.lesions.len();
        match self {
            MedsynthKind::LesionPresence => {
                if count == 0 {
                    "A bright spot looks like a lesion, so yes.".to_string()
                } else {
                    "The organs look uniform at first glance, so no.".to_string()
                }
            }
            MedsynthKind::LesionCount => {
                let wrong = if count == 0 { 1 } else { count - 1 };
                format!("I count {wrong} lesions at first.")
            }
            MedsynthKind::LesionSide => {
                let wrong = match scene.lesions.first().map(|lesion| lesion.side) {
                    Some(Side::Left) => "right",
                    _ => "left",
                };
                format!("The lesion is on the image's {wrong}, so the patient's {wrong}.")
            }
            MedsynthKind::Modality => {
                let wrong = match scene.modality {
                    Modality::Ct => Modality::XRay,
                    Modality::Mri => Modality::Ct,
                    Modality::XRay => Modality::Ct,
                };
                format!("At first this looks like {}.", wrong.display_name())
            }
        }
    }

    fn invalid(self, field: &str, reason: String) -> EnvError {
        EnvError::InvalidItem {
            task_id: self.id().to_string(),
            field: field.to_string(),
            reason,
        }
    }
}

/// "Lesions: right lung, liver." or "Lesions: none." in the scene's canonical order.
pub fn lesion_list(lesions: &[Lesion]) -> String {
    if lesions.is_empty() {
        return "Lesions: none.".to_string();
    }
    let names: Vec<&str> = lesions.iter().map(|lesion| lesion.organ.name()).collect();
    format!("Lesions: {}.", names.join(", "))
}

/// `count` distinct organs drawn uniformly (partial Fisher–Yates shuffle).
fn choose_distinct_organs(rng: &mut ChaCha8Rng, count: u32) -> Vec<OrganKind> {
    let mut organs = OrganKind::ALL.to_vec();
    let total = organs.len() as u32;
    let take = count.min(total);
    for position in 0..take {
        let pick = rng.random_range(position..total);
        organs.swap(position as usize, pick as usize);
    }
    organs.truncate(take as usize);
    organs
}
