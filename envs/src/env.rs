//! The Gymnasium-shaped environment trait and its single-turn implementation.

use std::sync::Arc;

use serde_json::Value;

use crate::error::EnvError;
use crate::task::TaskFamily;
use crate::types::{EnvSpec, Info, Message, Observation, Role, Split, StepResult, TaskItem};

/// Gymnasium-shaped environment.
pub trait Env: Send {
    /// Static description of the environment.
    fn spec(&self) -> &EnvSpec;

    /// Some(seed) restarts the item stream at (seed, index 0); None continues with the next index. Returns the observation and info (item id, task id, split, index).
    fn reset(&mut self, seed: Option<u64>) -> Result<(Observation, Info), EnvError>;

    /// Score the action text; single-turn, so terminated = true. Step before reset or after termination → EnvError.
    fn step(&mut self, action: &str) -> Result<StepResult, EnvError>;

    /// The item of the current episode, once `reset` has been called (for checkers and tools).
    fn current_item(&self) -> Option<&TaskItem> {
        None
    }
}

/// Single-turn env over a TaskFamily and a split.
#[derive(Clone)]
pub struct SingleTurnEnv {
    stream: ItemStream,
    current: Option<TaskItem>,
    terminated: bool,
}

impl std::fmt::Debug for SingleTurnEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleTurnEnv")
            .field("task", &self.stream.task.spec().id)
            .field("split", &self.stream.split)
            .field("seed", &self.stream.seed)
            .field("next_index", &self.stream.next_index)
            .field("current", &self.current.as_ref().map(|item| &item.id))
            .field("terminated", &self.terminated)
            .finish()
    }
}

impl SingleTurnEnv {
    /// An environment over `task`'s `split` stream, starting at seed 0, index 0.
    pub fn new(task: Arc<dyn TaskFamily>, split: Split) -> Self {
        Self {
            stream: ItemStream::new(task, split),
            current: None,
            terminated: false,
        }
    }

    /// The split this environment draws from.
    pub fn split(&self) -> Split {
        self.stream.split
    }

    /// The task family behind this environment.
    pub fn task(&self) -> &Arc<dyn TaskFamily> {
        &self.stream.task
    }
}

/// A task family's item stream over one split, with the seed and the next index to draw.
#[derive(Clone)]
pub(crate) struct ItemStream {
    /// The task family the items come from.
    pub(crate) task: Arc<dyn TaskFamily>,
    /// The split drawn from.
    pub(crate) split: Split,
    /// The seed of the current stream.
    pub(crate) seed: u64,
    /// The index the next episode draws.
    pub(crate) next_index: u64,
}

impl ItemStream {
    /// A stream over `task`'s `split`, starting at seed 0, index 0.
    pub(crate) fn new(task: Arc<dyn TaskFamily>, split: Split) -> Self {
        Self {
            task,
            split,
            seed: 0,
            next_index: 0,
        }
    }

    /// Draws the next item (restarting at (`restart_seed`, index 0) when given) with its observation and info.
    pub(crate) fn start_episode(
        &mut self,
        restart_seed: Option<u64>,
    ) -> Result<(TaskItem, Observation, Info), EnvError> {
        if let Some(seed) = restart_seed {
            self.seed = seed;
            self.next_index = 0;
        }
        let index = self.next_index;
        let item = self.task.item(self.split, self.seed, index)?;
        self.next_index = index.saturating_add(1);
        let observation = self.task.observation(&item);
        let info = item_info(&item);
        Ok((item, observation, info))
    }
}

/// The info map describing an item: id, task id, split, seed and index.
pub(crate) fn item_info(item: &TaskItem) -> Info {
    let mut info = Info::new();
    info.insert("item_id".into(), Value::from(item.id.clone()));
    info.insert("task_id".into(), Value::from(item.task_id.clone()));
    info.insert("split".into(), Value::from(item.split.name()));
    info.insert("seed".into(), Value::from(item.seed));
    info.insert("index".into(), Value::from(item.index));
    info
}

impl Env for SingleTurnEnv {
    fn spec(&self) -> &EnvSpec {
        self.stream.task.spec()
    }

    fn current_item(&self) -> Option<&TaskItem> {
        self.current.as_ref()
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<(Observation, Info), EnvError> {
        let (item, observation, info) = self.stream.start_episode(seed)?;
        self.current = Some(item);
        self.terminated = false;
        Ok((observation, info))
    }

    fn step(&mut self, action: &str) -> Result<StepResult, EnvError> {
        let item = self.current.as_ref().ok_or(EnvError::StepBeforeReset)?;
        if self.terminated {
            return Err(EnvError::StepAfterTermination);
        }
        let breakdown = self.stream.task.score(item, action);
        let mut observation = self.stream.task.observation(item);
        observation
            .messages
            .push(Message::text(Role::Assistant, action));
        let mut info = item_info(item);
        info.insert("correct".into(), Value::from(breakdown.correct));
        info.insert("format_ok".into(), Value::from(breakdown.format_ok));
        info.insert(
            "reference_answer".into(),
            Value::from(item.reference.answer().to_owned()),
        );
        self.terminated = true;
        Ok(StepResult {
            observation,
            reward: breakdown.total,
            breakdown,
            terminated: true,
            truncated: false,
            info,
        })
    }
}
