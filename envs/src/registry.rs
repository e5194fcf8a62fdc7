//! The registry of built-in environments.

use std::sync::Arc;

use crate::env::{Env, SingleTurnEnv};
use crate::error::EnvError;
use crate::medsynth::{MedsynthKind, MedsynthTask};
use crate::task::TaskFamily;
use crate::types::{EnvSpec, Split};

/// Every built-in task, sorted by id.
fn builtin_tasks() -> Vec<Arc<dyn TaskFamily>> {
    let mut tasks: Vec<Arc<dyn TaskFamily>> = MedsynthKind::ALL
        .iter()
        .map(|kind| Arc::new(MedsynthTask::new(*kind)) as Arc<dyn TaskFamily>)
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

/// A fresh single-turn environment over the task `id` and `split`.
pub fn make(id: &str, split: Split) -> Result<Box<dyn Env>, EnvError> {
    Ok(Box::new(SingleTurnEnv::new(task(id)?, split)))
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
