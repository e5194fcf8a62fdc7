//! "medsynth": synthetic CT/MRI/X-ray scans with lesions, drawn in code.
//!
//! Each item seeds a ChaCha8 generator from (task id, split, seed, index), draws a
//! [`Scene`], renders it to a 64×64 [`ScanImage`](crate::ScanImage) and derives the
//! question, short reasoning text and reference answer from the scene facts.

pub mod render;
pub mod scene;
pub mod tasks;

use medgym_rewards::Rubric;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::EnvError;
use crate::task::TaskFamily;
use crate::types::{EnvSpec, Info, Split, TaskItem};

pub use render::{render, Palette};
pub use scene::{Ellipse, Lesion, Modality, Organ, OrganKind, Scene, Side};
pub use tasks::MedsynthKind;

/// Family name shared by every medsynth task.
pub const FAMILY: &str = "medsynth";

/// 64-bit FNV-1a hash of a string (stable across platforms and releases).
pub fn fnv1a64(text: &str) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    text.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// The generator of one item, seeded by [fnv1a64(task_id), split, seed, index] little-endian.
pub fn item_rng(task_id: &str, split: Split, seed: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    let words = [fnv1a64(task_id), split.key(), seed, index];
    for (chunk, word) in key.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// Rebuilds the scene facts stored in a medsynth item's `meta`.
pub fn scene_from_meta(meta: &Info) -> Result<Scene, EnvError> {
    Ok(Scene {
        modality: meta_field(meta, "modality")?,
        organs: meta_field(meta, "organs")?,
        lesions: meta_field(meta, "lesions")?,
    })
}

/// Decodes one `meta` entry.
fn meta_field<T: serde::de::DeserializeOwned>(meta: &Info, name: &str) -> Result<T, EnvError> {
    let value = meta
        .get(name)
        .cloned()
        .ok_or_else(|| EnvError::InvalidItem {
            task_id: FAMILY.to_string(),
            field: name.to_string(),
            reason: "missing from item meta".to_string(),
        })?;
    serde_json::from_value(value).map_err(|source| EnvError::Meta {
        field: name.to_string(),
        source,
    })
}

/// One medsynth task: a question kind plus its static spec.
#[derive(Debug, Clone)]
pub struct MedsynthTask {
    kind: MedsynthKind,
    spec: EnvSpec,
}

impl MedsynthTask {
    /// The task asking the given question.
    pub fn new(kind: MedsynthKind) -> Self {
        let spec = EnvSpec {
            id: kind.id().to_string(),
            family: FAMILY.to_string(),
            version: 1,
            answer_type: kind.answer_type(),
            max_turns: 1,
            reward_range: Rubric::standard().reward_range(),
            description: kind.description().to_string(),
        };
        Self { kind, spec }
    }

    /// The question kind.
    pub fn kind(&self) -> MedsynthKind {
        self.kind
    }

    /// The scene behind item (split, seed, index); also what [`TaskFamily::item`] renders.
    pub fn scene(&self, split: Split, seed: u64, index: u64) -> Result<Scene, EnvError> {
        let mut rng = item_rng(&self.spec.id, split, seed, index);
        self.draw_scene(&mut rng)
    }

    fn draw_scene(&self, rng: &mut ChaCha8Rng) -> Result<Scene, EnvError> {
        let modality_count = Modality::ALL.len() as u32;
        let modality_index = rng.random_range(0..modality_count) as usize;
        let modality = Modality::ALL
            .get(modality_index)
            .copied()
            .ok_or_else(|| self.invalid("modality", format!("index {modality_index}")))?;
        let lesion_organs = self.kind.draw_lesion_organs(rng);
        Scene::generate(rng, modality, &lesion_organs)
    }

    fn invalid(&self, field: &str, reason: String) -> EnvError {
        EnvError::InvalidItem {
            task_id: self.spec.id.clone(),
            field: field.to_string(),
            reason,
        }
    }
}

/// Inserts `value` as JSON under `key`.
fn insert_meta(meta: &mut Info, key: &str, value: &impl Serialize) -> Result<(), EnvError> {
    let json = serde_json::to_value(value).map_err(|source| EnvError::Meta {
        field: key.to_string(),
        source,
    })?;
    meta.insert(key.to_string(), json);
    Ok(())
}

impl TaskFamily for MedsynthTask {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn item(&self, split: Split, seed: u64, index: u64) -> Result<TaskItem, EnvError> {
        let mut rng = item_rng(&self.spec.id, split, seed, index);
        let scene = self.draw_scene(&mut rng)?;
        let image = render(&scene, &mut rng)?;
        let parts = self.kind.parts(&scene)?;
        let reference_response = TaskItem::plain_response(&parts.cot, parts.reference.answer());
        let reflective_response = TaskItem::reflective(
            &self.kind.first_reading(&scene),
            &parts.cot,
            parts.reference.answer(),
        );
        let mut meta = Info::new();
        insert_meta(&mut meta, "modality", &scene.modality)?;
        insert_meta(&mut meta, "lesion_count", &scene.lesions.len())?;
        insert_meta(&mut meta, "lesions", &scene.lesions)?;
        insert_meta(&mut meta, "organs", &scene.organs)?;
        Ok(TaskItem {
            id: format!("{}:{split}:{seed}:{index}", self.spec.id),
            task_id: self.spec.id.clone(),
            split,
            seed,
            index,
            images: vec![image.into()],
            question: parts.question,
            reference: parts.reference,
            reference_cot: parts.cot,
            reference_response,
            reflective_response: Some(reflective_response),
            meta,
        })
    }

    fn chance(&self) -> f64 {
        self.kind.chance()
    }
}
