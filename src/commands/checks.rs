//! Checks shared by the commands that load a checkpoint: each refusal names its flag.

use medgym_envs::MEDSYNTH_V1_TASK_IDS;
use medgym_kernels::SamplingParams;

use crate::error::MedgymError;
use crate::Result;

/// Refuses the first count that is 0, naming its flag.
pub fn at_least_one(counts: &[(&str, usize)]) -> Result<()> {
    match counts.iter().find(|(_, value)| *value == 0) {
        Some((flag, _)) => Err(MedgymError::InvalidSetting {
            field: (*flag).into(),
            reason: "must be at least 1".into(),
        }),
        None => Ok(()),
    }
}

/// Sampling at `temperature` with nucleus mass `top_p`, refused by flag when out of range.
pub fn sampling(temperature: f32, top_p: f32) -> Result<SamplingParams> {
    let params = SamplingParams::new(temperature, 0, top_p);
    params
        .validate()
        .map_err(|err| MedgymError::InvalidSetting {
            field: format!("--temperature {temperature} / --top-p {top_p}"),
            reason: err.to_string(),
        })?;
    Ok(params)
}

/// The named task ids, or the pipeline's four `medsynth/*-v1` tasks when none is named.
pub fn task_ids(named: &[String]) -> Vec<String> {
    if named.is_empty() {
        MEDSYNTH_V1_TASK_IDS
            .iter()
            .map(|id| id.to_string())
            .collect()
    } else {
        named.to_vec()
    }
}
