//! Datasets on disk: the generic JSONL task format and the medical VQA benchmarks in the layouts
//! users download, loaded into [`Dataset`]s and served as [`crate::TaskFamily`]s.

mod benchmarks;
mod jsonl;
mod parquet_rows;
mod prompt;
mod record;
mod registry;
mod task;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use medgym_rewards::AnswerType;

use crate::error::EnvError;
use crate::types::Split;

pub use prompt::{render_prompt, PromptLanguage, PromptStyle};
pub use record::DataRecord;
pub use registry::{
    benchmark_task_ids, read_tasks_file, resolve_task, set_dataset_root, DATA_ROOT_ENV,
    TASKS_FILE_ENV,
};
pub use task::{DatasetTask, Subset};

/// What a loader does with a bad row: stop with its error, or skip it and report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Stop at the first problem and return it as the error.
    #[default]
    Fail,
    /// Skip bad rows; each is recorded in [`Dataset::problems`].
    Skip,
}

impl FromStr for OnError {
    type Err = EnvError;

    fn from_str(text: &str) -> Result<Self, EnvError> {
        match text {
            "fail" => Ok(Self::Fail),
            "skip" => Ok(Self::Skip),
            other => Err(EnvError::DataConfig(format!(
                "on_error must be `fail` or `skip`, got `{other}`"
            ))),
        }
    }
}

/// A supported benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Benchmark {
    /// VQA-RAD: Hugging Face parquet, or the original JSON release with its image folder.
    VqaRad,
    /// SLAKE: train/validation/test JSON lists plus `imgs/`.
    Slake,
    /// PathVQA: Hugging Face parquet with embedded images.
    PathVqa,
    /// PMC-VQA: CSV (v1 or v2 column layout) plus an image folder.
    PmcVqa,
    /// OmniMedVQA: `QA_information/Open-access/*.json` plus `Images/`.
    OmniMedVqa,
    /// MMMU Health & Medicine subjects: Hugging Face parquet per subject.
    Mmmu,
    /// MedXpertQA multimodal: `MM/{dev,test}.jsonl` plus `images/`.
    MedXpertQa,
}

impl Benchmark {
    /// Every benchmark.
    pub const ALL: [Benchmark; 7] = [
        Self::VqaRad,
        Self::Slake,
        Self::PathVqa,
        Self::PmcVqa,
        Self::OmniMedVqa,
        Self::Mmmu,
        Self::MedXpertQa,
    ];

    /// The name used on the command line, in task ids and as the folder under a dataset root.
    pub fn name(self) -> &'static str {
        match self {
            Self::VqaRad => "vqa-rad",
            Self::Slake => "slake",
            Self::PathVqa => "path-vqa",
            Self::PmcVqa => "pmc-vqa",
            Self::OmniMedVqa => "omnimedvqa",
            Self::Mmmu => "mmmu-med",
            Self::MedXpertQa => "medxpertqa-mm",
        }
    }
}

impl fmt::Display for Benchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dataset format: the generic JSONL task format or one benchmark's native layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// One JSON object per line (see README "Datasets").
    Jsonl,
    /// A benchmark's own files.
    Benchmark(Benchmark),
}

impl FromStr for DataFormat {
    type Err = EnvError;

    fn from_str(text: &str) -> Result<Self, EnvError> {
        if text == "jsonl" {
            return Ok(Self::Jsonl);
        }
        Benchmark::ALL
            .iter()
            .find(|benchmark| benchmark.name() == text)
            .map(|benchmark| Self::Benchmark(*benchmark))
            .ok_or_else(|| {
                let names: Vec<&str> = Benchmark::ALL.iter().map(|b| b.name()).collect();
                EnvError::DataConfig(format!(
                    "unknown format `{text}`; known: jsonl, {}",
                    names.join(", ")
                ))
            })
    }
}

/// How to load a dataset: where it is, its format, which split and language, prompts, bad rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchmarkConfig {
    /// The JSONL file, or the benchmark's root folder.
    pub root: PathBuf,
    /// The format of the files under `root`.
    pub format: DataFormat,
    /// Only this split (`None`: every split the files provide).
    pub split: Option<Split>,
    /// Only rows with this question language (SLAKE `q_lang`, e.g. "en"); `None`: all.
    pub q_lang: Option<String>,
    /// How questions are turned into prompts.
    pub prompt_style: PromptStyle,
    /// What to do with bad rows.
    pub on_error: OnError,
}

impl BenchmarkConfig {
    /// A configuration with every split, every language, MedEvalKit prompts and `fail` on bad rows.
    pub fn new(root: impl Into<PathBuf>, format: DataFormat) -> Self {
        Self {
            root: root.into(),
            format,
            split: None,
            q_lang: None,
            prompt_style: PromptStyle::default(),
            on_error: OnError::Fail,
        }
    }

    /// Loads the dataset this configuration describes.
    pub fn load(&self) -> Result<Dataset, EnvError> {
        let mut sink = Sink::new(self.on_error);
        match self.format {
            DataFormat::Jsonl => jsonl::load(self, &mut sink)?,
            DataFormat::Benchmark(benchmark) => benchmarks::load(benchmark, self, &mut sink)?,
        }
        let mut records = sink.records;
        if let Some(split) = self.split {
            records.retain(|record| record.split == split);
        }
        if let Some(lang) = &self.q_lang {
            records.retain(|record| record.language.as_deref().is_none_or(|l| l == lang));
        }
        Ok(Dataset {
            source: self.root.display().to_string(),
            records,
            problems: sink.problems,
        })
    }
}

/// One bad row, line or field found while loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file holding the bad data.
    pub file: String,
    /// "line N" or "row N" (or "file" when the whole file is unreadable).
    pub location: String,
    /// The offending field.
    pub field: String,
    /// What went wrong.
    pub reason: String,
}

impl Problem {
    /// The problem an error describes (file-level errors get location "file").
    pub fn from_error(error: EnvError, file: &str) -> Self {
        match error {
            EnvError::BadData {
                file,
                location,
                field,
                reason,
            } => Self {
                file,
                location,
                field,
                reason,
            },
            EnvError::Image { origin, reason } => Self {
                file: file.to_string(),
                location: "file".into(),
                field: "image".into(),
                reason: format!("{origin}: {reason}"),
            },
            other => Self {
                file: file.to_string(),
                location: "file".into(),
                field: "-".into(),
                reason: other.to_string(),
            },
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: field `{}`: {}",
            self.file, self.location, self.field, self.reason
        )
    }
}

/// Collects records and, in `skip` mode, problems; in `fail` mode the first problem is returned.
pub(crate) struct Sink {
    on_error: OnError,
    records: Vec<DataRecord>,
    problems: Vec<Problem>,
}

impl Sink {
    fn new(on_error: OnError) -> Self {
        Self {
            on_error,
            records: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Keeps a record, or handles its error according to the mode.
    pub(crate) fn push(
        &mut self,
        record: Result<DataRecord, EnvError>,
        file: &str,
    ) -> Result<(), EnvError> {
        match record {
            Ok(record) => {
                self.records.push(record);
                Ok(())
            }
            Err(error) => self.problem(error, file),
        }
    }

    /// Reads `path` with `read`; a failed read is handled like `problem` and gives `None`.
    pub(crate) fn read_or_report<T>(
        &mut self,
        path: &Path,
        read: impl FnOnce(&Path) -> Result<T, EnvError>,
    ) -> Result<Option<T>, EnvError> {
        match read(path) {
            Ok(value) => Ok(Some(value)),
            Err(error) => {
                self.problem(error, &path.display().to_string())?;
                Ok(None)
            }
        }
    }

    /// Handles an error: returned in `fail` mode, recorded in `skip` mode.
    pub(crate) fn problem(&mut self, error: EnvError, file: &str) -> Result<(), EnvError> {
        match self.on_error {
            OnError::Fail => Err(error),
            OnError::Skip => {
                self.problems.push(Problem::from_error(error, file));
                Ok(())
            }
        }
    }
}

/// A loaded dataset: its records and the problems skipped while loading.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The file or folder it was loaded from.
    pub source: String,
    /// Every item that loaded, in file order.
    pub records: Vec<DataRecord>,
    /// Every skipped row with its reason (empty in `fail` mode).
    pub problems: Vec<Problem>,
}

impl Dataset {
    /// Number of records per split.
    pub fn counts_by_split(&self) -> BTreeMap<Split, usize> {
        let mut counts = BTreeMap::new();
        for record in &self.records {
            *counts.entry(record.split).or_insert(0) += 1;
        }
        counts
    }

    /// Number of records per answer type.
    pub fn counts_by_answer_type(&self) -> BTreeMap<AnswerType, usize> {
        let mut counts = BTreeMap::new();
        for record in &self.records {
            *counts.entry(record.reference.answer_type).or_insert(0) += 1;
        }
        counts
    }

    /// Fully decodes every image (each distinct file once); records whose images fail are
    /// removed and reported (`skip`) or the first failure is returned (`fail`).
    pub fn verify_images(&mut self, on_error: OnError) -> Result<(), EnvError> {
        let mut file_results: BTreeMap<PathBuf, Option<String>> = BTreeMap::new();
        let mut kept = Vec::with_capacity(self.records.len());
        for record in std::mem::take(&mut self.records) {
            let mut failure = None;
            for (position, image) in record.images.iter().enumerate() {
                let reason = match image {
                    crate::types::ItemImage::File { path } => file_results
                        .entry(path.clone())
                        .or_insert_with(|| crate::image::to_rgb(image).err().map(|e| e.to_string()))
                        .clone(),
                    other => crate::image::to_rgb(other).err().map(|e| e.to_string()),
                };
                if let Some(reason) = reason {
                    failure = Some(record.bad(&format!("images[{position}]"), &reason));
                    break;
                }
            }
            match failure {
                None => kept.push(record),
                Some(error) => match on_error {
                    OnError::Fail => {
                        self.records = kept;
                        return Err(error);
                    }
                    OnError::Skip => self.problems.push(Problem::from_error(error, &self.source)),
                },
            }
        }
        self.records = kept;
        Ok(())
    }
}
