//! `medgym grpo`: GRPO on a Hugging Face checkpoint writes metrics.jsonl and a checkpoint that
//! loads again (full weights with the tokenizer files, or a PEFT adapter); bad settings are refused
//! by flag before anything is written.

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

fn short_run<'a>(model: &'a Path, out: &'a Path, task: &'a str) -> Vec<&'a str> {
    vec![
        "grpo",
        "--model",
        path(model),
        "--out",
        path(out),
        "--task",
        task,
        "--steps",
        "2",
        "--prompts-per-step",
        "2",
        "--group-size",
        "2",
        "--max-new-tokens",
        "4",
        "--lr",
        "0.01",
    ]
}

#[test]
fn full_training_writes_a_checkpoint_that_loads_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("trained");
    let model = fixture("qwen2_tied");
    let output = medgym(&short_run(&model, &out, "clinical/bmi-v1"));
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("step")).count(),
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
    for name in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(out.join(name).exists(), "{name}");
    }
    let again = medgym(&[
        "rollout",
        "--model",
        path(&out),
        "--task",
        "clinical/bmi-v1",
        "--items",
        "1",
        "--max-new-tokens",
        "2",
    ]);
    assert!(again.status.success(), "{again:?}");
}

#[test]
fn lora_training_writes_a_peft_adapter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("adapter");
    let model = fixture("qwen25vl");
    let mut args = short_run(&model, &out, "medsynth/lesion-count-v1");
    args.extend(["--lora-rank", "4"]);
    let output = medgym(&args);
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
    for (flag, value) in [
        ("--steps", "0"),
        ("--group-size", "1"),
        ("--lr", "0"),
        ("--top-p", "2"),
        ("--task", "clinical/no-such-task"),
    ] {
        let mut args = short_run(&model, &out, "clinical/bmi-v1");
        args.extend([flag, value]);
        let output = medgym(&args);
        assert!(!output.status.success(), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let named = if flag == "--task" { value } else { flag };
        assert!(stderr.contains(named), "{flag} {value}: {stderr}");
        assert!(!out.exists(), "{flag} {value}: nothing written");
    }
}
