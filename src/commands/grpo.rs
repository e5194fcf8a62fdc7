//! `medgym grpo`: GRPO on a Hugging Face checkpoint with medgym tasks' verifiable rewards, saving
//! the trained weights (or a LoRA adapter) in the Hugging Face layout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use medgym_envs::{task_at, Split, TaskFamily};
use medgym_kernels::CpuSampler;
use medgym_policy::hf::{HfModel, HfTokenizer, LoraConfig, LoraInit, ResizeBounds};
use medgym_rollout::HfPolicy;
use medgym_train::optim::OptimizerConfig;
use medgym_train::{run_grpo_on, GrpoConfig, StepMetrics, TaskStream};

use crate::commands::checks::{at_least_one, sampling, task_ids};
use crate::commands::generate::{parse_device, Precision};
use crate::error::MedgymError;
use crate::Result;

/// Arguments of `medgym grpo`.
#[derive(Debug, clap::Args)]
pub struct GrpoArgs {
    /// Checkpoint folder to start from (config.json, safetensors, tokenizer with a chat template).
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the trained checkpoint (or adapter) and metrics.jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Task id (repeatable); the pipeline's four `medsynth/*-v1` tasks when omitted.
    #[arg(long = "task")]
    pub tasks: Vec<String>,
    /// Optimizer steps, one rollout batch each.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Prompts per step.
    #[arg(long, default_value_t = 8)]
    pub prompts_per_step: usize,
    /// Samples per prompt (G).
    #[arg(long, default_value_t = 8)]
    pub group_size: usize,
    /// Longest response in tokens.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Rollout temperature.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Rollout nucleus mass (1 disables it).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Learning rate (AdamW, constant, gradient norm clipped at 1).
    #[arg(long, default_value_t = 1e-6)]
    pub lr: f64,
    /// Weight of the k3 KL to the starting weights (0: no reference model).
    #[arg(long, default_value_t = 0.0)]
    pub kl_coef: f64,
    /// Train rank-R LoRA adapters on every projection of a frozen base (0: train the weights).
    #[arg(long, default_value_t = 0)]
    pub lora_rank: usize,
    /// Also train the vision tower (frozen by default).
    #[arg(long)]
    pub train_vision: bool,
    /// Seed of the task items, the sampler and the adapters' initialisation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rollout worker threads.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Where the model runs: `cpu`, or `cuda` / `cuda:N` (a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Weight and activation precision.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub dtype: Precision,
}

/// The GRPO settings `args` give, checked before anything is loaded; each refusal names its flag.
pub fn grpo_config(args: &GrpoArgs) -> Result<GrpoConfig> {
    at_least_one(&[
        ("--steps", args.steps),
        ("--prompts-per-step", args.prompts_per_step),
        ("--group-size", args.group_size),
        ("--max-new-tokens", args.max_new_tokens),
        ("--workers", args.workers),
    ])?;
    if args.group_size < 2 {
        return Err(invalid(
            "--group-size",
            "GRPO compares samples within a group: use at least 2".into(),
        ));
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        return Err(invalid(
            "--lr",
            format!("{} is not a positive rate", args.lr),
        ));
    }
    if !(args.kl_coef.is_finite() && args.kl_coef >= 0.0) {
        return Err(invalid("--kl-coef", format!("{} is not ≥ 0", args.kl_coef)));
    }
    if args.lora_rank > 0 && args.train_vision {
        return Err(invalid(
            "--train-vision",
            "LoRA adapters attach to the decoder's projections of a frozen base: \
             drop --lora-rank to train the vision tower"
                .into(),
        ));
    }
    if args.dtype != Precision::F32 {
        return Err(invalid(
            "--dtype",
            "training runs in f32: updates of half-precision weights round away".into(),
        ));
    }
    let sampling = sampling(args.temperature, args.top_p)?;
    Ok(GrpoConfig {
        steps: args.steps,
        prompts_per_step: args.prompts_per_step,
        group_size: args.group_size,
        max_new_tokens: args.max_new_tokens,
        sampling,
        clip_low: 0.2,
        clip_high: 0.28,
        kl_coef: args.kl_coef,
        adv_eps: 1e-6,
        optimizer: OptimizerConfig {
            lr: args.lr,
            total_steps: args.steps,
            min_lr_ratio: 1.0,
            ..OptimizerConfig::default()
        },
        workers: args.workers,
        seed: args.seed,
        pass_rate_curriculum: false,
        freeze_vision: !args.train_vision,
        updates_per_batch: 1,
    })
}

fn invalid(field: &str, reason: String) -> MedgymError {
    MedgymError::InvalidSetting {
        field: field.into(),
        reason,
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> MedgymError + '_ {
    move |source| MedgymError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The training tasks: the named ones, or the pipeline's four.
fn training_tasks(args: &GrpoArgs) -> Result<Vec<Arc<dyn TaskFamily>>> {
    let names = task_ids(&args.tasks);
    Ok(names
        .iter()
        .map(|name| task_at(name, None))
        .collect::<std::result::Result<_, _>>()?)
}

/// Loads the checkpoint and sets what trains: LoRA adapters on a frozen base, or the weights
/// (with the vision tower when asked).
fn trainable_model(args: &GrpoArgs) -> Result<HfModel> {
    let device = parse_device(&args.device)?;
    let mut model = HfModel::load(&args.model, args.dtype.dtype(), &device)?;
    if args.lora_rank > 0 {
        model.freeze(|_| true)?;
        let lora = LoraConfig::all_projections(args.lora_rank, 2.0 * args.lora_rank as f64);
        model.add_lora(&lora, LoraInit::Standard { seed: args.seed })?;
    } else if args.train_vision {
        model.unfreeze(|_| true)?;
    }
    Ok(model)
}

/// Refuses an `--out` that is the source checkpoint or already holds files: nothing of an earlier
/// run or of the source is ever overwritten.
fn check_out(args: &GrpoArgs) -> Result<()> {
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
fn save(model: &HfModel, args: &GrpoArgs, dir: &Path) -> Result<()> {
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

/// Runs `medgym grpo`.
pub fn run(args: GrpoArgs) -> Result<()> {
    let config = grpo_config(&args)?;
    check_out(&args)?;
    let stream = TaskStream::new(training_tasks(&args)?, Split::Train, args.seed)?;
    let model = trainable_model(&args)?;
    let tokenizer = HfTokenizer::from_dir(&args.model)?;
    let bounds = ResizeBounds::from_dir(&args.model)?;
    let policy = HfPolicy::new(&model, &tokenizer, bounds).map_err(|err| {
        invalid(
            &format!("--model {}", args.model.display()),
            err.to_string(),
        )
    })?;
    // Everything goes to a sibling folder, renamed to --out once the run has succeeded.
    let partial = partial_dir(&args.out)?;
    std::fs::create_dir_all(&partial).map_err(io_error(&partial))?;
    let result = train_into(&policy, &model, &args, &config, &stream, &partial);
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

/// Trains and writes metrics.jsonl and the checkpoint into `dir`.
fn train_into(
    policy: &HfPolicy<'_>,
    model: &HfModel,
    args: &GrpoArgs,
    config: &GrpoConfig,
    stream: &TaskStream,
    dir: &Path,
) -> Result<()> {
    let metrics_path = dir.join("metrics.jsonl");
    let mut metrics_file = std::io::BufWriter::new(
        std::fs::File::create(&metrics_path).map_err(io_error(&metrics_path))?,
    );
    let mut write_failure = None;
    let mut on_step = |metrics: &StepMetrics| {
        println!(
            "step {:>4}  reward {:.3}  accuracy {:.3}  format {:.3}  loss {:.4}  {:.1} s",
            metrics.step,
            metrics.reward_mean.unwrap_or(f64::NAN),
            metrics.accuracy.unwrap_or(f64::NAN),
            metrics.format_rate.unwrap_or(f64::NAN),
            metrics.loss,
            metrics.seconds
        );
        let line = serde_json::to_string(metrics).map(|line| writeln!(metrics_file, "{line}"));
        if let Err(err) = line
            .map_err(|e| e.to_string())
            .and_then(|w| w.map_err(|e| e.to_string()))
        {
            write_failure.get_or_insert(err);
        }
    };
    let sampler = CpuSampler;
    run_grpo_on(policy, &sampler, stream, config, &mut on_step)?;
    metrics_file.flush().map_err(io_error(&metrics_path))?;
    if let Some(reason) = write_failure {
        return Err(MedgymError::Io {
            path: metrics_path.display().to_string(),
            source: std::io::Error::other(reason),
        });
    }
    save(model, args, dir)
}
