//! The smoke preset runs the whole pipeline, learns during SFT, writes what it promises, and is
//! deterministic for a given seed.

use std::collections::BTreeSet;

use candle_core::{DType, Device};
use medgym::{run_pipeline, PipelineConfig};
use serde_json::Value;

fn run_smoke(seed: u64) -> (tempfile::TempDir, Value, medgym::Report) {
    let dir = tempfile::tempdir().unwrap();
    let config = PipelineConfig::preset("smoke", seed).unwrap();
    let report = run_pipeline(&config, dir.path(), false).unwrap();
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    (dir, json, report)
}

#[test]
fn smoke_pipeline_learns_writes_its_outputs_and_repeats_exactly() {
    let (dir, json, report) = run_smoke(3);
    let config = PipelineConfig::preset("smoke", 3).unwrap();

    // SFT loss falls.
    assert!(
        report.sft.loss_end < 0.6 * report.sft.loss_start,
        "SFT loss did not fall: {} -> {}",
        report.sft.loss_start,
        report.sft.loss_end
    );

    // report.json has the documented schema.
    let tasks = json["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 4);
    for t in tasks {
        for key in [
            "id",
            "n_eval",
            "chance",
            "sft_accuracy",
            "rl_accuracy",
            "sft_format_rate",
            "rl_format_rate",
        ] {
            assert!(!t[key].is_null(), "task entry lacks {key}: {t}");
        }
        assert_eq!(
            t["n_eval"].as_u64().unwrap() as usize,
            config.eval_items_per_task
        );
    }
    for key in ["chance", "sft", "rl", "rl_minus_sft", "rl_minus_sft_se"] {
        assert!(json["mean"][key].is_number(), "mean lacks {key}");
    }
    assert_eq!(json["seed"].as_u64(), Some(3));
    assert!(json["wall_seconds"].as_f64().unwrap() > 0.0);
    let ids: BTreeSet<String> = tasks
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 4);

    // metrics.jsonl: one line per training step, stage by stage.
    let lines: Vec<Value> = std::fs::read_to_string(dir.path().join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), config.sft.steps + config.grpo.steps);
    assert_eq!(lines[0]["stage"], "sft");
    assert_eq!(lines[lines.len() - 1]["stage"], "grpo");
    for l in &lines {
        for key in [
            "stage",
            "step",
            "loss",
            "reward_mean",
            "accuracy",
            "tokens_per_second",
        ] {
            assert!(l.get(key).is_some(), "metrics line lacks {key}: {l}");
        }
    }

    // Checkpoints load back.
    for stage in ["sft", "rl"] {
        let path = dir.path().join("checkpoints").join(stage);
        let (policy, tokenizer) =
            medgym::policy::load_policy(&path, DType::F32, &Device::Cpu).unwrap();
        assert_eq!(policy.parameter_count(), report.parameters);
        assert_eq!(tokenizer.vocab_size(), policy.config().vocab_size);
    }

    // Same seed, same accuracies.
    let (_dir2, _json2, again) = run_smoke(3);
    assert_eq!(report.tasks, again.tasks);
    assert_eq!(report.mean, again.mean);
}

#[test]
fn unknown_preset_is_a_clear_error() {
    let err = PipelineConfig::preset("huge", 0).unwrap_err().to_string();
    assert!(err.contains("huge") && err.contains("smoke"), "{err}");
}

/// Runs the smoke preset with `updates` optimizer steps per GRPO batch; returns the RL weights' bytes.
fn smoke_rl_weights(updates: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = PipelineConfig::preset("smoke", 5).unwrap();
    config.grpo.updates_per_batch = updates;
    config.grpo.optimizer.total_steps = config.grpo.steps * updates;
    run_pipeline(&config, dir.path(), false).unwrap();
    std::fs::read(dir.path().join("checkpoints/rl/model.safetensors")).unwrap()
}

#[test]
fn grpo_updates_per_batch_take_extra_steps_and_repeat_exactly() {
    let once = smoke_rl_weights(1);
    let twice = smoke_rl_weights(2);
    assert_ne!(
        once, twice,
        "a second update on each batch must move the weights"
    );
    assert_eq!(twice, smoke_rl_weights(2), "same seed, same weights");
}

#[test]
fn bad_pipeline_flags_fail_before_training_and_name_the_flag() {
    let out = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["--grpo-temperature", "0"], "--grpo-temperature"),
        (
            &["--sft-task-weight", "medsynth/nope=2"],
            "`medsynth/nope` is not a task of this run",
        ),
        (
            &["--sft-task-weight", "medsynth/modality-v1"],
            "TASK_ID=WEIGHT",
        ),
    ];
    for (flags, expected) in cases {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_medgym"))
            .args(["pipeline", "--preset", "smoke", "--out"])
            .arg(out.path())
            .args(flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{flags:?} succeeded");
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
        assert!(
            !out.path().join("metrics.jsonl").exists(),
            "{flags:?} started training"
        );
    }
}
