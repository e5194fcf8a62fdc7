//! The `medgym` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use medgym::{commands, run_pipeline, MedgymError, PipelineConfig};

/// Medical VQA as RL environments with verifiable rewards.
#[derive(Parser)]
#[command(name = "medgym", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// SFT → eval → GRPO → eval on the built-in tasks; writes report.json, metrics.jsonl and checkpoints.
    Pipeline {
        /// `default` (the full run) or `smoke` (a quick check).
        #[arg(long, default_value = "default")]
        preset: String,
        /// Seed of every random choice.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder (default: runs/<timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the preset's SFT steps.
        #[arg(long)]
        sft_steps: Option<usize>,
        /// Override the preset's GRPO steps.
        #[arg(long)]
        grpo_steps: Option<usize>,
        /// Override the preset's held-out items per task.
        #[arg(long)]
        eval_items: Option<usize>,
        /// Start from a saved checkpoint (e.g. DIR/checkpoints/sft of an earlier run) instead of random weights.
        #[arg(long)]
        init: Option<PathBuf>,
        /// Override the GRPO learning rate.
        #[arg(long)]
        grpo_lr: Option<f64>,
        /// Override the GRPO k3 KL coefficient.
        #[arg(long)]
        kl_coef: Option<f64>,
        /// Override the optimizer steps taken on each GRPO rollout batch.
        #[arg(long)]
        grpo_updates_per_batch: Option<usize>,
        /// Override the prompts sampled per GRPO step.
        #[arg(long)]
        grpo_prompts_per_step: Option<usize>,
        /// Override the responses sampled per prompt (the GRPO group size).
        #[arg(long)]
        grpo_group_size: Option<usize>,
        /// Train the vision tower during GRPO too (the preset freezes it).
        #[arg(long)]
        grpo_train_vision: bool,
        /// Override the GRPO rollout sampling temperature (positive).
        #[arg(long)]
        grpo_temperature: Option<f32>,
        /// SFT items per cycle for one task, as TASK_ID=WEIGHT (repeatable; unnamed tasks get the
        /// preset's weight).
        #[arg(long = "sft-task-weight", value_name = "TASK_ID=WEIGHT")]
        sft_task_weights: Vec<String>,
    },
    /// Environment registry.
    Envs(commands::envs::EnvsArgs),
    /// Score model responses against references (verifiable rewards).
    Score(commands::score::ScoreArgs),
    /// Micro-benchmarks (sampling kernels, ...).
    Bench(commands::bench::BenchArgs),
    /// Validate and summarise datasets.
    Data(commands::data::DataArgs),
    /// Generate text with a saved model.
    Generate(commands::generate::GenerateArgs),
    /// Print a model folder's architecture, parameters, dtypes and tensor problems.
    Inspect(commands::inspect::InspectArgs),
    /// The built-in tokenizer.
    Tokenizer {
        #[command(subcommand)]
        command: TokenizerCommand,
    },
}

#[derive(Subcommand)]
enum TokenizerCommand {
    /// Train the built-in BPE tokenizer from the version-1 medsynth tasks and write tokenizer.json.
    Build {
        /// Where to write it.
        #[arg(long, default_value = "assets/medsynth-tokenizer.json")]
        out: PathBuf,
    },
}

fn timestamp_dir() -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    PathBuf::from("runs").join(stamp)
}

fn run(cli: Cli) -> Result<(), MedgymError> {
    match cli.command {
        Command::Pipeline {
            preset,
            seed,
            out,
            sft_steps,
            grpo_steps,
            eval_items,
            init,
            grpo_lr,
            kl_coef,
            grpo_updates_per_batch,
            grpo_prompts_per_step,
            grpo_group_size,
            grpo_train_vision,
            grpo_temperature,
            sft_task_weights,
        } => {
            let mut config = PipelineConfig::preset(&preset, seed)?
                .with_overrides(sft_steps, grpo_steps, eval_items)
                .with_sft_weight_args(&sft_task_weights)?;
            config.init_checkpoint = init;
            if let Some(lr) = grpo_lr {
                config.grpo.optimizer.lr = lr;
            }
            if let Some(kl) = kl_coef {
                config.grpo.kl_coef = kl;
            }
            if let Some(updates) = grpo_updates_per_batch {
                config.grpo.updates_per_batch = updates;
                config.grpo.optimizer.total_steps = config.grpo.steps * updates.max(1);
            }
            if let Some(prompts) = grpo_prompts_per_step {
                config.grpo.prompts_per_step = prompts;
            }
            if let Some(group) = grpo_group_size {
                config.grpo.group_size = group;
            }
            if grpo_train_vision {
                config.grpo.freeze_vision = false;
            }
            if let Some(temperature) = grpo_temperature {
                if temperature <= 0.0 {
                    return Err(MedgymError::InvalidSetting {
                        field: "--grpo-temperature".into(),
                        reason: format!(
                            "{temperature} gives every sample of a group the same response; \
                             use a positive temperature"
                        ),
                    });
                }
                let sampling = medgym::kernels::SamplingParams {
                    temperature,
                    ..config.grpo.sampling
                };
                sampling.validate()?;
                config.grpo.sampling = sampling;
            }
            let out = out.unwrap_or_else(timestamp_dir);
            eprintln!(
                "medgym pipeline: preset {preset}, seed {seed}, output {}",
                out.display()
            );
            let report = run_pipeline(&config, &out, true)?;
            println!("{}", report.table());
            println!(
                "SFT loss {:.3} -> {:.3}; GRPO reward {:.3} -> {:.3}; {} parameters; {:.1} s",
                report.sft.loss_start,
                report.sft.loss_end,
                report.grpo.reward_start.unwrap_or(f64::NAN),
                report.grpo.reward_end.unwrap_or(f64::NAN),
                report.parameters,
                report.wall_seconds
            );
            println!("report: {}", out.join("report.json").display());
        }
        Command::Envs(args) => commands::envs::run(args)?,
        Command::Score(args) => commands::score::run(args)?,
        Command::Bench(args) => commands::bench::run(args)?,
        Command::Data(args) => commands::data::run(args)?,
        Command::Generate(args) => commands::generate::run(args)?,
        Command::Inspect(args) => commands::inspect::run(args)?,
        Command::Tokenizer {
            command: TokenizerCommand::Build { out },
        } => {
            let tasks = medgym::envs::medsynth_v1_task_ids()
                .iter()
                .map(|id| medgym::envs::task(id))
                .collect::<Result<Vec<_>, _>>()?;
            let tokenizer = medgym::tokenizer_asset::build_tokenizer(&tasks)?;
            tokenizer.save(&out)?;
            println!(
                "wrote {} ({} tokens)",
                out.display(),
                tokenizer.vocab_size()
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // Training and generation allocate and free GB-sized tensors every step: keep freed memory.
    medgym::policy::memory::retain_freed_memory();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
