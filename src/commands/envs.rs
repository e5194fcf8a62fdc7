//! `medgym envs`: the environment registry, item inspection and the environment checker.

use std::path::PathBuf;

use medgym_envs::{check_env, encode_png, task_at, EnvConfig, ItemImage, Split};

use crate::error::MedgymError;
use crate::Result;

/// Arguments of `medgym envs`.
#[derive(Debug, clap::Args)]
pub struct EnvsArgs {
    #[command(subcommand)]
    command: EnvsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EnvsCommand {
    /// List registered environments.
    List,
    /// Print one item: its prompt, reference answer and reasoning.
    Show(ShowArgs),
    /// Run the environment checker on one id (or every registered id).
    Check(CheckArgs),
}

/// Which split to draw from on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitArg {
    /// Training items.
    Train,
    /// Held-out items.
    Eval,
}

impl From<SplitArg> for Split {
    fn from(split: SplitArg) -> Self {
        match split {
            SplitArg::Train => Split::Train,
            SplitArg::Eval => Split::Eval,
        }
    }
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// Environment id, e.g. medsynth/lesion-count-v2.
    id: String,
    /// Stream seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Position in the stream.
    #[arg(long, default_value_t = 0)]
    index: u64,
    /// Which split to draw from.
    #[arg(long, value_enum, default_value = "train")]
    split: SplitArg,
    /// Difficulty level 1-5 (tasks with levels only; default: the task's own).
    #[arg(long)]
    difficulty: Option<u8>,
    /// Also print the reflective reference response.
    #[arg(long)]
    reflective: bool,
    /// Write the item's first image to this PNG file.
    #[arg(long)]
    save_image: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Environment id; every registered id when omitted.
    id: Option<String>,
    /// Seeds to check (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// Turn limit; more than 1 checks the reflection variant.
    #[arg(long, default_value_t = 1)]
    max_turns: u32,
}

/// Runs `medgym envs`.
pub fn run(args: EnvsArgs) -> Result<()> {
    match args.command {
        EnvsCommand::List => {
            for spec in medgym_envs::list() {
                let kind = spec.answer_type.to_string();
                println!("{:<36} {kind:<16} {}", spec.id, spec.description);
            }
        }
        EnvsCommand::Show(show_args) => show(&show_args)?,
        EnvsCommand::Check(check_args) => check(&check_args)?,
    }
    Ok(())
}

fn show(args: &ShowArgs) -> Result<()> {
    let family = task_at(&args.id, args.difficulty)?;
    let item = family.item(args.split.into(), args.seed, args.index)?;
    let level = family
        .difficulty()
        .map_or_else(|| "none".to_string(), |level| level.to_string());
    println!("id:         {}", item.id);
    println!("difficulty: {level}");
    let images: Vec<String> = item.images.iter().map(ItemImage::describe).collect();
    println!(
        "images:     {}",
        if images.is_empty() {
            "none".to_string()
        } else {
            images.join(", ")
        }
    );
    println!("question:\n{}\n", item.question);
    println!(
        "answer:     {} ({})",
        item.reference.answer(),
        item.reference.answer_type
    );
    for (letter, text) in item.reference.options() {
        println!("  {letter}. {text}");
    }
    println!("reasoning:  {}", item.reference_cot);
    println!("response:   {}", item.reference_response);
    if args.reflective {
        match &item.reflective_response {
            Some(reflective) => println!("reflective: {reflective}"),
            None => println!("reflective: (this task has no reflective reference)"),
        }
    }
    if let Some(path) = &args.save_image {
        let image = item
            .images
            .first()
            .ok_or_else(|| MedgymError::InvalidSetting {
                field: "--save-image".into(),
                reason: format!("item {} has no image (text-only task)", item.id),
            })?;
        let bytes = encode_png(image)?;
        std::fs::write(path, bytes).map_err(|source| MedgymError::Io {
            path: path.display().to_string(),
            source,
        })?;
        println!("image written to {}", path.display());
    }
    Ok(())
}

fn check(args: &CheckArgs) -> Result<()> {
    let ids = match &args.id {
        Some(id) => vec![id.clone()],
        None => medgym_envs::builtin_task_ids(),
    };
    let config =
        EnvConfig::new(Split::Train).with_turns(args.max_turns, medgym_envs::TurnReward::LastTurn);
    for id in ids {
        let report = check_env(&id, config, &args.seeds)?;
        println!(
            "{:<36} ok  ({} seeds, {} steps)",
            report.id,
            report.seeds.len(),
            report.steps
        );
    }
    Ok(())
}
