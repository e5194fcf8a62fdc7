//! `medgym sft`: supervised fine-tuning of a Hugging Face checkpoint on medgym tasks' reference
//! responses (chain of thought and answer), saving the weights (or a LoRA adapter).

use medgym_train::{run_sft_on, SftConfig};

use crate::commands::checks::at_least_one;
use crate::commands::training::{train_checkpoint, TrainingArgs};
use crate::Result;

/// Learning rate when `--lr` is not given.
const DEFAULT_LR: f64 = 1e-5;

/// Arguments of `medgym sft`.
#[derive(Debug, clap::Args)]
pub struct SftArgs {
    /// The checkpoint, the output and what trains.
    #[command(flatten)]
    pub training: TrainingArgs,
    /// Sequences per step.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
}

/// The SFT settings `args` give, checked before anything is loaded; each refusal names its flag.
pub fn sft_config(args: &SftArgs) -> Result<SftConfig> {
    at_least_one(&[("--batch-size", args.batch_size)])?;
    let optimizer = args.training.optimizer(DEFAULT_LR)?;
    args.training.check()?;
    Ok(SftConfig {
        steps: args.training.steps,
        batch_size: args.batch_size,
        optimizer,
    })
}

/// Runs `medgym sft`.
pub fn run(args: SftArgs) -> Result<()> {
    let config = sft_config(&args)?;
    let stream = args.training.stream()?;
    let freeze_vision = !args.training.train_vision;
    train_checkpoint(&args.training, |policy, on_step| {
        run_sft_on(policy, freeze_vision, &stream, &config, on_step)?;
        Ok(())
    })
}
