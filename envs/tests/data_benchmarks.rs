//! Benchmark loaders on small fixtures in each benchmark's native layout (envs/tests/fixtures).

use std::path::PathBuf;

use medgym_envs::data::{Benchmark, BenchmarkConfig, DataFormat, Dataset, OnError, PromptStyle};
use medgym_envs::rewards::AnswerType;
use medgym_envs::{ItemImage, Split};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(name: &str, benchmark: Benchmark) -> Dataset {
    let mut dataset = BenchmarkConfig::new(fixture(name), DataFormat::Benchmark(benchmark))
        .load()
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    dataset
        .verify_images(OnError::Fail)
        .unwrap_or_else(|error| panic!("{name} images: {error}"));
    dataset
}

fn count(dataset: &Dataset, kind: AnswerType) -> usize {
    dataset
        .counts_by_answer_type()
        .get(&kind)
        .copied()
        .unwrap_or(0)
}

#[test]
fn vqa_rad_original_json_uses_phrase_type_for_the_split() {
    let dataset = load("vqa-rad-json", Benchmark::VqaRad);
    assert_eq!(dataset.records.len(), 8);
    assert_eq!(dataset.counts_by_split().get(&Split::Eval), Some(&3));
    let first = &dataset.records[0];
    assert_eq!(first.question, "Are regions of the brain infarcted?");
    assert_eq!(first.reference.answer_type, AnswerType::YesNo);
    assert_eq!(
        first.meta.get("image_organ"),
        Some(&serde_json::json!("HEAD"))
    );
    // the row whose answer is a JSON integer
    let numeric = dataset.records.last().expect("row");
    assert!(
        numeric.reference.answer().parse::<i64>().is_ok(),
        "{}",
        numeric.reference.answer()
    );
    assert_eq!(numeric.reference.answer_type, AnswerType::Open);
}

#[test]
fn vqa_rad_mevf_split_files_and_parquet_load() {
    let mevf = load("vqa-rad-mevf", Benchmark::VqaRad);
    assert_eq!(mevf.counts_by_split().get(&Split::Train), Some(&3));
    assert_eq!(mevf.counts_by_split().get(&Split::Eval), Some(&3));
    let parquet = load("vqa-rad-parquet", Benchmark::VqaRad);
    assert_eq!(parquet.records.len(), 5);
    assert_eq!(parquet.counts_by_split().get(&Split::Eval), Some(&2));
    assert!(matches!(
        parquet.records[0].images[0],
        ItemImage::Encoded { .. }
    ));
    assert!(count(&parquet, AnswerType::YesNo) >= 1);
    let mut config = BenchmarkConfig::new(
        fixture("vqa-rad-parquet"),
        DataFormat::Benchmark(Benchmark::VqaRad),
    );
    config.split = Some(Split::Eval);
    assert_eq!(config.load().expect("load").records.len(), 2);
}

#[test]
fn slake_reads_three_splits_and_filters_by_language() {
    let all = load("slake", Benchmark::Slake);
    assert_eq!(all.records.len(), 15);
    assert_eq!(all.counts_by_split().get(&Split::Train), Some(&5));
    assert!(all
        .records
        .iter()
        .any(|r| r.language.as_deref() == Some("zh")));
    let chinese = all
        .records
        .iter()
        .find(|r| r.language.as_deref() == Some("zh"))
        .expect("zh row");
    assert!(chinese.prompt.contains('请'), "{}", chinese.prompt);
    let mut config =
        BenchmarkConfig::new(fixture("slake"), DataFormat::Benchmark(Benchmark::Slake));
    config.q_lang = Some("en".into());
    config.split = Some(Split::Eval);
    let english = config.load().expect("load");
    assert_eq!(english.records.len(), 6);
    assert!(english
        .records
        .iter()
        .all(|r| r.language.as_deref() == Some("en")));
    let modality = english
        .records
        .iter()
        .find(|r| r.question.starts_with("What modality"))
        .expect("row");
    assert_eq!(modality.reference.answer_type, AnswerType::Open);
}

#[test]
fn path_vqa_parquet_has_three_splits() {
    let dataset = load("path-vqa", Benchmark::PathVqa);
    assert_eq!(dataset.records.len(), 9);
    assert_eq!(dataset.counts_by_split().get(&Split::Train), Some(&3));
    assert_eq!(dataset.counts_by_split().get(&Split::Eval), Some(&6));
    assert!(count(&dataset, AnswerType::YesNo) >= 1);
    assert!(count(&dataset, AnswerType::Open) >= 1);
}

#[test]
fn pmc_vqa_reads_both_csv_layouts() {
    let v1 = load("pmc-vqa-v1", Benchmark::PmcVqa);
    assert_eq!(v1.records.len(), 2);
    let first = &v1.records[0];
    assert_eq!(first.reference.answer(), "B");
    assert_eq!(first.reference.options()["B"], "Focal uptake pattern");
    assert_eq!(v1.records[1].reference.options()["A"], "Left");
    let v2 = load("pmc-vqa-v2", Benchmark::PmcVqa);
    assert_eq!(v2.records.len(), 2);
    assert_eq!(v2.records[1].reference.answer(), "C");
    assert_eq!(
        v2.records[1].meta.get("caption"),
        Some(&serde_json::json!("A caption, with a comma."))
    );
}

#[test]
fn omnimedvqa_turns_answer_text_into_the_option_letter() {
    let dataset = load("omnimedvqa", Benchmark::OmniMedVqa);
    assert_eq!(dataset.records.len(), 2);
    assert_eq!(dataset.records[0].reference.answer(), "D");
    assert_eq!(dataset.records[1].reference.answer(), "B");
    assert_eq!(dataset.records[1].reference.options().len(), 2);
    assert_eq!(
        dataset.records[1].meta.get("modality_type"),
        Some(&serde_json::json!("X-Ray"))
    );
    assert!(dataset.records.iter().all(|r| r.split == Split::Eval));
}

#[test]
fn mmmu_parses_stringified_options_and_keeps_every_image() {
    let dataset = load("mmmu-med", Benchmark::Mmmu);
    assert_eq!(dataset.records.len(), 3);
    let first = &dataset.records[0];
    assert_eq!(first.key, "validation_Clinical_Medicine_1");
    assert_eq!(first.reference.answer(), "A");
    assert_eq!(first.reference.options().len(), 6);
    assert_eq!(first.reference.options()["F"], "Proteinuria");
    assert_eq!(dataset.records[1].images.len(), 2);
    let open = &dataset.records[2];
    assert_eq!(open.reference.answer_type, AnswerType::Numeric);
    assert_eq!(open.reference.answer(), "3");
}

#[test]
fn medxpertqa_reads_both_row_layouts_with_five_options() {
    let dataset = load("medxpertqa-mm", Benchmark::MedXpertQa);
    assert_eq!(dataset.records.len(), 3);
    for record in &dataset.records {
        assert_eq!(record.reference.options().len(), 5);
        assert!(!record.question.contains("Answer Choices:"));
        assert!(record.prompt.contains("\nE. "), "{}", record.prompt);
    }
    assert_eq!(dataset.records[2].reference.answer(), "C");
    assert!(dataset.records.iter().any(|r| r.images.len() > 1));
}

#[test]
fn prompt_styles_change_the_instruction() {
    let mut config = BenchmarkConfig::new(
        fixture("pmc-vqa-v2"),
        DataFormat::Benchmark(Benchmark::PmcVqa),
    );
    config.prompt_style = PromptStyle::MedEvalKitBoxed;
    let boxed = config.load().expect("load");
    assert!(boxed.records[0]
        .prompt
        .ends_with("put the letter in one \"\\boxed{}\"."));
    config.prompt_style = PromptStyle::Plain;
    let plain = config.load().expect("load");
    assert!(
        plain.records[0].prompt.ends_with("D. Ultrasound"),
        "{}",
        plain.records[0].prompt
    );
}

/// Copies a fixture folder into a temp dir so a test can break it.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read dir") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).expect("copy");
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    copy(&fixture(name), dir.path());
    dir
}

#[test]
fn bad_benchmark_rows_name_file_row_and_field() {
    // CSV: missing column, answer letter not among the options, malformed row
    let dir = copy_fixture("pmc-vqa-v2");
    let csv = dir.path().join("test_2.csv");
    std::fs::write(
        &csv,
        "index,Figure_path,Caption,Question,Choice A,Choice B,Choice C,Choice D,Answer,split\n\
         0,synthetic_2.jpg,c,q?,A:x,B:y,C:z,D:w,F,test\n\
         1,synthetic_3.jpg,c,q?,A:x,B:y,C:z,D:w\n\
         2,missing.jpg,c,q?,A:x,B:y,C:z,D:w,A,test\n",
    )
    .expect("write");
    let mut config = BenchmarkConfig::new(dir.path(), DataFormat::Benchmark(Benchmark::PmcVqa));
    let error = config.load().expect_err("bad letter");
    assert!(
        error
            .to_string()
            .contains("test_2.csv:line 2: field `Answer`"),
        "{error}"
    );
    config.on_error = OnError::Skip;
    let dataset = config.load().expect("skip");
    assert!(dataset.records.is_empty());
    let fields: Vec<(&str, &str)> = dataset
        .problems
        .iter()
        .map(|p| (p.location.as_str(), p.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("line 2", "Answer"),
            ("line 3", "csv"),
            ("line 4", "Figure_path")
        ]
    );

    let dir = copy_fixture("pmc-vqa-v1");
    std::fs::write(dir.path().join("test.csv"), "Figure_path,Question,Choice A,Choice B,Choice C,Choice D,Answer_label\nPMC1064097_F1.jpg,q,A:a,B:b,C:c,D:d,B\n").expect("write");
    let mut config = BenchmarkConfig::new(dir.path(), DataFormat::Benchmark(Benchmark::PmcVqa));
    config.on_error = OnError::Skip;
    assert_eq!(
        config.load().expect("load").records.len(),
        1,
        "Answer text column is optional"
    );
    std::fs::write(dir.path().join("test.csv"), "Figure_path,Choice A,Choice B,Choice C,Choice D,Answer_label\nPMC1064097_F1.jpg,A:a,B:b,C:c,D:d,B\n").expect("write");
    let error = BenchmarkConfig::new(dir.path(), DataFormat::Benchmark(Benchmark::PmcVqa))
        .load()
        .expect_err("no Question column");
    assert!(
        error
            .to_string()
            .contains("test.csv:line 2: field `Question`: missing column"),
        "{error}"
    );

    // malformed SLAKE JSON file: named with its line and column, other files still load in skip mode
    let dir = copy_fixture("slake");
    std::fs::write(dir.path().join("test.json"), "[{\"qid\": 1,,]").expect("write");
    let mut config = BenchmarkConfig::new(dir.path(), DataFormat::Benchmark(Benchmark::Slake));
    let error = config.load().expect_err("malformed");
    assert!(
        error.to_string().contains("test.json:line 1 column"),
        "{error}"
    );
    config.on_error = OnError::Skip;
    let dataset = config.load().expect("skip");
    assert_eq!(dataset.records.len(), 10);
    assert_eq!(dataset.problems.len(), 1);

    // OmniMedVQA answer text that matches no option
    let dir = copy_fixture("omnimedvqa");
    let json = dir.path().join("QA_information/Open-access/MIAS.json");
    let text = std::fs::read_to_string(&json)
        .expect("read")
        .replace("\"Benign\",", "\"Unclear\",");
    std::fs::write(&json, text).expect("write");
    let error = BenchmarkConfig::new(dir.path(), DataFormat::Benchmark(Benchmark::OmniMedVqa))
        .load()
        .expect_err("bad gt");
    assert!(
        error
            .to_string()
            .contains("MIAS.json:row 1: field `gt_answer`"),
        "{error}"
    );
}

#[test]
fn benchmark_ids_resolve_under_a_dataset_root() {
    let root = tempfile::tempdir().expect("tempdir");
    let error = medgym_envs::task("vqa-rad/closed-v1")
        .err()
        .expect("no root yet");
    assert!(error.to_string().contains("dataset root"), "{error}");
    std::fs::create_dir(root.path().join("vqa-rad")).expect("mkdir");
    std::fs::create_dir(root.path().join("vqa-rad/data")).expect("mkdir");
    for split in ["train", "test"] {
        let name = format!("{split}-00000-of-00001.parquet");
        std::fs::copy(
            fixture("vqa-rad-parquet/data").join(&name),
            root.path().join("vqa-rad/data").join(&name),
        )
        .expect("copy");
    }
    medgym_envs::data::set_dataset_root(root.path()).expect("set root");
    let task = medgym_envs::task("vqa-rad/closed-v1").expect("task");
    assert_eq!(task.spec().answer_type, AnswerType::YesNo);
    let item = task.item(Split::Eval, 0, 0).expect("item");
    assert_eq!(item.reference.answer_type, AnswerType::YesNo);
    assert!(medgym_envs::data::benchmark_task_ids().contains(&"slake/open-v1"));
}
