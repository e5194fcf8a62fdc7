//! The pipeline report (`report.json`) and its text table.

use medgym_train::TaskEval;
use serde::Serialize;

/// One task's results after both stages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskReport {
    /// Task id.
    pub id: String,
    /// Held-out items evaluated.
    pub n_eval: usize,
    /// Accuracy of uniform random guessing.
    pub chance: f64,
    /// Accuracy after SFT.
    pub sft_accuracy: f64,
    /// Accuracy after RL.
    pub rl_accuracy: f64,
    /// Format rate after SFT.
    pub sft_format_rate: f64,
    /// Format rate after RL.
    pub rl_format_rate: f64,
    /// `rl_accuracy − sft_accuracy`.
    pub rl_minus_sft: f64,
    /// Standard error of that difference (paired over items).
    pub rl_minus_sft_se: f64,
}

/// Task-averaged results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeanReport {
    /// Mean chance accuracy.
    pub chance: f64,
    /// Mean accuracy after SFT.
    pub sft: f64,
    /// Mean accuracy after RL.
    pub rl: f64,
    /// `rl − sft`.
    pub rl_minus_sft: f64,
    /// Standard error of `rl − sft` (tasks independent, items paired).
    pub rl_minus_sft_se: f64,
    /// Mean format rate after SFT.
    pub sft_format_rate: f64,
    /// Mean format rate after RL.
    pub rl_format_rate: f64,
}

/// Summary of one training stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageSummary {
    /// Steps run.
    pub steps: usize,
    /// Mean loss over the first tenth of the steps.
    pub loss_start: f64,
    /// Mean loss over the last tenth of the steps.
    pub loss_end: f64,
    /// Mean rollout reward over the first tenth (RL only).
    pub reward_start: Option<f64>,
    /// Mean rollout reward over the last tenth (RL only).
    pub reward_end: Option<f64>,
    /// Wall seconds.
    pub seconds: f64,
}

/// Everything `medgym pipeline` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Per-task results.
    pub tasks: Vec<TaskReport>,
    /// Task means.
    pub mean: MeanReport,
    /// Held-out items in total.
    pub n_eval_total: usize,
    /// Seed of the run.
    pub seed: u64,
    /// Preset name.
    pub preset: String,
    /// SFT summary.
    pub sft: StageSummary,
    /// GRPO summary.
    pub grpo: StageSummary,
    /// Policy parameters.
    pub parameters: usize,
    /// Wall seconds of the whole run.
    pub wall_seconds: f64,
    /// Commit of the working tree, when known.
    pub git_commit: Option<String>,
    /// The full configuration of the run.
    pub config: crate::presets::PipelineConfig,
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Paired standard error of mean(after − before) over items.
pub fn paired_standard_error(before: &[bool], after: &[bool]) -> f64 {
    let n = before.len().min(after.len());
    if n < 2 {
        return 0.0;
    }
    let d: Vec<f64> = before
        .iter()
        .zip(after)
        .map(|(&b, &a)| a as u8 as f64 - b as u8 as f64)
        .collect();
    let m = d.iter().sum::<f64>() / n as f64;
    let var = d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    (var / n as f64).sqrt()
}

/// Combine SFT and RL evaluations (same tasks, same items) into task reports and their mean.
pub fn compare(sft: &[TaskEval], rl: &[TaskEval]) -> (Vec<TaskReport>, MeanReport) {
    let tasks: Vec<TaskReport> = sft
        .iter()
        .zip(rl)
        .map(|(s, r)| TaskReport {
            id: s.id.clone(),
            n_eval: s.n_eval,
            chance: s.chance,
            sft_accuracy: s.accuracy,
            rl_accuracy: r.accuracy,
            sft_format_rate: s.format_rate,
            rl_format_rate: r.format_rate,
            rl_minus_sft: r.accuracy - s.accuracy,
            rl_minus_sft_se: paired_standard_error(&s.correct, &r.correct),
        })
        .collect();
    let k = tasks.len().max(1) as f64;
    let mean_report = MeanReport {
        chance: mean(tasks.iter().map(|t| t.chance)),
        sft: mean(tasks.iter().map(|t| t.sft_accuracy)),
        rl: mean(tasks.iter().map(|t| t.rl_accuracy)),
        rl_minus_sft: mean(tasks.iter().map(|t| t.rl_minus_sft)),
        rl_minus_sft_se: tasks
            .iter()
            .map(|t| t.rl_minus_sft_se.powi(2))
            .sum::<f64>()
            .sqrt()
            / k,
        sft_format_rate: mean(tasks.iter().map(|t| t.sft_format_rate)),
        rl_format_rate: mean(tasks.iter().map(|t| t.rl_format_rate)),
    };
    (tasks, mean_report)
}

impl Report {
    /// The results as a text table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<30} {:>6} {:>7} {:>7} {:>7} {:>9} {:>8} {:>8}\n",
            "task", "n", "chance", "sft", "rl", "rl-sft", "fmt sft", "fmt rl"
        );
        let row = |id: &str, n: usize, c: f64, s: f64, r: f64, se: f64, fs: f64, fr: f64| {
            format!(
                "{:<30} {:>6} {:>6.1}% {:>6.1}% {:>6.1}% {:>+5.1}±{:<3.1} {:>7.1}% {:>7.1}%\n",
                id,
                n,
                100.0 * c,
                100.0 * s,
                100.0 * r,
                100.0 * (r - s),
                100.0 * se,
                100.0 * fs,
                100.0 * fr
            )
        };
        for t in &self.tasks {
            out += &row(
                &t.id,
                t.n_eval,
                t.chance,
                t.sft_accuracy,
                t.rl_accuracy,
                t.rl_minus_sft_se,
                t.sft_format_rate,
                t.rl_format_rate,
            );
        }
        let m = &self.mean;
        out += &row(
            "mean",
            self.n_eval_total,
            m.chance,
            m.sft,
            m.rl,
            m.rl_minus_sft_se,
            m.sft_format_rate,
            m.rl_format_rate,
        );
        out
    }
}
