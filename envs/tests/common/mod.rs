//! Helpers shared by the integration tests.

use std::sync::Arc;

use medgym_envs::{task, TaskFamily};

/// The four medsynth task ids of version 1.
pub const MEDSYNTH_IDS: [&str; 4] = [
    "medsynth/lesion-count-v1",
    "medsynth/lesion-presence-v1",
    "medsynth/lesion-side-v1",
    "medsynth/modality-v1",
];

/// Looks up a registered task, failing the test if it is missing.
pub fn get_task(id: &str) -> Arc<dyn TaskFamily> {
    task(id).unwrap_or_else(|error| panic!("task {id} should be registered: {error}"))
}
