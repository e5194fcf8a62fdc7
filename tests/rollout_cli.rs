//! `medgym rollout`: a Hugging Face checkpoint sampled on medgym tasks, one summary line per task
//! and one JSON line per trajectory; bad arguments are refused by name.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("policy/tests/fixtures")
        .join(name)
}

fn rollout(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_medgym"))
        .arg("rollout")
        .args(args)
        .output()
        .expect("run medgym")
}

#[test]
fn summarises_each_task_and_writes_every_trajectory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("rollouts.jsonl");
    let model = fixture("qwen25vl");
    let common = [
        "--model",
        model.to_str().expect("path"),
        "--task",
        "medsynth/lesion-count-v1",
        "--task",
        "shapes/color-v1",
        "--items",
        "3",
        "--group-size",
        "2",
        "--max-new-tokens",
        "6",
        "--temperature",
        "0.8",
    ];
    let mut with_out = common.to_vec();
    with_out.extend(["--out", out.to_str().expect("path")]);
    let output = rollout(&with_out);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for task in ["medsynth/lesion-count-v1", "shapes/color-v1"] {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(task))
            .unwrap_or_else(|| panic!("no line for {task}: {stdout}"));
        assert_eq!(line.split_whitespace().nth(1), Some("6"), "{line}");
    }
    let written = std::fs::read_to_string(&out).expect("read --out");
    let lines: Vec<serde_json::Value> = written
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 12);
    for line in &lines {
        let tokens = line["response_ids"].as_array().expect("ids").len();
        assert!((1..=6).contains(&tokens), "{line}");
        assert_eq!(
            line["sampler_logprobs"].as_array().map(Vec::len),
            Some(tokens)
        );
        assert!(line["breakdown"]["outcome"].is_string(), "{line}");
    }
    let out_again = dir.path().join("again.jsonl");
    let mut again = common.to_vec();
    again.extend(["--out", out_again.to_str().expect("path")]);
    assert!(rollout(&again).status.success());
    let tokens = |path: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).expect("json")["response_ids"]
                    .clone()
            })
            .collect()
    };
    assert_eq!(tokens(&out), tokens(&out_again), "same seed, same rollouts");
}

#[test]
fn refusals_name_what_is_wrong() {
    let text_only = fixture("qwen2_tied");
    let output = rollout(&[
        "--model",
        text_only.to_str().expect("path"),
        "--task",
        "medsynth/lesion-count-v1",
        "--items",
        "1",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no vision tower"), "{stderr}");
    let output = rollout(&[
        "--model",
        text_only.to_str().expect("path"),
        "--task",
        "clinical/no-such-task",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("clinical/no-such-task"), "{stderr}");
    let output = rollout(&["--model", "/nonexistent/checkpoint", "--items", "1"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/checkpoint"), "{stderr}");
}

#[test]
fn bad_settings_are_refused_by_flag_and_leave_out_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("kept.jsonl");
    std::fs::write(&out, "earlier results\n").expect("write");
    let model = fixture("qwen25vl");
    let base = [
        "--model",
        model.to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
    ];
    for (extra, flag) in [
        (["--items", "0"], "--items"),
        (["--group-size", "0"], "--group-size"),
        (["--max-new-tokens", "0"], "--max-new-tokens"),
        (["--top-p", "1.5"], "--top-p"),
        (["--task", "clinical/no-such-task"], "clinical/no-such-task"),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        let output = rollout(&args);
        assert!(!output.status.success(), "{extra:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flag), "{extra:?}: {stderr}");
        assert_eq!(
            std::fs::read_to_string(&out).expect("read"),
            "earlier results\n",
            "{extra:?}"
        );
    }
    // A failure during the rollouts (an image task on a text-only checkpoint) leaves it too.
    let text_only = fixture("qwen2_tied");
    let output = rollout(&[
        "--model",
        text_only.to_str().expect("path"),
        "--task",
        "clinical/bmi-v1",
        "--task",
        "medsynth/lesion-count-v1",
        "--items",
        "1",
        "--max-new-tokens",
        "2",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert!(!output.status.success());
    assert_eq!(
        std::fs::read_to_string(&out).expect("read"),
        "earlier results\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}
