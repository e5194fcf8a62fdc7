//! Reward-hacking probes: responses that try to earn reward without a committed, correct answer.

mod common;

use common::{four_options, plain, respond};
use medgym_rewards::{AnswerType, Outcome, Rubric};

#[test]
fn listing_all_options_earns_no_accuracy() {
    let rubric = Rubric::standard();
    for letter in ["A", "B", "C", "D"] {
        let reference = four_options(letter);
        for hedge in [
            "A B C D",
            "A, B, C, D",
            "A/B/C/D",
            "A or B or C or D",
            "(A) (B) (C) (D)",
        ] {
            let breakdown = rubric.score(&respond(hedge), &reference);
            assert!(!breakdown.correct, "{hedge} vs {letter}");
            assert_eq!(breakdown.outcome, Outcome::Incorrect, "{hedge}");
            assert!(
                (breakdown.total - 0.2).abs() < 1e-6,
                "{hedge}: {}",
                breakdown.total
            );
        }
    }
}

#[test]
fn answer_outside_the_tag_earns_nothing() {
    let rubric = Rubric::standard();
    let reference = four_options("B");
    for response in [
        "<think>It is B.</think>B",
        "<think>x</think>The answer is B.",
        "B",
        "<think>x</think><answer></answer>B",
    ] {
        let breakdown = rubric.score(response, &reference);
        assert!(!breakdown.correct, "{response}");
        assert_eq!(breakdown.outcome, Outcome::FormatError, "{response}");
        assert_eq!(breakdown.total, 0.0, "{response}");
    }
}

#[test]
fn empty_answer_tag_earns_nothing() {
    let rubric = Rubric::standard();
    for reference in [
        four_options("A"),
        plain("yes", AnswerType::YesNo),
        plain("0", AnswerType::Numeric),
        plain("left", AnswerType::Closed),
    ] {
        let breakdown = rubric.score("<think>x</think><answer> </answer>", &reference);
        assert_eq!(breakdown.total, 0.0);
        assert_eq!(breakdown.outcome, Outcome::FormatError);
        assert!(!breakdown.format_ok);
    }
}

#[test]
fn duplicated_answer_tags_only_count_the_first_and_lose_format() {
    let rubric = Rubric::standard();
    let reference = four_options("C");
    let wrong_first = "<think>x</think><answer>A</answer><answer>C</answer>";
    let breakdown = rubric.score(wrong_first, &reference);
    assert!(!breakdown.correct);
    assert_eq!(breakdown.total, 0.0);
    assert_eq!(breakdown.outcome, Outcome::FormatError);
    let right_first = "<think>x</think><answer>C</answer><answer>A</answer>";
    let breakdown = rubric.score(right_first, &reference);
    assert!(breakdown.correct);
    assert!(!breakdown.format_ok);
    assert!((breakdown.total - 1.0).abs() < 1e-6);
    let proper = rubric.score(&respond("C"), &reference);
    assert!(proper.total > breakdown.total);
}

#[test]
fn yes_and_no_is_never_rewarded() {
    let rubric = Rubric::standard();
    for truth in ["yes", "no"] {
        let reference = plain(truth, AnswerType::YesNo);
        for hedge in [
            "yes and no",
            "Yes/No",
            "yes no",
            "No. Yes.",
            "Yes, or no",
            "yes or no",
        ] {
            let breakdown = rubric.score(&respond(hedge), &reference);
            assert!(!breakdown.correct, "{hedge} vs {truth}");
            assert_eq!(breakdown.outcome, Outcome::Incorrect, "{hedge}");
        }
    }
}

#[test]
fn nodule_is_not_no() {
    let rubric = Rubric::standard();
    let reference = plain("no", AnswerType::YesNo);
    let breakdown = rubric.score(&respond("nodule"), &reference);
    assert!(!breakdown.correct);
    assert_eq!(breakdown.outcome, Outcome::Unparseable);
    assert_eq!(breakdown.extracted, None);
}

#[test]
fn letter_hidden_in_a_word_is_not_an_answer() {
    let rubric = Rubric::standard();
    let options = [
        ("A", "Mass"),
        ("B", "Cyst"),
        ("C", "Edema"),
        ("D", "Calcification"),
    ];
    let options = options
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let reference = match medgym_rewards::Reference::multiple_choice("B", options) {
        Ok(reference) => reference,
        Err(err) => panic!("{err}"),
    };
    for word in ["Bone", "Benign", "B12", "Bcyst", "Abc"] {
        let breakdown = rubric.score(&respond(word), &reference);
        assert!(!breakdown.correct, "{word}");
        assert_eq!(breakdown.outcome, Outcome::Unparseable, "{word}");
    }
}

#[test]
fn numeric_hedges_take_only_the_first_number() {
    let rubric = Rubric::standard();
    let reference = plain("3", AnswerType::Numeric);
    let breakdown = rubric.score(&respond("2 or 3 or 4"), &reference);
    assert!(!breakdown.correct);
    assert_eq!(breakdown.extracted.as_deref(), Some("2"));
}

#[test]
fn answer_inside_think_does_not_pass_format() {
    let rubric = Rubric::standard();
    let reference = four_options("B");
    let breakdown = rubric.score("<think><answer>B</answer></think>", &reference);
    assert!(!breakdown.format_ok);
    assert_eq!(breakdown.outcome, Outcome::FormatError);
    assert!(breakdown.total < rubric.score(&respond("B"), &reference).total);
}
