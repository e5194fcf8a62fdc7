//! The environment checker: the Gymnasium-style contract every registered environment must keep.
//!
//! For each seed it checks that reset is deterministic (same seed → identical observation and
//! identical serialized bytes), that step before reset and after the end of an episode are
//! errors, that rewards stay in the declared range, that observations are well formed (image
//! indices in range, every image referenced, pixel buffers matching their sizes), that the
//! reference (and reflective) responses score as correct, and that a run of wrong answers ends
//! within `max_turns` steps.

use serde::Serialize;

use crate::config::EnvConfig;
use crate::env::Env;
use crate::error::EnvError;
use crate::registry::make;
use crate::types::{ContentPart, ItemImage, Observation, Role, StepResult};

/// Slack allowed on the declared reward range.
const RANGE_SLACK: f32 = 1e-6;
/// An answer no task accepts.
const WRONG_ANSWER: &str = "<think>guess</think><answer>zzz-not-an-answer</answer>";

/// What the checker verified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// The environment id.
    pub id: String,
    /// Seeds checked.
    pub seeds: Vec<u64>,
    /// Steps taken in total.
    pub steps: usize,
}

/// Runs every check on environment `id` built with `config`, once per seed.
pub fn check_env(
    id: &str,
    config: impl Into<EnvConfig>,
    seeds: &[u64],
) -> Result<CheckReport, EnvError> {
    let config = config.into();
    let mut report = CheckReport {
        id: id.to_string(),
        seeds: seeds.to_vec(),
        steps: 0,
    };
    for &seed in seeds {
        report.steps += check_seed(id, &config, seed)?;
    }
    Ok(report)
}

fn failure(id: &str, check: &str, reason: String) -> EnvError {
    EnvError::CheckFailed {
        id: id.to_string(),
        check: check.to_string(),
        reason,
    }
}

/// The observation as JSON bytes (in-memory pixels included).
fn observation_bytes(id: &str, observation: &Observation) -> Result<Vec<u8>, EnvError> {
    serde_json::to_vec(observation).map_err(|error| failure(id, "serialize", error.to_string()))
}

fn check_seed(id: &str, config: &EnvConfig, seed: u64) -> Result<usize, EnvError> {
    let mut first = make(id, *config)?;
    let mut second = make(id, *config)?;
    match first.step(WRONG_ANSWER) {
        Err(EnvError::StepBeforeReset) => {}
        other => {
            return Err(failure(
                id,
                "step_before_reset",
                format!("expected StepBeforeReset, got {other:?}"),
            ))
        }
    }
    let (observation, info) = first.reset(Some(seed))?;
    let (twin, twin_info) = second.reset(Some(seed))?;
    if observation != twin || info != twin_info {
        return Err(failure(
            id,
            "reset_determinism",
            format!("seed {seed}: two fresh environments differ"),
        ));
    }
    if observation_bytes(id, &observation)? != observation_bytes(id, &twin)? {
        return Err(failure(
            id,
            "reset_determinism",
            format!("seed {seed}: serialized observations differ"),
        ));
    }
    check_observation(id, &observation)?;
    let item = first
        .current_item()
        .cloned()
        .ok_or_else(|| failure(id, "current_item", "no item after reset".into()))?;
    let mut steps = 0;
    let result = first.step(&item.reference_response)?;
    steps += 1;
    check_step(id, first.as_ref(), &result)?;
    if !(result.terminated && result.breakdown.correct) {
        return Err(failure(
            id,
            "reference_response",
            format!(
                "item {}: reference response is not correct and terminal: {:?}",
                item.id, result.breakdown.outcome
            ),
        ));
    }
    expect_finished(id, first.as_mut())?;
    if let Some(reflective) = &item.reflective_response {
        first.reset(Some(seed))?;
        let result = first.step(reflective)?;
        steps += 1;
        if !result.breakdown.correct {
            return Err(failure(
                id,
                "reflective_response",
                format!(
                    "item {}: reflective response scores {:?}",
                    item.id, result.breakdown.outcome
                ),
            ));
        }
    }
    let max_turns = second.spec().max_turns;
    loop {
        let result = second.step(WRONG_ANSWER)?;
        steps += 1;
        check_step(id, second.as_ref(), &result)?;
        if result.terminated || result.truncated {
            break;
        }
        if steps > max_turns as usize + 2 {
            return Err(failure(
                id,
                "turn_limit",
                format!("episode still running after {max_turns} turns"),
            ));
        }
    }
    expect_finished(id, second.as_mut())?;
    let (again, _) = first.reset(Some(seed))?;
    if again != observation {
        return Err(failure(
            id,
            "reset_determinism",
            format!("seed {seed}: reset after an episode differs"),
        ));
    }
    Ok(steps)
}

fn expect_finished(id: &str, env: &mut dyn Env) -> Result<(), EnvError> {
    match env.step(WRONG_ANSWER) {
        Err(EnvError::StepAfterTermination) => Ok(()),
        other => Err(failure(
            id,
            "step_after_termination",
            format!("expected StepAfterTermination, got {other:?}"),
        )),
    }
}

fn check_step(id: &str, env: &dyn Env, result: &StepResult) -> Result<(), EnvError> {
    let (low, high) = env.spec().reward_range;
    if !(low - RANGE_SLACK..=high + RANGE_SLACK).contains(&result.reward) {
        return Err(failure(
            id,
            "reward_range",
            format!("reward {} outside [{low}, {high}]", result.reward),
        ));
    }
    check_observation(id, &result.observation)
}

/// Checks message structure, image indices and image buffers of one observation.
pub fn check_observation(id: &str, observation: &Observation) -> Result<(), EnvError> {
    if observation.messages.first().map(|message| message.role) != Some(Role::System) {
        return Err(failure(
            id,
            "observation",
            "the first message is not the system prompt".into(),
        ));
    }
    let mut referenced = vec![false; observation.images.len()];
    for message in &observation.messages {
        for part in &message.content {
            if let ContentPart::Image(index) = part {
                let slot = referenced.get_mut(*index).ok_or_else(|| {
                    failure(
                        id,
                        "image_index",
                        format!("image {index} of {}", observation.images.len()),
                    )
                })?;
                *slot = true;
            }
        }
    }
    if let Some(unused) = referenced.iter().position(|used| !used) {
        return Err(failure(
            id,
            "image_index",
            format!("image {unused} is never referenced"),
        ));
    }
    for (index, image) in observation.images.iter().enumerate() {
        let problem = match image {
            ItemImage::Scan(scan) => (scan.width == 0
                || scan.height == 0
                || scan.pixels.len() != scan.width as usize * scan.height as usize)
                .then(|| {
                    format!(
                        "scan {}x{} with {} bytes",
                        scan.width,
                        scan.height,
                        scan.pixels.len()
                    )
                }),
            ItemImage::Color(color) => (color.width == 0
                || color.height == 0
                || color.pixels.len() != color.width as usize * color.height as usize * 3)
                .then(|| {
                    format!(
                        "color image {}x{} with {} bytes",
                        color.width,
                        color.height,
                        color.pixels.len()
                    )
                }),
            ItemImage::File { path } => path
                .as_os_str()
                .is_empty()
                .then(|| "empty file path".to_string()),
            ItemImage::Encoded { bytes, origin } => {
                bytes.is_empty().then(|| format!("no bytes from {origin}"))
            }
        };
        if let Some(problem) = problem {
            return Err(failure(id, "image", format!("image {index}: {problem}")));
        }
    }
    Ok(())
}
