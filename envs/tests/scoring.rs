//! Reference responses score as correct and answers are balanced.

mod common;

use std::collections::BTreeMap;

use common::{get_task, MEDSYNTH_IDS};
use medgym_envs::rewards::{AnswerType, Rubric};
use medgym_envs::Split;

#[test]
fn reference_responses_are_correct_and_well_formatted() {
    let rubric = Rubric::standard();
    for id in MEDSYNTH_IDS {
        let task = get_task(id);
        for index in 0..200 {
            let item = task.item(Split::Train, 11, index).unwrap();
            assert_eq!(
                item.reference_response,
                format!(
                    "<think>{}</think><answer>{}</answer>",
                    item.reference_cot,
                    item.reference.answer()
                )
            );
            let breakdown = rubric.score(&item.reference_response, &item.reference);
            assert!(breakdown.correct, "{id} {index}: {breakdown:?}");
            assert!(breakdown.format_ok, "{id} {index}: {breakdown:?}");
            let via_task = task.score(&item, &item.reference_response);
            assert_eq!(via_task.total, breakdown.total);
        }
    }
}

#[test]
fn a_wrong_answer_is_not_correct() {
    let task = get_task("medsynth/lesion-presence-v1");
    for index in 0..20 {
        let item = task.item(Split::Eval, 0, index).unwrap();
        let wrong = if item.reference.answer() == "yes" {
            "no"
        } else {
            "yes"
        };
        let response = format!(
            "<think>{}</think><answer>{wrong}</answer>",
            item.reference_cot
        );
        assert!(!task.score(&item, &response).correct, "{}", item.id);
    }
}

#[test]
fn reasoning_is_short() {
    for id in MEDSYNTH_IDS {
        let task = get_task(id);
        for index in 0..200 {
            let item = task.item(Split::Train, 5, index).unwrap();
            let words = item.reference_cot.split_whitespace().count();
            assert!(
                words <= 20,
                "{id}: {words} words in {:?}",
                item.reference_cot
            );
            assert!(
                !item.reference_cot.contains('<'),
                "{:?}",
                item.reference_cot
            );
        }
    }
}

fn answer_histogram(id: &str, items: u64) -> BTreeMap<String, u64> {
    let task = get_task(id);
    let mut histogram = BTreeMap::new();
    for index in 0..items {
        let item = task.item(Split::Train, 2024, index).unwrap();
        *histogram
            .entry(item.reference.answer().to_owned())
            .or_insert(0) += 1;
    }
    histogram
}

fn assert_balanced(id: &str, expected_answers: &[&str]) {
    let items = 400;
    let histogram = answer_histogram(id, items);
    let answers: Vec<&str> = histogram.keys().map(String::as_str).collect();
    assert_eq!(answers, expected_answers, "{id}: {histogram:?}");
    let fair_share = items as f64 / expected_answers.len() as f64;
    for (answer, count) in &histogram {
        let share = *count as f64 / fair_share;
        assert!(
            (0.75..=1.25).contains(&share),
            "{id}: answer {answer} appears {count} times of {items}: {histogram:?}"
        );
    }
}

#[test]
fn answers_are_balanced() {
    assert_balanced("medsynth/lesion-presence-v1", &["no", "yes"]);
    assert_balanced("medsynth/lesion-count-v1", &["A", "B", "C", "D"]);
    assert_balanced("medsynth/lesion-side-v1", &["left", "right"]);
    assert_balanced("medsynth/modality-v1", &["ct", "mri", "x-ray"]);
}

#[test]
fn chance_matches_the_answer_space() {
    let expected = [
        ("medsynth/lesion-count-v1", 0.25, AnswerType::MultipleChoice),
        ("medsynth/lesion-presence-v1", 0.5, AnswerType::YesNo),
        ("medsynth/lesion-side-v1", 0.5, AnswerType::Open),
        ("medsynth/modality-v1", 1.0 / 3.0, AnswerType::Open),
    ];
    for (id, chance, answer_type) in expected {
        let task = get_task(id);
        assert!((task.chance() - chance).abs() < 1e-12, "{id}");
        assert_eq!(task.spec().answer_type, answer_type, "{id}");
        let item = task.item(Split::Train, 0, 0).unwrap();
        assert_eq!(item.reference.answer_type, answer_type, "{id}");
    }
}

#[test]
fn count_question_lists_fixed_options() {
    let task = get_task("medsynth/lesion-count-v1");
    let item = task.item(Split::Train, 0, 0).unwrap();
    assert_eq!(
        item.question,
        "How many lesions are in this scan?\nA. 0\nB. 1\nC. 2\nD. 3"
    );
    let options: Vec<(&str, &str)> = item
        .reference
        .options()
        .iter()
        .map(|(letter, text)| (letter.as_str(), text.as_str()))
        .collect();
    assert_eq!(options, [("A", "0"), ("B", "1"), ("C", "2"), ("D", "3")]);
}
