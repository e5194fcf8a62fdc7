//! `medgym rollout`: sample a Hugging Face checkpoint on medgym tasks and score it with their
//! verifiable rewards.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use medgym_envs::{task_at, Split, TaskFamily};
use medgym_kernels::{CpuSampler, SamplingParams};
use medgym_policy::hf::{HfInput, HfModel, HfTokenizer, ResizeBounds};
use medgym_rollout::{HfPolicy, PromptJob, RolloutConfig, RolloutEngine, Trajectory};
use serde::Serialize;

use crate::commands::generate::{parse_device, Precision};
use crate::error::MedgymError;
use crate::Result;

/// The tasks rolled out when none is named: the pipeline's four built-in tasks.
const DEFAULT_TASKS: [&str; 4] = [
    "medsynth/lesion-presence-v1",
    "medsynth/lesion-count-v1",
    "medsynth/lesion-side-v1",
    "medsynth/modality-v1",
];

/// Arguments of `medgym rollout`.
#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// Checkpoint folder (config.json, safetensors, tokenizer.json with a chat template).
    #[arg(long)]
    pub model: PathBuf,
    /// Task id (repeatable); the four built-in `medsynth/*-v1` tasks when omitted.
    #[arg(long = "task")]
    pub tasks: Vec<String>,
    /// Items per task: positions `0..items` of the split's stream.
    #[arg(long, default_value_t = 16)]
    pub items: usize,
    /// Which split the items come from.
    #[arg(long, value_enum, default_value = "eval")]
    pub split: SplitChoice,
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

/// The split named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitChoice {
    /// Training items.
    Train,
    /// Held-out items.
    Eval,
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

/// Rolls out `model` on every task and summarises each; trajectories go to `sink` as JSON lines.
pub fn rollout(
    model: &HfModel,
    tokenizer: &HfTokenizer,
    bounds: ResizeBounds,
    args: &RolloutArgs,
    mut sink: Option<&mut dyn Write>,
) -> Result<Vec<TaskRollouts>> {
    if args.items == 0 {
        return Err(MedgymError::InvalidSetting {
            field: "--items".into(),
            reason: "roll out at least one item".into(),
        });
    }
    let sampler = CpuSampler;
    let engine = RolloutEngine::with_model(HfPolicy::new(model, tokenizer, bounds), &sampler);
    let config = RolloutConfig {
        group_size: args.group_size,
        max_new_tokens: args.max_new_tokens,
        sampling: SamplingParams::new(args.temperature, 0, args.top_p),
        seed: args.seed,
        sequence_offset: 0,
        workers: args.workers,
        rows_per_chunk: args.rows_per_chunk,
    };
    let names: Vec<&str> = if args.tasks.is_empty() {
        DEFAULT_TASKS.to_vec()
    } else {
        args.tasks.iter().map(String::as_str).collect()
    };
    let split = match args.split {
        SplitChoice::Train => Split::Train,
        SplitChoice::Eval => Split::Eval,
    };
    let mut summaries = Vec::with_capacity(names.len());
    for name in names {
        let task: Arc<dyn TaskFamily> = task_at(name, None)?;
        let jobs = (0..args.items as u64)
            .map(|index| {
                let item = task.item(split, args.seed, index)?;
                Ok(PromptJob {
                    task: task.clone(),
                    item,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = engine.run(&jobs, &config)?;
        if let Some(sink) = sink.as_deref_mut() {
            write_lines(sink, &batch.trajectories)?;
        }
        summaries.push(summarise(
            name,
            &batch.trajectories,
            batch.timings.tokens_per_second,
        ));
    }
    Ok(summaries)
}

/// One JSON line per trajectory.
fn write_lines(sink: &mut dyn Write, trajectories: &[Trajectory<HfInput>]) -> Result<()> {
    for trajectory in trajectories {
        let line = serde_json::to_string(trajectory).map_err(|source| MedgymError::Json {
            what: format!("trajectory of {}", trajectory.item_id),
            source,
        })?;
        writeln!(sink, "{line}").map_err(|source| MedgymError::Io {
            path: "--out".into(),
            source,
        })?;
    }
    Ok(())
}

/// Accuracy, format rate, reward and length over one task's trajectories.
fn summarise(
    id: &str,
    trajectories: &[Trajectory<HfInput>],
    tokens_per_second: f64,
) -> TaskRollouts {
    let n = trajectories.len().max(1) as f64;
    let share = |hit: fn(&Trajectory<HfInput>) -> bool| {
        trajectories.iter().filter(|t| hit(t)).count() as f64 / n
    };
    TaskRollouts {
        id: id.to_string(),
        samples: trajectories.len(),
        accuracy: share(|t| t.breakdown.correct),
        format_rate: share(|t| t.breakdown.format_ok),
        mean_reward: trajectories
            .iter()
            .map(|t| f64::from(t.reward))
            .sum::<f64>()
            / n,
        mean_response_tokens: trajectories
            .iter()
            .map(|t| t.response_ids.len() as f64)
            .sum::<f64>()
            / n,
        tokens_per_second,
    }
}

/// Runs `medgym rollout`.
pub fn run(args: RolloutArgs) -> Result<()> {
    let device = parse_device(&args.device)?;
    let model = HfModel::load(&args.model, args.dtype.dtype(), &device)?;
    let tokenizer = HfTokenizer::from_dir(&args.model)?;
    let bounds = ResizeBounds::from_dir(&args.model)?;
    let mut file = match &args.out {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|source| MedgymError::Io {
                path: path.display().to_string(),
                source,
            })?,
        )),
        None => None,
    };
    let sink = file.as_mut().map(|writer| writer as &mut dyn Write);
    let summaries = rollout(&model, &tokenizer, bounds, &args, sink)?;
    if let Some(mut writer) = file {
        writer.flush().map_err(|source| MedgymError::Io {
            path: args
                .out
                .as_ref()
                .map_or_else(String::new, |p| p.display().to_string()),
            source,
        })?;
    }
    println!(
        "{:<32} {:>7} {:>8} {:>7} {:>7} {:>8} {:>9}",
        "task", "samples", "accuracy", "format", "reward", "tokens", "tokens/s"
    );
    for task in &summaries {
        println!(
            "{:<32} {:>7} {:>8.3} {:>7.3} {:>7.3} {:>8.1} {:>9.1}",
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
