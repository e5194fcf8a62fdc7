//! `medgym grpo`: GRPO on a Hugging Face checkpoint with medgym tasks' verifiable rewards, saving
//! the trained weights (or a LoRA adapter) in the Hugging Face layout.

use medgym_kernels::CpuSampler;
use medgym_train::{run_grpo_on, GrpoConfig};

use crate::commands::checks::{at_least_one, invalid, sampling};
use crate::commands::training::{train_checkpoint, TrainingArgs};
use crate::Result;

/// Learning rate when `--lr` is not given.
const DEFAULT_LR: f64 = 1e-6;

/// Arguments of `medgym grpo`.
#[derive(Debug, clap::Args)]
pub struct GrpoArgs {
    /// The checkpoint, the output and what trains.
    #[command(flatten)]
    pub training: TrainingArgs,
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
    /// Weight of the k3 KL to the starting weights (0: no reference model).
    #[arg(long, default_value_t = 0.0)]
    pub kl_coef: f64,
    /// Rollout worker threads.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
}

/// The GRPO settings `args` give, checked before anything is loaded; each refusal names its flag.
pub fn grpo_config(args: &GrpoArgs) -> Result<GrpoConfig> {
    let training = &args.training;
    at_least_one(&[
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
    if !(args.kl_coef.is_finite() && args.kl_coef >= 0.0) {
        return Err(invalid("--kl-coef", format!("{} is not ≥ 0", args.kl_coef)));
    }
    let sampling = sampling(args.temperature, args.top_p)?;
    let optimizer = training.optimizer(DEFAULT_LR)?;
    training.check()?;
    Ok(GrpoConfig {
        steps: training.steps,
        prompts_per_step: args.prompts_per_step,
        group_size: args.group_size,
        max_new_tokens: args.max_new_tokens,
        sampling,
        clip_low: 0.2,
        clip_high: 0.28,
        kl_coef: args.kl_coef,
        adv_eps: 1e-6,
        optimizer,
        workers: args.workers,
        seed: training.seed,
        pass_rate_curriculum: false,
        freeze_vision: !training.train_vision,
        updates_per_batch: 1,
    })
}

/// Runs `medgym grpo`.
pub fn run(args: GrpoArgs) -> Result<()> {
    let config = grpo_config(&args)?;
    let stream = args.training.stream()?;
    train_checkpoint(&args.training, |policy, on_step| {
        run_grpo_on(policy, &CpuSampler, &stream, &config, on_step)?;
        Ok(())
    })
}
