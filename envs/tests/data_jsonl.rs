//! The generic JSONL task format: loading, bad rows, task ids and the tasks file.

use std::path::Path;

use medgym_envs::data::{BenchmarkConfig, DataFormat, OnError};
use medgym_envs::rewards::AnswerType;
use medgym_envs::{ItemImage, Split};

fn write_png(path: &Path, shade: u8) {
    image::GrayImage::from_pixel(6, 4, image::Luma([shade]))
        .save(path)
        .expect("write png");
}

/// A folder with img/a.png, img/b.png and a JSONL file made of `lines`.
fn dataset(lines: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("img")).expect("mkdir");
    write_png(&dir.path().join("img/a.png"), 10);
    write_png(&dir.path().join("img/b.png"), 200);
    let path = dir.path().join("tasks.jsonl");
    std::fs::write(&path, lines.join("\n")).expect("write jsonl");
    (dir, path)
}

const GOOD: [&str; 4] = [
    r#"{"id": "q1", "images": ["img/a.png"], "question": "Is there a lesion?", "answer": "yes", "answer_type": "yes_no", "split": "train", "meta": {"organ": "liver"}}"#,
    r#"{"id": "q2", "images": ["img/a.png", "img/b.png"], "question": "Which is brighter?", "answer": "B", "answer_type": "multiple_choice", "options": {"A": "first", "B": "second"}, "split": "test"}"#,
    r#"{"id": "q3", "images": [], "question": "How many lobes has the right lung?", "answer": 3, "answer_type": "numeric", "split": "test"}"#,
    r#"{"id": "q4", "images": ["img/b.png"], "question": "What organ is shown?", "answer": "liver", "answer_type": "open"}"#,
];

#[test]
fn valid_lines_load_with_lazy_images_and_rendered_prompts() {
    let (_dir, path) = dataset(&GOOD);
    let mut dataset = BenchmarkConfig::new(&path, DataFormat::Jsonl)
        .load()
        .expect("load");
    assert_eq!(dataset.records.len(), 4);
    assert!(dataset.problems.is_empty());
    assert_eq!(dataset.counts_by_split().get(&Split::Train), Some(&2));
    assert_eq!(dataset.counts_by_split().get(&Split::Eval), Some(&2));
    assert_eq!(
        dataset
            .counts_by_answer_type()
            .get(&AnswerType::MultipleChoice),
        Some(&1)
    );
    let mc = &dataset.records[1];
    assert_eq!(mc.images.len(), 2);
    assert!(matches!(&mc.images[1], ItemImage::File { path } if path.ends_with("img/b.png")));
    assert!(
        mc.prompt.contains("Options: \nA. first\nB. second"),
        "{}",
        mc.prompt
    );
    assert!(mc
        .prompt
        .ends_with("Answer with the option's letter from the given choices directly."));
    assert_eq!(
        dataset.records[0].meta.get("organ"),
        Some(&serde_json::json!("liver"))
    );
    assert_eq!(dataset.records[2].reference.answer(), "3");
    assert!(dataset.records[0]
        .prompt
        .ends_with("Please output 'yes' or 'no'(no extra output)."));
    dataset.verify_images(OnError::Fail).expect("images decode");
    assert_eq!(dataset.records.len(), 4);
}

#[test]
fn each_kind_of_bad_line_names_file_line_and_field() {
    let cases: [(&str, &str); 8] = [
        (
            r#"{"id": "x", "images": ["img/missing.png"], "question": "q?", "answer": "yes", "answer_type": "yes_no"}"#,
            "images[0]",
        ),
        (
            r#"{"id": "x", "images": [], "question": "q?", "answer": "yes", "answer_type": "yes_no""#,
            "json",
        ),
        (
            r#"{"id": "x", "images": [], "answer": "yes", "answer_type": "yes_no"}"#,
            "question",
        ),
        (
            r#"{"id": "x", "images": [], "question": "q?", "answer": "E", "answer_type": "multiple_choice", "options": {"A": "a", "B": "b"}}"#,
            "answer",
        ),
        (
            r#"{"id": "x", "images": [], "question": "q?", "answer": "maybe", "answer_type": "yes_no"}"#,
            "answer",
        ),
        (
            r#"{"id": "x", "images": [], "question": "q?", "answer": "a", "answer_type": "essay"}"#,
            "answer_type",
        ),
        (
            r#"{"id": "x", "images": [], "question": "q?", "answer": "a", "answer_type": "open", "split": "holdout"}"#,
            "split",
        ),
        (
            r#"{"id": "x", "images": "img/a.png", "question": "q?", "answer": "a", "answer_type": "open"}"#,
            "images",
        ),
    ];
    for (line, field) in cases {
        let (_dir, path) = dataset(&[GOOD[0], line]);
        let error = BenchmarkConfig::new(&path, DataFormat::Jsonl)
            .load()
            .expect_err(line);
        let text = error.to_string();
        assert!(
            text.contains(&format!("{}:line 2: field `{field}`", path.display())),
            "{text}"
        );
    }
}

#[test]
fn skip_mode_keeps_good_lines_and_reports_every_bad_one() {
    let lines = [
        GOOD[0],
        r#"{"id": "bad1", "images": ["img/nope.png"], "question": "q?", "answer": "yes", "answer_type": "yes_no"}"#,
        GOOD[1],
        "not json at all",
        GOOD[2],
        r#"{"id": "bad3", "images": [], "question": "q?", "answer": "Z", "answer_type": "multiple_choice", "options": {"A": "a"}}"#,
        GOOD[3],
    ];
    let (_dir, path) = dataset(&lines);
    let mut config = BenchmarkConfig::new(&path, DataFormat::Jsonl);
    config.on_error = OnError::Skip;
    let dataset = config.load().expect("load");
    assert_eq!(dataset.records.len(), 4);
    let located: Vec<(String, String)> = dataset
        .problems
        .iter()
        .map(|p| (p.location.clone(), p.field.clone()))
        .collect();
    assert_eq!(
        located,
        vec![
            ("line 2".to_string(), "images[0]".to_string()),
            ("line 4".to_string(), "json".to_string()),
            ("line 6".to_string(), "answer".to_string()),
        ]
    );
}

#[test]
fn truncated_png_is_reported_when_images_are_verified() {
    let (dir, path) = dataset(&GOOD);
    let bytes = std::fs::read(dir.path().join("img/b.png")).expect("read");
    std::fs::write(dir.path().join("img/b.png"), &bytes[..bytes.len() / 2]).expect("truncate");
    let mut dataset = BenchmarkConfig::new(&path, DataFormat::Jsonl)
        .load()
        .expect("load");
    let error = dataset.verify_images(OnError::Fail).expect_err("truncated");
    assert!(
        error.to_string().contains("line 2: field `images[1]`"),
        "{error}"
    );

    let mut dataset = BenchmarkConfig::new(&path, DataFormat::Jsonl)
        .load()
        .expect("load");
    dataset.verify_images(OnError::Skip).expect("skip");
    assert_eq!(dataset.records.len(), 2, "q2 and q4 use b.png");
    assert_eq!(dataset.problems.len(), 2);
}

#[test]
fn jsonl_task_id_serves_items_through_the_registry() {
    let (_dir, path) = dataset(&GOOD);
    let id = format!("jsonl:{}", path.display());
    let task = medgym_envs::task(&id).expect("task");
    let first = task.item(Split::Eval, 0, 0).expect("item");
    assert_eq!(first.meta.get("dataset_id"), Some(&serde_json::json!("q2")));
    assert_eq!(
        first.reference_response,
        "<think></think><answer>B</answer>"
    );
    let wrapped = task.item(Split::Eval, 0, 2).expect("wrapped");
    assert_eq!(
        wrapped.meta.get("dataset_id"),
        Some(&serde_json::json!("q2"))
    );
    let a = task.item(Split::Train, 5, 0).expect("train");
    let b = task.item(Split::Train, 5, 0).expect("train");
    assert_eq!(a.question, b.question);
    assert!((task.chance() - (0.5 + 0.5) / 4.0).abs() < 1e-9);
    assert!(medgym_envs::task("jsonl:/nonexistent/file.jsonl").is_err());
}

#[test]
fn tasks_file_names_datasets() {
    let (dir, _path) = dataset(&GOOD);
    let toml_path = dir.path().join("tasks.toml");
    std::fs::write(
        &toml_path,
        "[tasks.my-task]\npath = \"tasks.jsonl\"\nprompt_style = \"plain\"\n\n[tasks.broken]\npath = \"x\"\nformat = \"nope\"\n",
    )
    .expect("write toml");
    let error = medgym_envs::data::read_tasks_file(&toml_path).expect_err("bad format");
    assert!(error.to_string().contains("[tasks.broken]"), "{error}");
    std::fs::write(
        &toml_path,
        "[tasks.my-task]\npath = \"tasks.jsonl\"\nprompt_style = \"plain\"\n",
    )
    .expect("write toml");
    let configs = medgym_envs::data::read_tasks_file(&toml_path).expect("read");
    let dataset = configs["my-task"].load().expect("load");
    assert_eq!(dataset.records.len(), 4);
    assert_eq!(dataset.records[0].prompt, "Is there a lesion?");
}

/// Loads 50,000 lines referencing two PNGs and prints the time (images are decoded lazily).
#[test]
fn fifty_thousand_lines_load() {
    let line = GOOD[1];
    let lines: Vec<&str> = std::iter::repeat_n(line, 50_000).collect();
    let (_dir, path) = dataset(&lines);
    let started = std::time::Instant::now();
    let dataset = BenchmarkConfig::new(&path, DataFormat::Jsonl)
        .load()
        .expect("load");
    let elapsed = started.elapsed();
    assert_eq!(dataset.records.len(), 50_000);
    println!(
        "loaded 50000 JSONL items with 2 images each in {:.3}s",
        elapsed.as_secs_f64()
    );
}
