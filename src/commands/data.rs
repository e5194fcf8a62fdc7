//! `medgym data`: checks a dataset (generic JSONL or a benchmark's native layout) and summarises it.

use std::io::Write;
use std::path::PathBuf;

use medgym_envs::data::{BenchmarkConfig, DataFormat, Dataset, OnError, PromptStyle};
use medgym_envs::Split;

use crate::{MedgymError, Result};

/// Arguments of `medgym data`.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DataCommand,
}

/// `medgym data` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Load a dataset, decode its images and report items, counts and every problem.
    Check(CheckArgs),
}

/// Arguments of `medgym data check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The JSONL file, or the benchmark's root folder.
    pub path: PathBuf,
    /// `jsonl` or a benchmark: vqa-rad, slake, path-vqa, pmc-vqa, omnimedvqa, mmmu-med, medxpertqa-mm.
    #[arg(long)]
    pub format: String,
    /// `fail` stops at the first problem; `skip` skips bad rows and lists each one.
    #[arg(long, default_value = "fail")]
    pub on_error: String,
    /// Only this split (`train` or `test`).
    #[arg(long)]
    pub split: Option<String>,
    /// Only questions in this language (SLAKE `q_lang`, e.g. `en`).
    #[arg(long)]
    pub q_lang: Option<String>,
    /// Prompt template: medevalkit, medevalkit-boxed or plain.
    #[arg(long, default_value = "medevalkit")]
    pub prompt_style: String,
    /// Only check that image files exist (skip decoding every image).
    #[arg(long)]
    pub no_decode: bool,
}

/// Runs `medgym data`.
pub fn run(args: DataArgs) -> Result<()> {
    match args.command {
        DataCommand::Check(check_args) => check(check_args),
    }
}

fn check(args: CheckArgs) -> Result<()> {
    let format: DataFormat = args.format.parse()?;
    let on_error: OnError = args.on_error.parse()?;
    let mut config = BenchmarkConfig::new(&args.path, format);
    config.on_error = on_error;
    config.q_lang = args.q_lang.clone();
    config.prompt_style = args.prompt_style.parse::<PromptStyle>()?;
    config.split = match args.split.as_deref() {
        None => None,
        Some("train") => Some(Split::Train),
        Some("test" | "eval") => Some(Split::Eval),
        Some(other) => {
            return Err(MedgymError::InvalidSetting {
                field: "split".into(),
                reason: format!("expected train or test, got `{other}`"),
            })
        }
    };
    let started = std::time::Instant::now();
    let mut dataset = config.load()?;
    if !args.no_decode {
        dataset.verify_images(on_error)?;
    }
    let report = render_report(&dataset, &args, started.elapsed().as_secs_f64());
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(report.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|source| MedgymError::Io {
            path: "stdout".into(),
            source,
        })?;
    Ok(())
}

/// The summary `data check` prints: items, counts per split and answer type, every problem.
fn render_report(dataset: &Dataset, args: &CheckArgs, seconds: f64) -> String {
    let mut lines = vec![format!(
        "loaded {} items from {} (format {}) in {seconds:.2}s",
        dataset.records.len(),
        args.path.display(),
        args.format,
    )];
    for (split, count) in dataset.counts_by_split() {
        let name = if split == Split::Eval {
            "test"
        } else {
            split.name()
        };
        lines.push(format!("  split {name}: {count}"));
    }
    for (answer_type, count) in dataset.counts_by_answer_type() {
        lines.push(format!("  answer type {answer_type}: {count}"));
    }
    lines.push(format!("problems: {}", dataset.problems.len()));
    lines.extend(
        dataset
            .problems
            .iter()
            .map(|problem| format!("  {problem}")),
    );
    lines.join("\n") + "\n"
}
