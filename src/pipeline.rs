//! `medgym pipeline`: SFT → eval → GRPO → eval on the built-in tasks, with a report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device};
use indicatif::{ProgressBar, ProgressStyle};
use medgym_envs::{Split, TaskFamily};
use medgym_kernels::CpuSampler;
use medgym_policy::{load_policy, save_policy, Policy};
use medgym_train::{evaluate, run_grpo, run_sft, EvalConfig, StepMetrics, TaskEval, TaskStream};

use crate::error::{MedgymError, Result};
use crate::presets::PipelineConfig;
use crate::report::{compare, Report, StageSummary};
use crate::tokenizer_asset::builtin_tokenizer;

/// Offset between the SFT and RL item streams (both in the train split).
const RL_STREAM_SEED_OFFSET: u64 = 0x5EED_0001;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MedgymError + '_ {
    move |source| MedgymError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Appends one JSON line per training step.
struct MetricsLog {
    file: std::fs::File,
    path: PathBuf,
}

impl MetricsLog {
    fn create(path: PathBuf) -> Result<Self> {
        let file = std::fs::File::create(&path).map_err(io_err(&path))?;
        Ok(Self { file, path })
    }

    fn write(&mut self, metrics: &StepMetrics) -> Result<()> {
        let line = serde_json::to_string(metrics).map_err(|source| MedgymError::Json {
            what: "step metrics".into(),
            source,
        })?;
        writeln!(self.file, "{line}").map_err(io_err(&self.path))
    }
}

fn progress(len: usize, label: &str, show: bool) -> ProgressBar {
    let bar = if show {
        ProgressBar::new(len as u64)
    } else {
        ProgressBar::hidden()
    };
    let style =
        ProgressStyle::with_template("{prefix:>5} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_prefix(label.to_string());
    bar
}

fn summarize(history: &[StepMetrics], seconds: f64) -> StageSummary {
    let tenth = (history.len() / 10).max(1);
    let avg = |rows: &[StepMetrics], f: &dyn Fn(&StepMetrics) -> Option<f64>| -> Option<f64> {
        let v: Vec<f64> = rows
            .iter()
            .filter_map(f)
            .filter(|x| x.is_finite())
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let head = &history[..tenth.min(history.len())];
    let tail = &history[history.len().saturating_sub(tenth)..];
    StageSummary {
        steps: history.len(),
        loss_start: avg(head, &|m| Some(m.loss)).unwrap_or(f64::NAN),
        loss_end: avg(tail, &|m| Some(m.loss)).unwrap_or(f64::NAN),
        reward_start: avg(head, &|m| m.reward_mean),
        reward_end: avg(tail, &|m| m.reward_mean),
        seconds,
    }
}

/// The commit checked out in the current directory, if git knows it.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Run the whole pipeline, writing `report.json`, `metrics.jsonl` and checkpoints under `out_dir`.
pub fn run_pipeline(
    config: &PipelineConfig,
    out_dir: &Path,
    show_progress: bool,
) -> Result<Report> {
    let start = Instant::now();
    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let tasks: Vec<Arc<dyn TaskFamily>> = config
        .tasks
        .iter()
        .map(|id| medgym_envs::task(id))
        .collect::<std::result::Result<_, _>>()?;
    let device = Device::Cpu;
    let (policy, tokenizer) = match &config.init_checkpoint {
        Some(dir) => load_policy(dir, DType::F32, &device)?,
        None => {
            let tokenizer = builtin_tokenizer()?;
            let policy_config = config.model.policy_config(&tokenizer);
            (
                Policy::new_random(&policy_config, config.seed, DType::F32, &device)?,
                tokenizer,
            )
        }
    };
    let sampler = CpuSampler;
    let mut log = MetricsLog::create(out_dir.join("metrics.jsonl"))?;

    // SFT on reference chain-of-thought.
    let sft_stream = TaskStream::weighted(
        tasks.clone(),
        &config.sft_weights()?,
        Split::Train,
        config.seed,
    )?;
    let bar = progress(config.sft.steps, "sft", show_progress);
    let sft_start = Instant::now();
    let mut log_error = None;
    let sft_history = run_sft(&policy, &tokenizer, &sft_stream, &config.sft, |m| {
        bar.inc(1);
        bar.set_message(format!("loss {:.3}", m.loss));
        if let Err(e) = log.write(m) {
            log_error.get_or_insert(e);
        }
    })?;
    bar.finish();
    if let Some(e) = log_error.take() {
        return Err(e);
    }
    let sft_summary = summarize(&sft_history, sft_start.elapsed().as_secs_f64());
    save_policy(
        &policy,
        &tokenizer,
        &out_dir.join("checkpoints").join("sft"),
    )?;
    let eval_config = EvalConfig {
        items_per_task: config.eval_items_per_task,
        seed: config.seed,
        max_new_tokens: config.eval_max_new_tokens,
        workers: config.workers,
    };
    let eval = |stage: &str| -> Result<Vec<TaskEval>> {
        let bar = progress(tasks.len(), stage, show_progress);
        let mut results = Vec::with_capacity(tasks.len());
        for task in &tasks {
            results.extend(evaluate(
                &policy,
                &tokenizer,
                &sampler,
                std::slice::from_ref(task),
                &eval_config,
            )?);
            bar.inc(1);
        }
        bar.finish();
        Ok(results)
    };
    let sft_eval = eval("eval")?;

    // GRPO from the SFT policy.
    let rl_stream = TaskStream::new(
        tasks.clone(),
        Split::Train,
        config.seed.wrapping_add(RL_STREAM_SEED_OFFSET),
    )?;
    let bar = progress(config.grpo.steps, "grpo", show_progress);
    let rl_start = Instant::now();
    let rl_history = run_grpo(
        &policy,
        &tokenizer,
        &sampler,
        &rl_stream,
        &config.grpo,
        |m| {
            bar.inc(1);
            bar.set_message(format!(
                "reward {:.3} acc {:.2}",
                m.reward_mean.unwrap_or(f64::NAN),
                m.accuracy.unwrap_or(f64::NAN)
            ));
            if let Err(e) = log.write(m) {
                log_error.get_or_insert(e);
            }
        },
    )?;
    bar.finish();
    if let Some(e) = log_error {
        return Err(e);
    }
    let rl_summary = summarize(&rl_history, rl_start.elapsed().as_secs_f64());
    save_policy(&policy, &tokenizer, &out_dir.join("checkpoints").join("rl"))?;
    let rl_eval = eval("eval")?;

    let (task_reports, mean) = compare(&sft_eval, &rl_eval);
    let report = Report {
        n_eval_total: task_reports.iter().map(|t| t.n_eval).sum(),
        tasks: task_reports,
        mean,
        seed: config.seed,
        preset: config.preset.clone(),
        sft: sft_summary,
        grpo: rl_summary,
        parameters: policy.parameter_count(),
        wall_seconds: start.elapsed().as_secs_f64(),
        git_commit: git_commit(),
        config: config.clone(),
    };
    let path = out_dir.join("report.json");
    let json = serde_json::to_string_pretty(&report).map_err(|source| MedgymError::Json {
        what: "report".into(),
        source,
    })?;
    std::fs::write(&path, json).map_err(io_err(&path))?;
    Ok(report)
}
