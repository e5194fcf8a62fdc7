//! A group-aware vector environment for GRPO-style training: a batch of prompts, each answered
//! G times, with DAPO dynamic sampling (groups whose rewards are all exactly equal carry no
//! advantage signal; they are dropped and replaced from the task stream).

use std::collections::BTreeMap;
use std::sync::Arc;

use medgym_rewards::RewardBreakdown;
use serde::Serialize;

use crate::error::EnvError;
use crate::task::TaskFamily;
use crate::types::{Observation, Split, TaskItem};

/// One prompt of a batch, to be answered `group_size` times.
#[derive(Debug, Clone)]
pub struct PromptGroup {
    /// The item behind the prompt.
    pub item: TaskItem,
    /// The observation every member of the group sees.
    pub observation: Observation,
}

/// Counters of what dynamic sampling saw and dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DynamicSamplingStats {
    /// Groups whose rewards were handed in.
    pub groups_scored: u64,
    /// Groups kept (rewards not all equal, or a group of one).
    pub groups_kept: u64,
    /// Groups dropped because every reward was exactly equal.
    pub groups_dropped: u64,
    /// Dropped groups by their common reward, printed with 4 decimals (e.g. "1.2000").
    pub dropped_by_reward: BTreeMap<String, u64>,
    /// Replacement prompts drawn from the stream.
    pub replacements_drawn: u64,
}

/// The verdict on one scored batch.
#[derive(Debug, Clone)]
pub struct SamplingOutcome {
    /// Groups kept, with their rewards, in batch order.
    pub kept: Vec<(PromptGroup, Vec<f32>)>,
    /// Batch indices of the dropped groups.
    pub dropped: Vec<usize>,
    /// Fresh prompts replacing the dropped groups (empty unless replacement was asked for).
    pub replacements: Vec<PromptGroup>,
}

/// Draws batches of prompt groups from one task stream and filters them by reward variance.
#[derive(Clone)]
pub struct GroupVectorEnv {
    task: Arc<dyn TaskFamily>,
    split: Split,
    seed: u64,
    next_index: u64,
    group_size: usize,
    stats: DynamicSamplingStats,
}

impl std::fmt::Debug for GroupVectorEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupVectorEnv")
            .field("task", &self.task.spec().id)
            .field("split", &self.split)
            .field("seed", &self.seed)
            .field("next_index", &self.next_index)
            .field("group_size", &self.group_size)
            .field("stats", &self.stats)
            .finish()
    }
}

impl GroupVectorEnv {
    /// A vector environment over `task`'s `(split, seed)` stream with groups of `group_size` (≥ 1).
    pub fn new(
        task: Arc<dyn TaskFamily>,
        split: Split,
        seed: u64,
        group_size: usize,
    ) -> Result<Self, EnvError> {
        if group_size == 0 {
            return Err(EnvError::InvalidConfig {
                field: "group_size".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            task,
            split,
            seed,
            next_index: 0,
            group_size,
            stats: DynamicSamplingStats::default(),
        })
    }

    /// Responses expected per prompt.
    pub fn group_size(&self) -> usize {
        self.group_size
    }

    /// Index of the next item the stream will hand out.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Counters accumulated since construction.
    pub fn stats(&self) -> &DynamicSamplingStats {
        &self.stats
    }

    /// The next prompt from the stream.
    fn draw(&mut self) -> Result<PromptGroup, EnvError> {
        let item = self.task.item(self.split, self.seed, self.next_index)?;
        self.next_index = self.next_index.saturating_add(1);
        let observation = self.task.observation(&item);
        Ok(PromptGroup { item, observation })
    }

    /// The next `prompts` prompts of the stream.
    pub fn reset_batch(&mut self, prompts: usize) -> Result<Vec<PromptGroup>, EnvError> {
        (0..prompts).map(|_| self.draw()).collect()
    }

    /// Every observation of the batch, each repeated `group_size` times (group-major order).
    pub fn observations(&self, batch: &[PromptGroup]) -> Vec<Observation> {
        batch
            .iter()
            .flat_map(|group| std::iter::repeat_n(group.observation.clone(), self.group_size))
            .collect()
    }

    /// Scores `group_size` responses per group (group-major order) with the task's rubric.
    pub fn step_batch(
        &self,
        batch: &[PromptGroup],
        responses: &[String],
    ) -> Result<Vec<Vec<RewardBreakdown>>, EnvError> {
        let expected = batch.len() * self.group_size;
        if responses.len() != expected {
            return Err(EnvError::GroupRewards {
                group: 0,
                reason: format!(
                    "expected {expected} responses ({} prompts x {}), got {}",
                    batch.len(),
                    self.group_size,
                    responses.len()
                ),
            });
        }
        Ok(batch
            .iter()
            .zip(responses.chunks(self.group_size))
            .map(|(group, answers)| {
                answers
                    .iter()
                    .map(|answer| self.task.score(&group.item, answer))
                    .collect()
            })
            .collect())
    }

    /// Splits a scored batch into kept and dropped groups (all rewards exactly equal, groups of
    /// one always kept) and, when `replace` is set, draws one fresh prompt per dropped group.
    pub fn dynamic_sample(
        &mut self,
        batch: Vec<PromptGroup>,
        rewards: &[Vec<f32>],
        replace: bool,
    ) -> Result<SamplingOutcome, EnvError> {
        if rewards.len() != batch.len() {
            return Err(EnvError::GroupRewards {
                group: rewards.len().min(batch.len()),
                reason: format!("{} reward lists for {} groups", rewards.len(), batch.len()),
            });
        }
        for (group, values) in rewards.iter().enumerate() {
            if values.len() != self.group_size {
                return Err(EnvError::GroupRewards {
                    group,
                    reason: format!(
                        "{} rewards for a group of {}",
                        values.len(),
                        self.group_size
                    ),
                });
            }
            if let Some(bad) = values.iter().find(|value| !value.is_finite()) {
                return Err(EnvError::GroupRewards {
                    group,
                    reason: format!("reward {bad} is not finite"),
                });
            }
        }
        let mut outcome = SamplingOutcome {
            kept: Vec::new(),
            dropped: Vec::new(),
            replacements: Vec::new(),
        };
        for (position, (group, values)) in batch.into_iter().zip(rewards).enumerate() {
            self.stats.groups_scored += 1;
            match uniform_reward(values) {
                Some(common) if values.len() > 1 => {
                    self.stats.groups_dropped += 1;
                    *self
                        .stats
                        .dropped_by_reward
                        .entry(format!("{common:.4}"))
                        .or_insert(0) += 1;
                    outcome.dropped.push(position);
                }
                _ => {
                    self.stats.groups_kept += 1;
                    outcome.kept.push((group, values.clone()));
                }
            }
        }
        if replace {
            for _ in 0..outcome.dropped.len() {
                outcome.replacements.push(self.draw()?);
                self.stats.replacements_drawn += 1;
            }
        }
        Ok(outcome)
    }
}

/// The common value when every reward is exactly equal (bitwise float equality), else `None`.
pub fn uniform_reward(values: &[f32]) -> Option<f32> {
    let first = *values.first()?;
    values.iter().all(|value| *value == first).then_some(first)
}
