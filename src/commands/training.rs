//! What `medgym sft` and `medgym grpo` share: the checkpoint to start from, what trains, and a
//! new output folder that is filled beside its place and renamed only when the run succeeds.

use candle_core::DType;
use medgym_envs::Split;
use medgym_policy::hf::{HfModel, HfTokenizer, LoraConfig, LoraInit, ResizeBounds};
use medgym_rollout::HfPolicy;
use medgym_train::optim::OptimizerConfig;
use medgym_train::{StepMetrics, TaskStream};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::commands::checks::{at_least_one, hf_policy, invalid, io_error, load_checkpoint, tasks};
use crate::error::MedgymError;
use crate::Result;

/// The flags every checkpoint-training command takes.
#[derive(Debug, clap::Args)]
pub struct TrainingArgs {
    /// Checkpoint folder to start from (config.json, safetensors, tokenizer with a chat template).
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the trained checkpoint (or adapter) and metrics.jsonl: a new or empty folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Task id (repeatable); the pipeline's four `medsynth/*-v1` tasks when omitted.
    #[arg(long = "task")]
    pub tasks: Vec<String>,
    /// Optimizer steps.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Learning rate (AdamW, constant, gradient norm clipped at 1); each command has its default.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Train rank-R LoRA adapters on every decoder projection of a frozen base (0: the weights).
    #[arg(long, default_value_t = 0)]
    pub lora_rank: usize,
    /// Also train the vision tower (frozen by default).
    #[arg(long)]
    pub train_vision: bool,
    /// Seed of the task items, the sampler and the adapters' initialisation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the model runs (in f32): `cpu`, or `cuda` / `cuda:N` (a build with the `cuda`
    /// feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl TrainingArgs {
    /// AdamW at the constant rate `--lr` (or `default`, checked positive) for `--steps` steps.
    pub fn optimizer(&self, default: f64) -> Result<OptimizerConfig> {
        let lr = self.lr.unwrap_or(default);
        if !(lr.is_finite() && lr > 0.0) {
            return Err(invalid("--lr", format!("{lr} is not a positive rate")));
        }
        Ok(OptimizerConfig {
            lr,
            total_steps: self.steps,
            min_lr_ratio: 1.0,
            ..OptimizerConfig::default()
        })
    }

    /// Checks the shared flags and `--out`, before anything is loaded or written.
    pub fn check(&self) -> Result<()> {
        at_least_one(&[("--steps", self.steps)])?;
        if self.lora_rank > 0 && self.train_vision {
            return Err(invalid(
                "--train-vision",
                "LoRA adapters attach to the decoder's projections of a frozen base: \
                 drop --lora-rank to train the vision tower"
                    .into(),
            ));
        }
        check_out(self)
    }

    /// The training stream over the tasks, in the train split at `--seed`.
    pub fn stream(&self) -> Result<TaskStream> {
        Ok(TaskStream::new(
            tasks(&self.tasks)?,
            Split::Train,
            self.seed,
        )?)
    }
}

/// Loads the checkpoint, trains it with `train` (given the policy and a metrics callback) into a
/// folder beside `--out`, saves it there and renames the folder to `--out` on success.
pub fn train_checkpoint(
    args: &TrainingArgs,
    train: impl FnOnce(&HfPolicy<'_>, &mut dyn FnMut(&StepMetrics)) -> Result<()>,
) -> Result<()> {
    let (model, tokenizer, bounds) = trainable_checkpoint(args)?;
    let policy = hf_policy(&model, &tokenizer, bounds, &args.model)?;
    let partial = partial_dir(&args.out)?;
    std::fs::create_dir_all(&partial).map_err(io_error(&partial))?;
    let result = train_into(&policy, &model, args, &partial, train);
    if result.is_err() {
        // The partial folder is of no use; failing to remove it changes nothing.
        let _ = std::fs::remove_dir_all(&partial);
        return result;
    }
    if args.out.exists() {
        // Checked empty before the run.
        std::fs::remove_dir(&args.out).map_err(io_error(&args.out))?;
    }
    std::fs::rename(&partial, &args.out).map_err(io_error(&args.out))?;
    println!("saved to {}", args.out.display());
    Ok(())
}

/// Trains, writing metrics.jsonl as it goes, then the checkpoint, into `dir`.
fn train_into(
    policy: &HfPolicy<'_>,
    model: &HfModel,
    args: &TrainingArgs,
    dir: &Path,
    train: impl FnOnce(&HfPolicy<'_>, &mut dyn FnMut(&StepMetrics)) -> Result<()>,
) -> Result<()> {
    let metrics_path = dir.join("metrics.jsonl");
    let mut metrics_file = std::io::BufWriter::new(
        std::fs::File::create(&metrics_path).map_err(io_error(&metrics_path))?,
    );
    let mut write_failure = None;
    let mut on_step = |metrics: &StepMetrics| {
        println!("{}", step_line(metrics));
        let line = serde_json::to_string(metrics).map(|line| writeln!(metrics_file, "{line}"));
        if let Err(err) = line
            .map_err(|e| e.to_string())
            .and_then(|w| w.map_err(|e| e.to_string()))
        {
            write_failure.get_or_insert(err);
        }
    };
    train(policy, &mut on_step)?;
    metrics_file.flush().map_err(io_error(&metrics_path))?;
    if let Some(reason) = write_failure {
        return Err(MedgymError::Io {
            path: metrics_path.display().to_string(),
            source: std::io::Error::other(reason),
        });
    }
    save(model, args, dir)
}

/// One printed line per step: the stage, loss and, in RL, the rollouts' reward and rates.
fn step_line(metrics: &StepMetrics) -> String {
    let rollouts = match (metrics.reward_mean, metrics.accuracy, metrics.format_rate) {
        (Some(reward), Some(accuracy), Some(format)) => {
            format!("  reward {reward:.3}  accuracy {accuracy:.3}  format {format:.3}")
        }
        _ => String::new(),
    };
    // A GRPO step whose groups all scored alike has no advantage to learn from.
    let loss = if metrics.loss.is_nan() {
        "none (equal rewards in every group)".to_string()
    } else {
        format!("{:.4}", metrics.loss)
    };
    format!(
        "{} step {:>4}  loss {loss}{rollouts}  {:.1} s",
        metrics.stage, metrics.step, metrics.seconds
    )
}

/// Loads the checkpoint and sets what trains: LoRA adapters on a frozen base, or the weights
/// (with the vision tower when asked).
fn trainable_checkpoint(args: &TrainingArgs) -> Result<(HfModel, HfTokenizer, ResizeBounds)> {
    let (mut model, tokenizer, bounds) = load_checkpoint(&args.model, &args.device, DType::F32)?;
    if args.lora_rank > 0 {
        model.freeze(|_| true)?;
        let lora = LoraConfig::all_projections(args.lora_rank, 2.0 * args.lora_rank as f64);
        model.add_lora(&lora, LoraInit::Standard { seed: args.seed })?;
    } else if args.train_vision {
        model.unfreeze(|_| true)?;
    }
    Ok((model, tokenizer, bounds))
}

/// Refuses an `--out` that is the source checkpoint or already holds files: nothing of an earlier
/// run or of the source is ever overwritten.
fn check_out(args: &TrainingArgs) -> Result<()> {
    let refuse = |reason: String| Err(invalid(&format!("--out {}", args.out.display()), reason));
    if let (Ok(out), Ok(source)) = (args.out.canonicalize(), args.model.canonicalize()) {
        if out == source {
            return refuse("is the checkpoint being trained: write elsewhere".into());
        }
    }
    if partial_dir(&args.out)?.exists() {
        return refuse(format!(
            "{} (where a run writes before it is renamed) already exists",
            partial_dir(&args.out)?.display()
        ));
    }
    match std::fs::read_dir(&args.out) {
        Ok(mut entries) => match entries.next() {
            Some(_) => refuse("already holds files: give a new or empty folder".into()),
            None => Ok(()),
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => refuse(err.to_string()),
    }
}

/// The sibling folder a run writes into before it is renamed to `out`: `out` + `.partial`.
fn partial_dir(out: &Path) -> Result<PathBuf> {
    let name = out.file_name().ok_or_else(|| {
        invalid(
            &format!("--out {}", out.display()),
            "name a folder to create".into(),
        )
    })?;
    let mut partial = name.to_os_string();
    partial.push(".partial");
    Ok(out.with_file_name(partial))
}

/// Writes the trained weights with the source's other files (tokenizer, chat template, processor
/// settings), or the adapter, into `dir`.
fn save(model: &HfModel, args: &TrainingArgs, dir: &Path) -> Result<()> {
    if args.lora_rank > 0 {
        let base = args
            .model
            .canonicalize()
            .unwrap_or_else(|_| args.model.clone());
        return Ok(model.save_lora(dir, &base.display().to_string())?);
    }
    model.save(dir, None)?;
    let entries = std::fs::read_dir(&args.model).map_err(io_error(&args.model))?;
    for entry in entries {
        let source = entry.map_err(io_error(&args.model))?.path();
        let name = source
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("");
        let weights = name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json");
        if source.is_file() && !weights && name != "config.json" {
            let target = dir.join(name);
            std::fs::copy(&source, &target).map_err(io_error(&target))?;
        }
    }
    Ok(())
}
