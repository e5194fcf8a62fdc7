//! What the commands that load a checkpoint share: checks whose refusals name their flag, the
//! tasks they run, and the checkpoint itself.

use std::path::Path;
use std::sync::Arc;

use candle_core::DType;
use medgym_envs::{task_at, TaskFamily, MEDSYNTH_V1_TASK_IDS};
use medgym_kernels::SamplingParams;
use medgym_policy::hf::{HfModel, HfTokenizer, ResizeBounds};
use medgym_rollout::HfPolicy;

use crate::commands::generate::parse_device;
use crate::error::MedgymError;
use crate::Result;

/// A refused setting, naming its flag.
pub fn invalid(field: &str, reason: String) -> MedgymError {
    MedgymError::InvalidSetting {
        field: field.into(),
        reason,
    }
}

/// A failed read or write, naming its file.
pub fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> MedgymError + '_ {
    move |source| MedgymError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Refuses the first count that is 0, naming its flag.
pub fn at_least_one(counts: &[(&str, usize)]) -> Result<()> {
    match counts.iter().find(|(_, value)| *value == 0) {
        Some((flag, _)) => Err(invalid(flag, "must be at least 1".into())),
        None => Ok(()),
    }
}

/// Sampling at `temperature` with nucleus mass `top_p`, refused by flag when out of range.
pub fn sampling(temperature: f32, top_p: f32) -> Result<SamplingParams> {
    let params = SamplingParams::new(temperature, 0, top_p);
    params.validate().map_err(|err| {
        invalid(
            &format!("--temperature {temperature} / --top-p {top_p}"),
            err.to_string(),
        )
    })?;
    Ok(params)
}

/// The named tasks, or the pipeline's four `medsynth/*-v1` tasks when none is named; an unknown
/// id is refused by name.
pub fn tasks(named: &[String]) -> Result<Vec<Arc<dyn TaskFamily>>> {
    let ids: Vec<&str> = if named.is_empty() {
        MEDSYNTH_V1_TASK_IDS.to_vec()
    } else {
        named.iter().map(String::as_str).collect()
    };
    Ok(ids
        .into_iter()
        .map(|id| task_at(id, None))
        .collect::<std::result::Result<_, _>>()?)
}

/// A checkpoint folder loaded on `device` (as `--device` names it) in `dtype`, with its tokenizer
/// and the processor's resizing bounds.
pub fn load_checkpoint(
    dir: &Path,
    device: &str,
    dtype: DType,
) -> Result<(HfModel, HfTokenizer, ResizeBounds)> {
    let device = parse_device(device)?;
    Ok((
        HfModel::load(dir, dtype, &device)?,
        HfTokenizer::from_dir(dir)?,
        ResizeBounds::from_dir(dir)?,
    ))
}

/// The rollout model over a loaded checkpoint; a refusal names `--model DIR`.
pub fn hf_policy<'a>(
    model: &'a HfModel,
    tokenizer: &'a HfTokenizer,
    bounds: ResizeBounds,
    dir: &Path,
) -> Result<HfPolicy<'a>> {
    HfPolicy::new(model, tokenizer, bounds)
        .map_err(|err| invalid(&format!("--model {}", dir.display()), err.to_string()))
}
