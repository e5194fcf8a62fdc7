//! The registry of built-in environments.

use std::sync::Arc;

use crate::config::EnvConfig;
use crate::env::{Env, SingleTurnEnv};
use crate::error::EnvError;
use crate::medsynth::{MedsynthKind, MedsynthTask};
use crate::multiturn::ReflectionEnv;
use crate::task::TaskFamily;
use crate::types::EnvSpec;

/// Every built-in task, sorted by id.
fn builtin_tasks() -> Vec<Arc<dyn TaskFamily>> {
    let mut tasks: Vec<Arc<dyn TaskFamily>> = MedsynthKind::ALL
        .iter()
        .map(|kind| Arc::new(MedsynthTask::new(*kind)) as Arc<dyn TaskFamily>)
        .chain(crate::procedural::default_tasks())
        .collect();
    tasks.sort_by(|a, b| a.spec().id.cmp(&b.spec().id));
    tasks
}

/// Specs of every built-in environment, sorted by id.
pub fn list() -> Vec<EnvSpec> {
    builtin_tasks()
        .iter()
        .map(|task| task.spec().clone())
        .collect()
}

/// The built-in task with this id; an unknown id yields an error listing the known ids.
pub fn task(id: &str) -> Result<Arc<dyn TaskFamily>, EnvError> {
    let tasks = builtin_tasks();
    if let Some(found) = tasks.iter().find(|task| task.spec().id == id) {
        return Ok(Arc::clone(found));
    }
    if let Some(found) = crate::data::resolve_task(id)? {
        return Ok(found);
    }
    let known: Vec<String> = tasks.iter().map(|task| task.spec().id.clone()).collect();
    Err(EnvError::UnknownEnv {
        id: id.to_string(),
        known: known.join(", "),
    })
}

/// The task `id` at `difficulty` (its default level when `None`).
pub fn task_at(id: &str, difficulty: Option<u8>) -> Result<Arc<dyn TaskFamily>, EnvError> {
    let found = task(id)?;
    match difficulty {
        Some(level) => found.with_difficulty(level),
        None => Ok(found),
    }
}

/// A fresh environment over the task `id`: single-turn, or a reflection episode when
/// `config.max_turns > 1`. A bare [`Split`](crate::Split) converts into the default config on that split.
pub fn make(id: &str, config: impl Into<EnvConfig>) -> Result<Box<dyn Env>, EnvError> {
    let config = config.into();
    config.validate()?;
    let task = task_at(id, config.difficulty)?;
    if config.max_turns > 1 {
        Ok(Box::new(ReflectionEnv::new(task, &config)?))
    } else {
        Ok(Box::new(SingleTurnEnv::new(task, config.split)))
    }
}

/// The four version-1 medsynth tasks: what `medgym pipeline` trains on and the built-in tokenizer is built from.
pub const MEDSYNTH_V1_TASK_IDS: [&str; 4] = [
    "medsynth/lesion-count-v1",
    "medsynth/lesion-presence-v1",
    "medsynth/lesion-side-v1",
    "medsynth/modality-v1",
];

/// [`MEDSYNTH_V1_TASK_IDS`] as owned strings.
pub fn medsynth_v1_task_ids() -> Vec<String> {
    MEDSYNTH_V1_TASK_IDS
        .iter()
        .map(|id| id.to_string())
        .collect()
}

/// Ids of every built-in (procedural) task, sorted.
pub fn builtin_task_ids() -> Vec<String> {
    builtin_tasks()
        .iter()
        .map(|task| task.spec().id.clone())
        .collect()
}
