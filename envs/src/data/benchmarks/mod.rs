//! Loaders for each benchmark's native layout.

mod medxpertqa;
mod mmmu;
mod omnimedvqa;
mod pmc_vqa;
mod slake;
mod vqa;

use std::path::{Path, PathBuf};

use super::record::split_from_name;
use super::{Benchmark, BenchmarkConfig, Sink};
use crate::error::EnvError;
use crate::types::Split;

/// Loads `benchmark` from the folder `config.root`.
pub(crate) fn load(
    benchmark: Benchmark,
    config: &BenchmarkConfig,
    sink: &mut Sink,
) -> Result<(), EnvError> {
    if !config.root.is_dir() {
        return Err(EnvError::DataConfig(format!(
            "{benchmark} root {} is not a folder",
            config.root.display()
        )));
    }
    let before = sink.records.len() + sink.problems.len();
    match benchmark {
        Benchmark::VqaRad => vqa::load_vqa_rad(config, sink)?,
        Benchmark::PathVqa => vqa::load_path_vqa(config, sink)?,
        Benchmark::Slake => slake::load(config, sink)?,
        Benchmark::PmcVqa => pmc_vqa::load(config, sink)?,
        Benchmark::OmniMedVqa => omnimedvqa::load(config, sink)?,
        Benchmark::Mmmu => mmmu::load(config, sink)?,
        Benchmark::MedXpertQa => medxpertqa::load(config, sink)?,
    }
    if sink.records.len() + sink.problems.len() == before {
        return Err(EnvError::DataConfig(format!(
            "no {benchmark} rows found under {}{} (see README \"Datasets\" for the expected layout)",
            config.root.display(),
            config.split.map(|split| format!(" for split {split}")).unwrap_or_default()
        )));
    }
    Ok(())
}

/// Files directly in `dir` whose name ends with `extension`, sorted.
pub(crate) fn files_with_extension(dir: &Path, extension: &str) -> Result<Vec<PathBuf>, EnvError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| EnvError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file() && path.to_string_lossy().ends_with(extension))
        .collect();
    files.sort();
    Ok(files)
}

/// Hugging Face parquet shards (`<split>-NNNNN-of-NNNNN*.parquet` or `<split>.parquet`) in `dir`
/// and its `data/` folder, with their splits; only `wanted` splits when given.
pub(crate) fn parquet_shards(
    dir: &Path,
    wanted: Option<Split>,
) -> Result<Vec<(PathBuf, Split)>, EnvError> {
    let mut shards = Vec::new();
    for folder in [dir.to_path_buf(), dir.join("data")] {
        for path in files_with_extension(&folder, ".parquet")? {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let split_name = name.split(['-', '.']).next().unwrap_or_default();
            if let Some(split) = split_from_name(split_name) {
                if wanted.is_none_or(|w| w == split) {
                    shards.push((path, split));
                }
            }
        }
    }
    Ok(shards)
}

/// The first of `names` that exists under `root`.
pub(crate) fn first_existing(root: &Path, names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .map(|name| root.join(name))
        .find(|path| path.exists())
}
