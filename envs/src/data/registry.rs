//! Task ids for datasets: `jsonl:<path>`, names from a TOML tasks file, and benchmark ids such as
//! `vqa-rad/closed-v1` resolved under a dataset root.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use serde::Deserialize;

use super::task::{DatasetTask, Subset};
use super::{Benchmark, BenchmarkConfig, DataFormat, OnError, PromptStyle};
use crate::error::EnvError;
use crate::task::TaskFamily;

/// Environment variable naming the dataset root (benchmarks in `<root>/<benchmark name>/`).
pub const DATA_ROOT_ENV: &str = "MEDGYM_DATA_ROOT";
/// Environment variable naming a TOML tasks file (`[tasks.NAME] path = "..."`).
pub const TASKS_FILE_ENV: &str = "MEDGYM_TASKS";

/// Benchmark task ids: (id, benchmark, answer-type subset, question language).
const BENCHMARK_TASKS: [(&str, Benchmark, Subset, Option<&str>); 13] = [
    ("vqa-rad/all-v1", Benchmark::VqaRad, Subset::All, None),
    ("vqa-rad/closed-v1", Benchmark::VqaRad, Subset::Closed, None),
    ("vqa-rad/open-v1", Benchmark::VqaRad, Subset::Open, None),
    ("slake/all-v1", Benchmark::Slake, Subset::All, Some("en")),
    (
        "slake/closed-v1",
        Benchmark::Slake,
        Subset::Closed,
        Some("en"),
    ),
    ("slake/open-v1", Benchmark::Slake, Subset::Open, Some("en")),
    ("path-vqa/all-v1", Benchmark::PathVqa, Subset::All, None),
    (
        "path-vqa/closed-v1",
        Benchmark::PathVqa,
        Subset::Closed,
        None,
    ),
    ("path-vqa/open-v1", Benchmark::PathVqa, Subset::Open, None),
    ("pmc-vqa/mc-v1", Benchmark::PmcVqa, Subset::All, None),
    ("omnimedvqa/mc-v1", Benchmark::OmniMedVqa, Subset::All, None),
    ("mmmu-med/all-v1", Benchmark::Mmmu, Subset::All, None),
    (
        "medxpertqa-mm/mc-v1",
        Benchmark::MedXpertQa,
        Subset::All,
        None,
    ),
];

/// Every benchmark task id, in a fixed order.
pub fn benchmark_task_ids() -> Vec<&'static str> {
    BENCHMARK_TASKS.iter().map(|(id, ..)| *id).collect()
}

fn configured_root() -> &'static RwLock<Option<PathBuf>> {
    static ROOT: OnceLock<RwLock<Option<PathBuf>>> = OnceLock::new();
    ROOT.get_or_init(|| RwLock::new(None))
}

fn cache() -> &'static Mutex<HashMap<String, Arc<dyn TaskFamily>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<dyn TaskFamily>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Sets the dataset root for benchmark ids (takes precedence over `MEDGYM_DATA_ROOT`).
pub fn set_dataset_root(root: impl Into<PathBuf>) -> Result<(), EnvError> {
    let mut slot = configured_root()
        .write()
        .map_err(|_| EnvError::DataConfig("the dataset-root lock was poisoned".into()))?;
    *slot = Some(root.into());
    Ok(())
}

fn dataset_root() -> Result<Option<PathBuf>, EnvError> {
    let slot = configured_root()
        .read()
        .map_err(|_| EnvError::DataConfig("the dataset-root lock was poisoned".into()))?;
    Ok(slot
        .clone()
        .or_else(|| std::env::var_os(DATA_ROOT_ENV).map(PathBuf::from)))
}

/// One `[tasks.NAME]` entry of a tasks file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskEntry {
    path: PathBuf,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    split: Option<String>,
    #[serde(default)]
    q_lang: Option<String>,
    #[serde(default)]
    prompt_style: Option<String>,
    #[serde(default)]
    on_error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TasksFile {
    #[serde(default)]
    tasks: BTreeMap<String, TaskEntry>,
}

/// The configurations a TOML tasks file names (`path` relative to the file; `format` defaults to jsonl).
pub fn read_tasks_file(file: &Path) -> Result<BTreeMap<String, BenchmarkConfig>, EnvError> {
    let text = super::record::read_text(file)?;
    let parsed: TasksFile = toml::from_str(&text)
        .map_err(|error| EnvError::DataConfig(format!("{}: {error}", file.display())))?;
    let base = file.parent().unwrap_or(Path::new("."));
    parsed
        .tasks
        .into_iter()
        .map(|(name, entry)| {
            let context = |error: EnvError| {
                EnvError::DataConfig(format!("{} [tasks.{name}]: {error}", file.display()))
            };
            let format: DataFormat = entry
                .format
                .as_deref()
                .unwrap_or("jsonl")
                .parse()
                .map_err(context)?;
            let mut config = BenchmarkConfig::new(base.join(&entry.path), format);
            config.split = match entry.split.as_deref() {
                None => None,
                Some(name) => Some(super::record::split_from_name(name).ok_or_else(|| {
                    context(EnvError::DataConfig(format!("unknown split `{name}`")))
                })?),
            };
            config.q_lang = entry.q_lang;
            if let Some(style) = &entry.prompt_style {
                config.prompt_style = style.parse::<PromptStyle>().map_err(context)?;
            }
            if let Some(mode) = &entry.on_error {
                config.on_error = mode.parse::<OnError>().map_err(context)?;
            }
            Ok((name.clone(), config))
        })
        .collect()
}

fn build(id: &str) -> Result<Option<Arc<dyn TaskFamily>>, EnvError> {
    if let Some(path) = id.strip_prefix("jsonl:") {
        let dataset = BenchmarkConfig::new(path, DataFormat::Jsonl).load()?;
        let task = DatasetTask::new(
            id,
            &format!("JSONL tasks from {path}"),
            dataset,
            Subset::All,
        )?;
        return Ok(Some(Arc::new(task)));
    }
    if let Some((_, benchmark, subset, q_lang)) =
        BENCHMARK_TASKS.iter().find(|(known, ..)| *known == id)
    {
        let root = dataset_root()?.ok_or_else(|| {
            EnvError::DataConfig(format!(
                "task `{id}` needs a dataset root: set {DATA_ROOT_ENV} or call data::set_dataset_root"
            ))
        })?;
        let mut config = BenchmarkConfig::new(
            root.join(benchmark.name()),
            DataFormat::Benchmark(*benchmark),
        );
        config.q_lang = q_lang.map(String::from);
        let dataset = config.load()?;
        let task = DatasetTask::new(
            id,
            &format!("{benchmark} ({subset:?} answers)"),
            dataset,
            *subset,
        )?;
        return Ok(Some(Arc::new(task)));
    }
    if let Some(file) = std::env::var_os(TASKS_FILE_ENV) {
        if let Some(config) = read_tasks_file(Path::new(&file))?.remove(id) {
            let dataset = config.load()?;
            let description = format!("{} from {}", id, config.root.display());
            return Ok(Some(Arc::new(DatasetTask::new(
                id,
                &description,
                dataset,
                Subset::All,
            )?)));
        }
    }
    Ok(None)
}

/// The dataset task for `id` (`jsonl:<path>`, a benchmark id, or a tasks-file name), loaded once
/// and cached; `Ok(None)` when the id is none of these.
pub fn resolve_task(id: &str) -> Result<Option<Arc<dyn TaskFamily>>, EnvError> {
    let mut cached = cache()
        .lock()
        .map_err(|_| EnvError::DataConfig("the dataset task cache was poisoned".into()))?;
    if let Some(task) = cached.get(id) {
        return Ok(Some(Arc::clone(task)));
    }
    let built = build(id)?;
    if let Some(task) = &built {
        cached.insert(id.to_string(), Arc::clone(task));
    }
    Ok(built)
}
