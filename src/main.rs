//! The `medgym` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use medgym::{commands, MedgymError};

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
    Pipeline(commands::pipeline::PipelineArgs),
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
    /// Sample a Hugging Face checkpoint on medgym tasks and score it with their rewards.
    Rollout(commands::rollout::RolloutArgs),
    /// Fine-tune a Hugging Face checkpoint on medgym tasks' reference responses.
    Sft(commands::sft::SftArgs),
    /// Train a Hugging Face checkpoint with GRPO on medgym tasks' rewards.
    Grpo(commands::grpo::GrpoArgs),
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

fn run(cli: Cli) -> Result<(), MedgymError> {
    match cli.command {
        Command::Pipeline(args) => commands::pipeline::run(args)?,
        Command::Envs(args) => commands::envs::run(args)?,
        Command::Score(args) => commands::score::run(args)?,
        Command::Bench(args) => commands::bench::run(args)?,
        Command::Data(args) => commands::data::run(args)?,
        Command::Generate(args) => commands::generate::run(args)?,
        Command::Rollout(args) => commands::rollout::run(args)?,
        Command::Sft(args) => commands::sft::run(args)?,
        Command::Grpo(args) => commands::grpo::run(args)?,
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
    // Before any thread starts: candle would otherwise re-read the CPU topology on every matmul.
    medgym::policy::threads::settle_thread_count();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
