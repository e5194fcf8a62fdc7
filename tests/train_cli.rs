//! `medgym sft` and `medgym grpo` on Hugging Face checkpoints write metrics.jsonl and a checkpoint
//! that loads again (full weights with the tokenizer files, or a PEFT adapter); bad settings are
//! refused by flag before anything is written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("policy/tests/fixtures")
        .join(name)
}

fn medgym(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medgym"))
        .args(args)
        .output()
        .expect("run medgym")
}

fn path(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A two-step `medgym grpo` run's arguments, with `overrides` replacing or adding flags.
fn short_run(model: &Path, out: &Path, task: &str, overrides: &[(&str, &str)]) -> Vec<String> {
    let mut flags: Vec<(String, String)> = [
        ("--model", path(model)),
        ("--out", path(out)),
        ("--task", task),
        ("--steps", "2"),
        ("--prompts-per-step", "2"),
        ("--group-size", "2"),
        ("--max-new-tokens", "4"),
        ("--lr", "0.01"),
    ]
    .iter()
    .map(|(flag, value)| (flag.to_string(), value.to_string()))
    .collect();
    for (flag, value) in overrides {
        match flags.iter_mut().find(|(name, _)| name == flag) {
            Some(slot) => slot.1 = value.to_string(),
            None => flags.push((flag.to_string(), value.to_string())),
        }
    }
    std::iter::once("grpo".to_string())
        .chain(flags.into_iter().flat_map(|(flag, value)| [flag, value]))
        .filter(|arg| !arg.is_empty())
        .collect()
}

/// `medgym rollout` loads `checkpoint` and samples one item of `task`.
fn assert_rolls_out(checkpoint: &Path, task: &str) {
    let output = medgym(&[
        "rollout",
        "--model",
        path(checkpoint),
        "--task",
        task,
        "--items",
        "1",
        "--max-new-tokens",
        "2",
    ]);
    assert!(output.status.success(), "{output:?}");
}

fn grpo(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    medgym(&args)
}

#[test]
fn full_training_writes_a_checkpoint_that_loads_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("trained");
    let model = fixture("qwen2_tied");
    let output = grpo(&short_run(&model, &out, "clinical/bmi-v1", &[]));
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("grpo step"))
            .count(),
        2,
        "{stdout}"
    );
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).expect("metrics");
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|line| line["stage"] == "grpo"));
    // A random checkpoint scores 0 on every sample: no step has anything to learn, and says so.
    let printed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("grpo step"))
        .collect();
    for (line, metrics) in printed.iter().zip(&lines) {
        assert!(!line.contains("NaN"), "{line}");
        if metrics["loss"].is_null() {
            assert!(
                line.contains("loss none (equal rewards in every group)"),
                "{line}"
            );
        }
    }
    assert!(lines.iter().any(|line| line["loss"].is_null()), "{metrics}");
    for name in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(out.join(name).exists(), "{name}");
    }
    assert_rolls_out(&out, "clinical/bmi-v1");
}

#[test]
fn lora_training_writes_a_peft_adapter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("adapter");
    let model = fixture("qwen25vl");
    let output = grpo(&short_run(
        &model,
        &out,
        "medsynth/lesion-count-v1",
        &[("--lora-rank", "4")],
    ));
    assert!(output.status.success(), "{output:?}");
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("adapter_config.json")).expect("adapter config"),
    )
    .expect("json");
    assert_eq!(config["r"], 4);
    assert!(out.join("adapter_model.safetensors").exists());
}

#[test]
fn bad_settings_are_refused_by_flag_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("never");
    let model = fixture("qwen2_tied");
    for (flag, value, wording) in [
        ("--steps", "0", "must be at least 1"),
        ("--group-size", "1", "use at least 2"),
        ("--lr", "0", "is not a positive rate"),
        ("--top-p", "2", "top_p"),
        ("--train-vision", "", "drop --lora-rank"),
    ] {
        let mut overrides = vec![(flag, value)];
        if flag == "--train-vision" {
            overrides.push(("--lora-rank", "4"));
        }
        let output = grpo(&short_run(&model, &out, "clinical/bmi-v1", &overrides));
        assert!(!output.status.success(), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains(wording),
            "{flag} {value}: {stderr}"
        );
        assert!(!out.exists(), "{flag} {value}: nothing written");
    }
    let output = grpo(&short_run(
        &model,
        &out,
        "clinical/bmi-v1",
        &[("--task", "clinical/no-such-task")],
    ));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("clinical/no-such-task"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn the_source_checkpoint_and_earlier_runs_are_never_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source");
    std::fs::create_dir(&source).expect("mkdir");
    for entry in std::fs::read_dir(fixture("qwen2_tied")).expect("fixture") {
        let from = entry.expect("entry").path();
        std::fs::copy(&from, source.join(from.file_name().expect("name"))).expect("copy");
    }
    let tokenizer = std::fs::read(source.join("tokenizer.json")).expect("tokenizer");
    let output = grpo(&short_run(&source, &source, "clinical/bmi-v1", &[]));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--out") && stderr.contains("being trained"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(source.join("tokenizer.json")).expect("read"),
        tokenizer
    );
    let earlier = dir.path().join("earlier");
    std::fs::create_dir(&earlier).expect("mkdir");
    std::fs::write(earlier.join("metrics.jsonl"), "{}\n").expect("write");
    let output = grpo(&short_run(&source, &earlier, "clinical/bmi-v1", &[]));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already holds files"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(earlier.join("metrics.jsonl")).expect("read"),
        "{}\n"
    );
}

#[test]
fn sft_lowers_the_loss_and_writes_a_checkpoint_that_loads_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sft");
    let model = fixture("qwen25vl");
    let output = medgym(&[
        "sft",
        "--model",
        path(&model),
        "--out",
        path(&out),
        "--task",
        "medsynth/lesion-count-v1",
        "--steps",
        "4",
        "--batch-size",
        "2",
        "--lr",
        "0.01",
    ]);
    assert!(output.status.success(), "{output:?}");
    let losses: Vec<f64> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .expect("metrics")
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("json");
            assert_eq!(value["stage"], "sft");
            value["loss"].as_f64().expect("loss")
        })
        .collect();
    assert_eq!(losses.len(), 4);
    assert!(losses[3] < losses[0], "{losses:?}");
    assert_rolls_out(&out, "medsynth/lesion-count-v1");
    let refused = medgym(&[
        "sft",
        "--model",
        path(&model),
        "--out",
        path(&dir.path().join("never")),
        "--batch-size",
        "0",
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--batch-size") && stderr.contains("must be at least 1"),
        "{stderr}"
    );
    assert!(!dir.path().join("never").exists());
}

#[test]
fn each_trainer_has_its_own_default_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = fixture("qwen2_tied");
    let runs: [(&str, &[&str], f64); 2] = [
        ("sft", &["--batch-size", "1"], 1e-5),
        (
            "grpo",
            &[
                "--prompts-per-step",
                "1",
                "--group-size",
                "2",
                "--max-new-tokens",
                "2",
            ],
            1e-6,
        ),
    ];
    for (command, extra, rate) in runs {
        let out = dir.path().join(command);
        let mut args = vec![
            command,
            "--model",
            path(&model),
            "--out",
            path(&out),
            "--task",
            "clinical/bmi-v1",
            "--steps",
            "1",
        ];
        args.extend(extra);
        let output = medgym(&args);
        assert!(output.status.success(), "{output:?}");
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).expect("metrics");
        let line: serde_json::Value =
            serde_json::from_str(metrics.lines().next().expect("a step")).expect("json");
        assert_eq!(line["lr"].as_f64(), Some(rate), "{command}");
    }
}
