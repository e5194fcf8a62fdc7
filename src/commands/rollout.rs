//! `medgym rollout`: sample a Hugging Face checkpoint on medgym tasks and score it with their
//! verifiable rewards.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use medgym_envs::Split;
use medgym_kernels::CpuSampler;
use medgym_policy::hf::HfInput;
use medgym_rollout::{
    HfPolicy, PromptJob, RolloutConfig, RolloutEngine, Trajectory, TrajectoryRates,
};
use medgym_train::data::job;
use serde::Serialize;

use crate::commands::checks::{
    at_least_one, hf_policy, io_error, load_checkpoint, sampling, tasks,
};
use crate::commands::envs::SplitArg;
use crate::commands::generate::Precision;
use crate::error::MedgymError;
use crate::Result;

/// Arguments of `medgym rollout`.
#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// Checkpoint folder (config.json, safetensors, tokenizer.json with a chat template).
    #[arg(long)]
    pub model: PathBuf,
    /// Task id (repeatable); the pipeline's four `medsynth/*-v1` tasks when omitted.
    #[arg(long = "task")]
    pub tasks: Vec<String>,
    /// Items per task: positions `0..items` of the split's stream.
    #[arg(long, default_value_t = 16)]
    pub items: usize,
    /// Which split the items come from.
    #[arg(long, value_enum, default_value = "eval")]
    pub split: SplitArg,
    /// Stream seed of the items, and seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Samples per item.
    #[arg(long, default_value_t = 1)]
    pub group_size: usize,
    /// Longest response in tokens.
    #[arg(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Nucleus mass (1 disables it).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Worker threads, each generating its own batch.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Sequences generated together in one batch.
    #[arg(long, default_value_t = 32)]
    pub rows_per_chunk: usize,
    /// Where the model runs: `cpu`, or `cuda` / `cuda:N` (a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Weight and activation precision.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub dtype: Precision,
    /// Write every trajectory (response, log-probs, reward breakdown) as one JSON line here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What one task's rollouts scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRollouts {
    /// Task id.
    pub id: String,
    /// Trajectories (items × samples).
    pub samples: usize,
    /// Fraction whose answer verified.
    pub accuracy: f64,
    /// Fraction in the think/answer format.
    pub format_rate: f64,
    /// Mean reward.
    pub mean_reward: f64,
    /// Mean generated tokens.
    pub mean_response_tokens: f64,
    /// Generated tokens per wall-clock second.
    pub tokens_per_second: f64,
}

/// The settings `args` give, checked before anything is loaded; each refusal names its flag.
pub fn rollout_config(args: &RolloutArgs) -> Result<RolloutConfig> {
    at_least_one(&[
        ("--items", args.items),
        ("--group-size", args.group_size),
        ("--max-new-tokens", args.max_new_tokens),
        ("--workers", args.workers),
        ("--rows-per-chunk", args.rows_per_chunk),
    ])?;
    let sampling = sampling(args.temperature, args.top_p)?;
    Ok(RolloutConfig {
        group_size: args.group_size,
        max_new_tokens: args.max_new_tokens,
        sampling,
        seed: args.seed,
        sequence_offset: 0,
        workers: args.workers,
        rows_per_chunk: args.rows_per_chunk,
    })
}

/// Every named task's items (`0..items` of the split, at `seed`), resolved before any rollout.
pub fn task_jobs(args: &RolloutArgs) -> Result<Vec<(String, Vec<PromptJob>)>> {
    let split = Split::from(args.split);
    tasks(&args.tasks)?
        .into_iter()
        .map(|task| {
            let jobs = (0..args.items as u64)
                .map(|index| job(&task, split, args.seed, index))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok((task.spec().id.clone(), jobs))
        })
        .collect()
}

/// Rolls out `policy` on every task's jobs and summarises each; trajectories go to `sink` as
/// JSON lines (`sink_path` names it in errors).
pub fn rollout(
    policy: HfPolicy<'_>,
    tasks: &[(String, Vec<PromptJob>)],
    config: &RolloutConfig,
    mut sink: Option<(&mut dyn Write, &Path)>,
) -> Result<Vec<TaskRollouts>> {
    let sampler = CpuSampler;
    let engine = RolloutEngine::with_model(policy, &sampler);
    let mut summaries = Vec::with_capacity(tasks.len());
    for (name, jobs) in tasks {
        let batch = engine.run(jobs, config)?;
        if let Some((writer, path)) = sink.as_mut() {
            write_lines(&mut **writer, path, &batch.trajectories)?;
        }
        summaries.push(summarise(
            name,
            &batch.trajectories,
            batch.timings.tokens_per_second,
        ));
    }
    Ok(summaries)
}

/// Trajectories of a Hugging Face checkpoint.
type HfTrajectory = Trajectory<Arc<HfInput>>;

/// One JSON line per trajectory.
fn write_lines(sink: &mut dyn Write, path: &Path, trajectories: &[HfTrajectory]) -> Result<()> {
    for trajectory in trajectories {
        let line = serde_json::to_string(trajectory).map_err(|source| MedgymError::Json {
            what: format!("trajectory of {}", trajectory.item_id),
            source,
        })?;
        writeln!(sink, "{line}").map_err(io_error(path))?;
    }
    Ok(())
}

/// Accuracy, format rate, reward and length over one task's trajectories.
fn summarise(id: &str, trajectories: &[HfTrajectory], tokens_per_second: f64) -> TaskRollouts {
    let rates = TrajectoryRates::of(trajectories);
    TaskRollouts {
        id: id.to_string(),
        samples: trajectories.len(),
        accuracy: rates.accuracy,
        format_rate: rates.format_rate,
        mean_reward: rates.mean_reward,
        mean_response_tokens: trajectories
            .iter()
            .map(|t| t.response_ids.len() as f64)
            .sum::<f64>()
            / trajectories.len().max(1) as f64,
        tokens_per_second,
    }
}

/// Runs `medgym rollout`.
pub fn run(args: RolloutArgs) -> Result<()> {
    let config = rollout_config(&args)?;
    let tasks = task_jobs(&args)?;
    let (model, tokenizer, bounds) =
        load_checkpoint(&args.model, &args.device, args.dtype.dtype())?;
    let policy = hf_policy(&model, &tokenizer, bounds, &args.model)?;
    let summaries = match &args.out {
        // Written beside the target and renamed at the end, so a failed run leaves it untouched.
        Some(path) => {
            let partial = path.with_extension("jsonl.partial");
            let mut writer = std::io::BufWriter::new(
                std::fs::File::create(&partial).map_err(io_error(&partial))?,
            );
            let summaries = rollout(policy, &tasks, &config, Some((&mut writer, &partial)));
            let summaries = match summaries {
                Ok(summaries) => summaries,
                Err(err) => {
                    drop(writer);
                    // The partial file is of no use; failing to remove it changes nothing.
                    let _ = std::fs::remove_file(&partial);
                    return Err(err);
                }
            };
            writer.flush().map_err(io_error(&partial))?;
            drop(writer);
            std::fs::rename(&partial, path).map_err(io_error(path))?;
            summaries
        }
        None => rollout(policy, &tasks, &config, None)?,
    };
    let width = summaries
        .iter()
        .map(|task| task.id.len())
        .max()
        .unwrap_or(0)
        .max("task".len());
    println!(
        "{:<width$} {:>7} {:>8} {:>7} {:>7} {:>8} {:>9}",
        "task", "samples", "accuracy", "format", "reward", "tokens", "tokens/s"
    );
    for task in &summaries {
        println!(
            "{:<width$} {:>7} {:>8.3} {:>7.3} {:>7.3} {:>8.1} {:>9.1}",
            task.id,
            task.samples,
            task.accuracy,
            task.format_rate,
            task.mean_reward,
            task.mean_response_tokens,
            task.tokens_per_second
        );
    }
    Ok(())
}
