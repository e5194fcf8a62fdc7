//! A loaded dataset served as a [`TaskFamily`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use medgym_rewards::AnswerType;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::{DataRecord, Dataset};
use crate::error::EnvError;
use crate::task::TaskFamily;
use crate::types::{EnvSpec, Split, TaskItem};

/// Which answer types a task keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subset {
    /// Every item.
    All,
    /// Yes/no and closed-vocabulary items.
    Closed,
    /// Open, numeric and count items.
    Open,
}

impl Subset {
    /// Whether an answer type belongs to the subset.
    pub fn contains(self, answer_type: AnswerType) -> bool {
        match self {
            Self::All => true,
            Self::Closed => matches!(answer_type, AnswerType::YesNo | AnswerType::Closed),
            Self::Open => matches!(
                answer_type,
                AnswerType::Open | AnswerType::Numeric | AnswerType::Count
            ),
        }
    }
}

/// A dataset as a task: train items are visited in a seeded shuffle, eval items in file order;
/// indices past the end wrap around.
pub struct DatasetTask {
    spec: EnvSpec,
    records: Vec<DataRecord>,
    by_split: BTreeMap<Split, Vec<usize>>,
    chance: f64,
    shuffles: Mutex<HashMap<u64, Arc<Vec<usize>>>>,
}

/// Expected accuracy of a uniform guess: 1/2 for yes/no, 1/options for multiple choice, else 0.
fn guess_accuracy(record: &DataRecord) -> f64 {
    match record.reference.answer_type {
        AnswerType::YesNo => 0.5,
        AnswerType::MultipleChoice => 1.0 / record.reference.options().len().max(1) as f64,
        _ => 0.0,
    }
}

impl DatasetTask {
    /// A task over the records of `dataset` whose answer type is in `subset`; errors when none is.
    pub fn new(
        id: &str,
        description: &str,
        dataset: Dataset,
        subset: Subset,
    ) -> Result<Self, EnvError> {
        let records: Vec<DataRecord> = dataset
            .records
            .into_iter()
            .filter(|record| subset.contains(record.reference.answer_type))
            .collect();
        if records.is_empty() {
            return Err(EnvError::DataConfig(format!(
                "task `{id}`: no items in {} match the subset {subset:?}",
                dataset.source
            )));
        }
        let mut by_split: BTreeMap<Split, Vec<usize>> = BTreeMap::new();
        let mut type_counts: BTreeMap<AnswerType, usize> = BTreeMap::new();
        for (position, record) in records.iter().enumerate() {
            by_split.entry(record.split).or_default().push(position);
            *type_counts.entry(record.reference.answer_type).or_default() += 1;
        }
        let answer_type = type_counts
            .iter()
            .max_by_key(|(_, count)| **count)
            .map(|(kind, _)| *kind)
            .unwrap_or(AnswerType::Open);
        let chance = records.iter().map(guess_accuracy).sum::<f64>() / records.len() as f64;
        let version = id
            .rsplit_once("-v")
            .and_then(|(_, number)| number.parse().ok())
            .unwrap_or(1);
        let family = id.split(['/', ':']).next().unwrap_or(id).to_string();
        Ok(Self {
            spec: EnvSpec {
                id: id.to_string(),
                family,
                version,
                answer_type,
                max_turns: 1,
                reward_range: (0.0, 1.0),
                description: description.to_string(),
            },
            records,
            by_split,
            chance,
            shuffles: Mutex::new(HashMap::new()),
        })
    }

    /// Number of items in a split.
    pub fn len(&self, split: Split) -> usize {
        self.by_split.get(&split).map_or(0, Vec::len)
    }

    /// Whether the split has no items.
    pub fn is_empty(&self, split: Split) -> bool {
        self.len(split) == 0
    }

    /// The split's record positions in the order seed `seed` visits them.
    fn order(&self, split: Split, seed: u64) -> Result<Arc<Vec<usize>>, EnvError> {
        let positions = self
            .by_split
            .get(&split)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| EnvError::InvalidItem {
                task_id: self.spec.id.clone(),
                field: "split".into(),
                reason: format!("the dataset has no {split} items"),
            })?;
        if split == Split::Eval {
            return Ok(Arc::new(positions.clone()));
        }
        let mut cache = self.shuffles.lock().map_err(|_| EnvError::InvalidItem {
            task_id: self.spec.id.clone(),
            field: "split".into(),
            reason: "the shuffle cache was poisoned by a panic".into(),
        })?;
        let order = cache.entry(seed).or_insert_with(|| {
            let mut shuffled = positions.clone();
            shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
            Arc::new(shuffled)
        });
        Ok(Arc::clone(order))
    }
}

impl TaskFamily for DatasetTask {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn item(&self, split: Split, seed: u64, index: u64) -> Result<TaskItem, EnvError> {
        let order = self.order(split, seed)?;
        let position = order[(index % order.len() as u64) as usize];
        let record = &self.records[position];
        let mut meta = record.meta.clone();
        meta.insert(
            "source".into(),
            Value::String(format!("{}:{}", record.file, record.location)),
        );
        meta.insert("dataset_id".into(), Value::String(record.key.clone()));
        meta.insert(
            "raw_question".into(),
            Value::String(record.question.clone()),
        );
        if let Some(language) = &record.language {
            meta.insert("q_lang".into(), Value::String(language.clone()));
        }
        Ok(TaskItem {
            id: format!("{}:{split}:{seed}:{index}", self.spec.id),
            task_id: self.spec.id.clone(),
            split,
            seed,
            index,
            images: record.images.clone(),
            question: record.prompt.clone(),
            reference: record.reference.clone(),
            reference_cot: String::new(),
            reference_response: format!(
                "<think></think><answer>{}</answer>",
                record.reference.answer()
            ),
            reflective_response: None,
            meta,
        })
    }

    fn chance(&self) -> f64 {
        self.chance
    }
}
