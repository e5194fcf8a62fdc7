//! `medgym pipeline`: SFT → eval → GRPO → eval on the built-in tasks.

use std::path::PathBuf;

use crate::kernels::SamplingParams;
use crate::{run_pipeline, MedgymError, PipelineConfig, Result};

/// Arguments of `medgym pipeline`.
#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    /// `default` (the full run) or `smoke` (a quick check).
    #[arg(long, default_value = "default")]
    pub preset: String,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (default: runs/ and the start time, as in runs/2026-11-27T13-30-00Z).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the preset's SFT steps.
    #[arg(long)]
    pub sft_steps: Option<usize>,
    /// Override the preset's GRPO steps.
    #[arg(long)]
    pub grpo_steps: Option<usize>,
    /// Override the preset's held-out items per task.
    #[arg(long)]
    pub eval_items: Option<usize>,
    /// Start from a saved checkpoint (e.g. DIR/checkpoints/sft of an earlier run) instead of random weights.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Override the GRPO learning rate.
    #[arg(long)]
    pub grpo_lr: Option<f64>,
    /// Override the GRPO k3 KL coefficient.
    #[arg(long)]
    pub kl_coef: Option<f64>,
    /// Override the optimizer steps taken on each GRPO rollout batch.
    #[arg(long)]
    pub grpo_updates_per_batch: Option<usize>,
    /// Override the prompts sampled per GRPO step.
    #[arg(long)]
    pub grpo_prompts_per_step: Option<usize>,
    /// Override the responses sampled per prompt (the GRPO group size).
    #[arg(long)]
    pub grpo_group_size: Option<usize>,
    /// Train the vision tower during GRPO too (the preset freezes it).
    #[arg(long)]
    pub grpo_train_vision: bool,
    /// Override the GRPO rollout sampling temperature (positive).
    #[arg(long)]
    pub grpo_temperature: Option<f32>,
    /// SFT items per cycle for one task, as TASK_ID=WEIGHT (repeatable; unnamed tasks get the
    /// preset's weight).
    #[arg(long = "sft-task-weight", value_name = "TASK_ID=WEIGHT")]
    pub sft_task_weights: Vec<String>,
}

impl PipelineArgs {
    /// The preset with every given override applied; an error names the flag at fault.
    pub fn config(&self) -> Result<PipelineConfig> {
        let mut config = PipelineConfig::preset(&self.preset, self.seed)?
            .with_overrides(self.sft_steps, self.grpo_steps, self.eval_items)
            .with_sft_weight_args(&self.sft_task_weights)?;
        config.init_checkpoint.clone_from(&self.init);
        let grpo = &mut config.grpo;
        if let Some(lr) = self.grpo_lr {
            grpo.optimizer.lr = lr;
        }
        if let Some(kl) = self.kl_coef {
            grpo.kl_coef = kl;
        }
        if let Some(updates) = self.grpo_updates_per_batch {
            grpo.updates_per_batch = updates;
            grpo.optimizer.total_steps = grpo.steps * updates.max(1);
        }
        if let Some(prompts) = self.grpo_prompts_per_step {
            grpo.prompts_per_step = prompts;
        }
        if let Some(group) = self.grpo_group_size {
            grpo.group_size = group;
        }
        if self.grpo_train_vision {
            grpo.freeze_vision = false;
        }
        if let Some(temperature) = self.grpo_temperature {
            grpo.sampling = rollout_sampling(temperature, grpo.sampling)?;
        }
        Ok(config)
    }
}

/// `sampling` at a GRPO rollout temperature, which must be positive.
fn rollout_sampling(temperature: f32, sampling: SamplingParams) -> Result<SamplingParams> {
    if temperature <= 0.0 {
        return Err(MedgymError::InvalidSetting {
            field: "--grpo-temperature".into(),
            reason: format!(
                "{temperature} gives every sample of a group the same response; \
                 use a positive temperature"
            ),
        });
    }
    let sampling = SamplingParams {
        temperature,
        ..sampling
    };
    sampling.validate()?;
    Ok(sampling)
}

/// `runs/` and the start time in RFC 3339 with `-` for `:`.
fn timestamp_dir() -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    PathBuf::from("runs").join(stamp)
}

/// "LABEL a -> b" for a stage's first and last values; "LABEL: stage skipped" when it ran no step,
/// "LABEL none" when a value is missing.
fn change(label: &str, steps: usize, start: Option<f64>, end: Option<f64>) -> String {
    match (start, end) {
        _ if steps == 0 => format!("{label}: stage skipped"),
        (Some(start), Some(end)) if start.is_finite() && end.is_finite() => {
            format!("{label} {start:.3} -> {end:.3}")
        }
        _ => format!("{label} none"),
    }
}

/// Runs `medgym pipeline` and prints its table.
pub fn run(args: PipelineArgs) -> Result<()> {
    let config = args.config()?;
    let out = args.out.unwrap_or_else(timestamp_dir);
    eprintln!(
        "medgym pipeline: preset {}, seed {}, output {}",
        args.preset,
        args.seed,
        out.display()
    );
    let report = run_pipeline(&config, &out, true)?;
    println!("{}", report.table());
    println!(
        "{}; {}; {} parameters; {:.1} s",
        change(
            "SFT loss",
            report.sft.steps,
            Some(report.sft.loss_start),
            Some(report.sft.loss_end)
        ),
        change(
            "GRPO reward",
            report.grpo.steps,
            report.grpo.reward_start,
            report.grpo.reward_end
        ),
        report.parameters,
        report.wall_seconds
    );
    println!("report: {}", out.join("report.json").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        args: PipelineArgs,
    }

    fn config(flags: &[&str]) -> Result<PipelineConfig> {
        let command =
            Command::try_parse_from(std::iter::once("pipeline").chain(flags.iter().copied()))
                .map_err(|error| MedgymError::InvalidSetting {
                    field: "flags".into(),
                    reason: error.to_string(),
                })?;
        command.args.config()
    }

    #[test]
    fn stage_changes_print_skipped_stages_and_missing_values_in_words() {
        assert_eq!(
            change("SFT loss", 3, Some(4.0776), Some(0.05)),
            "SFT loss 4.078 -> 0.050"
        );
        assert_eq!(
            change("SFT loss", 0, Some(f64::NAN), Some(f64::NAN)),
            "SFT loss: stage skipped"
        );
        assert_eq!(
            change("GRPO reward", 2, None, Some(1.0)),
            "GRPO reward none"
        );
    }

    #[test]
    fn every_flag_reaches_the_config() -> Result<()> {
        let plain = config(&[])?;
        let set = config(&[
            "--preset",
            "smoke",
            "--seed",
            "7",
            "--sft-steps",
            "9",
            "--grpo-steps",
            "6",
            "--eval-items",
            "5",
            "--init",
            "ckpt",
            "--grpo-lr",
            "0.25",
            "--kl-coef",
            "0.5",
            "--grpo-updates-per-batch",
            "2",
            "--grpo-prompts-per-step",
            "3",
            "--grpo-group-size",
            "4",
            "--grpo-train-vision",
            "--grpo-temperature",
            "0.9",
        ])?;
        assert_eq!(plain.grpo.sampling.temperature, 0.7);
        assert!(plain.grpo.freeze_vision);
        assert_eq!(set.seed, 7);
        assert_eq!((set.sft.steps, set.sft.optimizer.total_steps), (9, 9));
        assert_eq!(set.grpo.steps, 6);
        assert_eq!(set.eval_items_per_task, 5);
        assert_eq!(set.init_checkpoint, Some(PathBuf::from("ckpt")));
        assert_eq!(set.grpo.optimizer.lr, 0.25);
        assert_eq!(set.grpo.kl_coef, 0.5);
        assert_eq!(set.grpo.updates_per_batch, 2);
        assert_eq!(set.grpo.optimizer.total_steps, 12);
        assert_eq!(set.grpo.prompts_per_step, 3);
        assert_eq!(set.grpo.group_size, 4);
        assert!(!set.grpo.freeze_vision);
        assert_eq!(set.grpo.sampling.temperature, 0.9);
        Ok(())
    }

    #[test]
    fn task_weights_apply_and_malformed_ones_name_their_flag() -> Result<()> {
        let task = &medgym_envs::medsynth_v1_task_ids()[0];
        let weighted = config(&["--sft-task-weight", &format!("{task}=3")])?;
        assert_eq!(weighted.sft_weights()?[0], 3);
        for bad in [
            task.to_string(),
            format!("{task}=x"),
            "unknown/task=2".to_string(),
        ] {
            let error = config(&["--sft-task-weight", &bad]).map(|_| ());
            assert!(
                matches!(&error, Err(MedgymError::InvalidSetting { .. })),
                "{bad}: {error:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_non_positive_temperature_names_its_flag() {
        for flag in ["--grpo-temperature=0", "--grpo-temperature=-1"] {
            let error = config(&[flag]).map(|_| ());
            assert!(
                matches!(&error, Err(MedgymError::InvalidSetting { field, .. }) if field == "--grpo-temperature"),
                "{flag}: {error:?}"
            );
        }
    }
}
