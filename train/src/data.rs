//! Deterministic item streams over several task families.

use std::sync::Arc;

use medgym_envs::{Split, TaskFamily};
use medgym_rollout::PromptJob;

use crate::error::TrainError;

/// Round-robin stream of items over tasks: position k → task `k % n`, index `k / n`.
#[derive(Clone)]
pub struct TaskStream {
    tasks: Vec<Arc<dyn TaskFamily>>,
    split: Split,
    seed: u64,
}

impl TaskStream {
    /// A stream over `tasks` (at least one) in `split` with `seed`.
    pub fn new(
        tasks: Vec<Arc<dyn TaskFamily>>,
        split: Split,
        seed: u64,
    ) -> Result<Self, TrainError> {
        if tasks.is_empty() {
            return Err(TrainError::InvalidArgument {
                what: "tasks".into(),
                reason: "no tasks given".into(),
            });
        }
        Ok(Self { tasks, split, seed })
    }

    /// Jobs at stream positions `start..start + count`.
    pub fn jobs(&self, start: u64, count: usize) -> Result<Vec<PromptJob>, TrainError> {
        let n = self.tasks.len() as u64;
        (start..start + count as u64)
            .map(|k| {
                let task = self.tasks[(k % n) as usize].clone();
                let item = task.item(self.split, self.seed, k / n).map_err(|e| {
                    TrainError::InvalidArgument {
                        what: format!("item {} of {}", k / n, task.spec().id),
                        reason: e.to_string(),
                    }
                })?;
                Ok(PromptJob { task, item })
            })
            .collect()
    }

    /// The tasks of the stream.
    pub fn tasks(&self) -> &[Arc<dyn TaskFamily>] {
        &self.tasks
    }
}
