//! Procedural task suites with difficulty levels 1–5, all embedded (no downloads):
//! synthetic scans ([`scans`]), text clinical calculations ([`clinical`]) and general image
//! questions about coloured shapes ([`shapes`]).
//!
//! Every item is a pure function of (task id, split, seed, index) at the task's level; the
//! split is part of the generator key, so train and eval streams never share an item.

pub mod clinical;
mod clinical_cases;
mod clinical_units;
pub mod scans;
mod scans_render;
pub mod shapes;

use std::sync::Arc;

use medgym_rewards::{AnswerType, Reference, Rubric};
use rand_chacha::ChaCha8Rng;

use crate::error::EnvError;
use crate::medsynth::item_rng;
use crate::task::TaskFamily;
use crate::types::{EnvSpec, Info, ItemImage, Split, TaskItem};

/// Easiest difficulty level.
pub const MIN_DIFFICULTY: u8 = 1;
/// Hardest difficulty level.
pub const MAX_DIFFICULTY: u8 = 5;
/// Level a procedural task draws at unless configured otherwise (the middle of the range).
pub const DEFAULT_DIFFICULTY: u8 = 3;

/// What a generator produces for one item before it becomes a [`TaskItem`].
#[derive(Debug, Clone)]
pub struct Generated {
    /// Images in question order (empty for text-only items).
    pub images: Vec<ItemImage>,
    /// The question text.
    pub question: String,
    /// The verifiable reference.
    pub reference: Reference,
    /// Reasoning derived from the generator's facts.
    pub cot: String,
    /// A plausible wrong first reading, for the reflective reference.
    pub first_reading: String,
    /// Facts behind the item (inputs, units, scene), for checks and inspection.
    pub meta: Info,
}

/// A source of items for one task at a given difficulty level.
pub trait Generator: Send + Sync {
    /// The registered id, `family/name-vN`.
    fn id(&self) -> &'static str;
    /// Kind of answer the items expect.
    fn answer_type(&self) -> AnswerType;
    /// One-sentence description.
    fn description(&self) -> &'static str;
    /// Expected accuracy of uniform random guessing (0 for open numeric answers).
    fn chance(&self) -> f64;
    /// Draws one item from `rng` at `level`.
    fn generate(&self, rng: &mut ChaCha8Rng, level: u8) -> Result<Generated, EnvError>;
}

/// A task family backed by a [`Generator`] at a fixed difficulty level.
#[derive(Clone)]
pub struct ProceduralTask {
    generator: Arc<dyn Generator>,
    level: u8,
    spec: EnvSpec,
}

impl std::fmt::Debug for ProceduralTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProceduralTask")
            .field("id", &self.spec.id)
            .field("level", &self.level)
            .finish()
    }
}

/// The `N` of an id ending in `-vN` (1 when absent).
fn id_version(id: &str) -> u32 {
    id.rsplit_once("-v")
        .and_then(|(_, version)| version.parse().ok())
        .unwrap_or(1)
}

impl ProceduralTask {
    /// The generator's task at `level` (1–5).
    pub fn new(generator: Arc<dyn Generator>, level: u8) -> Result<Self, EnvError> {
        if !(MIN_DIFFICULTY..=MAX_DIFFICULTY).contains(&level) {
            return Err(EnvError::Difficulty {
                id: generator.id().to_string(),
                reason: format!("level {level} is outside {MIN_DIFFICULTY}..={MAX_DIFFICULTY}"),
            });
        }
        Ok(Self::build(generator, level))
    }

    /// The generator's task at [`DEFAULT_DIFFICULTY`].
    pub fn at_default(generator: Arc<dyn Generator>) -> Self {
        Self::build(generator, DEFAULT_DIFFICULTY)
    }

    fn build(generator: Arc<dyn Generator>, level: u8) -> Self {
        let id = generator.id();
        let family = id.split('/').next().unwrap_or(id).to_string();
        let spec = EnvSpec {
            id: id.to_string(),
            family,
            version: id_version(id),
            answer_type: generator.answer_type(),
            max_turns: 1,
            reward_range: Rubric::standard().reward_range(),
            description: generator.description().to_string(),
        };
        Self {
            generator,
            level,
            spec,
        }
    }
}

impl TaskFamily for ProceduralTask {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn item(&self, split: Split, seed: u64, index: u64) -> Result<TaskItem, EnvError> {
        let mut rng = item_rng(&self.spec.id, split, seed, index);
        let generated = self.generator.generate(&mut rng, self.level)?;
        let answer = generated.reference.answer().to_owned();
        let mut meta = generated.meta;
        meta.insert("difficulty".into(), serde_json::Value::from(self.level));
        Ok(TaskItem {
            id: format!("{}@{}:{split}:{seed}:{index}", self.spec.id, self.level),
            task_id: self.spec.id.clone(),
            split,
            seed,
            index,
            images: generated.images,
            question: generated.question,
            reference_response: TaskItem::plain_response(&generated.cot, &answer),
            reflective_response: Some(TaskItem::reflective(
                &generated.first_reading,
                &generated.cot,
                &answer,
            )),
            reference: generated.reference,
            reference_cot: generated.cot,
            meta,
        })
    }

    fn chance(&self) -> f64 {
        self.generator.chance()
    }

    fn difficulty(&self) -> Option<u8> {
        Some(self.level)
    }

    fn with_difficulty(&self, level: u8) -> Result<Arc<dyn TaskFamily>, EnvError> {
        Ok(Arc::new(ProceduralTask::new(
            Arc::clone(&self.generator),
            level,
        )?))
    }
}

/// Every procedural task at [`DEFAULT_DIFFICULTY`].
pub fn default_tasks() -> Vec<Arc<dyn TaskFamily>> {
    scans::generators()
        .into_iter()
        .chain(clinical::generators())
        .chain(shapes::generators())
        .map(|generator| Arc::new(ProceduralTask::at_default(generator)) as Arc<dyn TaskFamily>)
        .collect()
}

/// Inserts a JSON-serializable value into `meta` under `key`.
pub(crate) fn put(
    meta: &mut Info,
    key: &str,
    value: impl serde::Serialize,
) -> Result<(), EnvError> {
    let json = serde_json::to_value(value).map_err(|source| EnvError::Meta {
        field: key.to_string(),
        source,
    })?;
    meta.insert(key.to_string(), json);
    Ok(())
}

/// The level's entry of a five-entry table (levels outside 1–5 are clamped).
pub(crate) fn by_level<T: Copy>(table: [T; 5], level: u8) -> T {
    let position = usize::from(level.clamp(MIN_DIFFICULTY, MAX_DIFFICULTY) - 1);
    table[position.min(4)]
}
