//! `medgym data check` on a generic JSONL dataset with five broken lines.

use std::process::Command;

const GOOD: &str = r#"{"id": "ok", "images": ["img/a.png"], "question": "Is there a lesion?", "answer": "yes", "answer_type": "yes_no", "split": "train"}"#;

#[test]
fn data_check_reports_every_broken_line_and_loads_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("img")).expect("mkdir");
    // a 1x1 grayscale PNG
    let png: [u8; 67] = [
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3a,
        0x7e, 0x9b, 0x55, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60,
        0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x48, 0xaf, 0xa4, 0x71, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    std::fs::write(dir.path().join("img/a.png"), png).expect("png");
    std::fs::write(dir.path().join("img/cut.png"), &png[..40]).expect("truncated png");
    let broken = [
        r#"{"id": "b1", "images": ["img/missing.png"], "question": "q?", "answer": "yes", "answer_type": "yes_no"}"#,
        r#"{"id": "b2", "images": [], "question": "q?", "answer": "yes", "#,
        r#"{"id": "b3", "images": [], "answer": "left", "answer_type": "closed"}"#,
        r#"{"id": "b4", "images": [], "question": "q?", "answer": "D", "answer_type": "multiple_choice", "options": {"A": "x", "B": "y"}}"#,
        r#"{"id": "b5", "images": ["img/cut.png"], "question": "q?", "answer": "no", "answer_type": "yes_no", "split": "test"}"#,
    ];
    let mut lines = Vec::new();
    for bad in broken {
        lines.push(GOOD);
        lines.push(bad);
    }
    lines.push(GOOD);
    let path = dir.path().join("data.jsonl");
    std::fs::write(&path, lines.join("\n")).expect("jsonl");

    let output = Command::new(env!("CARGO_BIN_EXE_medgym"))
        .args(["data", "check"])
        .arg(&path)
        .args(["--format", "jsonl", "--on-error", "skip"])
        .output()
        .expect("run medgym");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("loaded 6 items"), "{stdout}");
    assert!(stdout.contains("split train: 6"), "{stdout}");
    assert!(stdout.contains("problems: 5"), "{stdout}");
    let file = path.display().to_string();
    for (line, field) in [
        (2, "images[0]"),
        (4, "json"),
        (6, "question"),
        (8, "answer"),
        (10, "images[0]"),
    ] {
        let expected = format!("{file}:line {line}: field `{field}`");
        assert!(
            stdout.contains(&expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }

    let failing = Command::new(env!("CARGO_BIN_EXE_medgym"))
        .args(["data", "check"])
        .arg(&path)
        .args(["--format", "jsonl"])
        .output()
        .expect("run medgym");
    assert!(!failing.status.success());
    assert!(String::from_utf8_lossy(&failing.stderr).contains(":line 2: field `images[0]`"));
}
