//! `medevalkit` mode agrees with MedEvalKit's `utils.py` on every documented example and on a
//! corpus of responses whose expected results were produced by running MedEvalKit's functions
//! (with CPython's difflib) — `tests/fixtures/medevalkit_cases.jsonl`.

mod common;

use common::{choice_reference, plain};
use medgym_rewards::{medevalkit, score_item, AnswerType, Outcome, ScoringMode};

fn uptake_options(answer: &str) -> medgym_rewards::Reference {
    choice_reference(
        answer,
        &[
            ("A", "Diffuse uptake pattern"),
            ("B", "Focal uptake pattern"),
            ("C", "No uptake"),
            ("D", "Ring-like uptake"),
        ],
    )
}

fn medevalkit_correct(response: &str, reference: &medgym_rewards::Reference) -> bool {
    score_item(ScoringMode::Medevalkit, response, reference).correct
}

#[test]
fn yes_nodule_is_wrong_for_both_references() {
    let response = "Yes, there is a nodule.";
    assert!(!medevalkit_correct(
        response,
        &plain("yes", AnswerType::YesNo)
    ));
    assert!(!medevalkit_correct(
        response,
        &plain("no", AnswerType::YesNo)
    ));
}

#[test]
fn not_visible_counts_as_no() {
    assert!(medevalkit_correct(
        "not visible",
        &plain("no", AnswerType::YesNo)
    ));
    assert!(!medevalkit_correct(
        "not visible",
        &plain("yes", AnswerType::YesNo)
    ));
}

#[test]
fn the_answer_is_yes_reads_yes() {
    assert!(medevalkit_correct(
        "The answer is yes",
        &plain("yes", AnswerType::YesNo)
    ));
}

#[test]
fn multiple_choice_spellings_marked_correct() {
    let reference = uptake_options("B");
    for response in [
        "B",
        "b.",
        "(B)",
        "\\boxed{B}",
        "The answer is B.",
        "Focal uptake pattern",
        "<answer>B</answer>",
    ] {
        assert!(medevalkit_correct(response, &reference), "{response}");
    }
}

#[test]
fn answer_colon_c_is_wrong() {
    let scored = score_item(ScoringMode::Medevalkit, "Answer: C", &uptake_options("B"));
    assert!(!scored.correct);
    assert_eq!(scored.extracted.as_deref(), Some("C"));
}

#[test]
fn multiple_choice_fallback_always_guesses() {
    // Nothing names an option, yet difflib picks the most similar one and may be "right".
    let judged = medevalkit::judge_multi_choice(
        &[
            "A. Diffuse uptake pattern".to_owned(),
            "B. Focal uptake pattern".to_owned(),
        ],
        "B",
        "I cannot tell; maybe focal?",
    );
    assert!(judged.guessed && judged.correct);
    assert_eq!(judged.letter, Some('B'));
}

#[test]
fn parse_response_order_and_patterns() {
    assert_eq!(
        medevalkit::parse_response("So \\boxed{B} <answer>C</answer>"),
        "b"
    );
    assert_eq!(medevalkit::parse_response("<answer>C</answer>"), "c");
    assert_eq!(
        medevalkit::parse_response("**Answer**: left lung"),
        " left lung"
    );
    assert_eq!(medevalkit::parse_response("答案:是"), "是");
    // "boxed" without a closed \boxed{ yields mathruler's string "None" (capitalised, after
    // lower-casing).
    assert_eq!(medevalkit::parse_response("I boxed it"), "None");
    assert_eq!(medevalkit::extract_boxed_content("\\boxed{a{b}c"), "None");
}

#[test]
fn close_end_removes_only_newlines_and_dots() {
    let closed = plain("left lung", AnswerType::Closed);
    assert!(medevalkit_correct("Left lung.", &closed));
    assert!(!medevalkit_correct(" left lung", &closed));
    assert!(!medevalkit_correct("left lung!", &closed));
    // The unclosed-box quirk: any text that says "boxed" without a box parses to "None", which
    // no lower-cased reference equals, even "none".
    let none = plain("none", AnswerType::Closed);
    assert!(!medevalkit_correct("the answer should be boxed", &none));
    assert!(medevalkit_correct("none", &none));
}

#[test]
fn open_exact_match_strips_nothing() {
    let open = plain("pleural effusion", AnswerType::Open);
    assert!(medevalkit_correct("Pleural Effusion", &open));
    assert!(!medevalkit_correct("pleural effusion.", &open));
    assert!(!medevalkit_correct(" pleural effusion", &open));
}

#[test]
fn repeated_answer_tags_are_joined() {
    assert_eq!(
        medevalkit::extract_answer_tags("<answer>A</answer> x <answer>B</answer>"),
        "A B"
    );
    assert_eq!(
        medevalkit::extract_answer_tags("<answer></answer>"),
        "<answer></answer>"
    );
}

#[test]
fn medevalkit_outcomes_are_only_correct_or_incorrect() {
    let scored = score_item(
        ScoringMode::Medevalkit,
        "",
        &plain("yes", AnswerType::YesNo),
    );
    assert_eq!(scored.outcome, Outcome::Incorrect);
}

/// One row of the fixture.
#[derive(serde::Deserialize)]
struct Case {
    kind: String,
    answer: String,
    #[serde(default)]
    choices: Vec<String>,
    response: String,
    expected: bool,
}

#[test]
fn agrees_with_medevalkit_on_the_generated_corpus() {
    let text = include_str!("fixtures/medevalkit_cases.jsonl");
    let mut checked = 0;
    for (line_number, line) in text.lines().enumerate() {
        let case: Case = match serde_json::from_str(line) {
            Ok(case) => case,
            Err(err) => panic!("fixture line {}: {err}", line_number + 1),
        };
        let got = match case.kind.as_str() {
            "mc" => {
                let tagged = medevalkit::extract_answer_tags(&case.response);
                medevalkit::judge_multi_choice(&case.choices, &case.answer, &tagged).correct
            }
            "yes_no" => medevalkit::judge_judgement(&case.answer, &case.response),
            "closed" => medevalkit::judge_close_end_vqa(&case.answer, &case.response),
            "open" => medevalkit::judge_open_end_vqa_em(&case.answer, &case.response),
            other => panic!("fixture line {}: unknown kind {other}", line_number + 1),
        };
        assert_eq!(
            got,
            case.expected,
            "fixture line {}: {} {:?} -> {:?}",
            line_number + 1,
            case.kind,
            case.answer,
            case.response
        );
        checked += 1;
    }
    assert_eq!(checked, 700);
}

/// Every strict-versus-MedEvalKit difference listed in README.md, with its example.
#[test]
fn readme_differences_hold() {
    let uptake = uptake_options;
    let cases: Vec<(&str, medgym_rewards::Reference, bool, Outcome)> = vec![
        (
            "Yes, there is a nodule.",
            plain("yes", AnswerType::YesNo),
            false,
            Outcome::Correct,
        ),
        (
            "Absent.",
            plain("no", AnswerType::YesNo),
            false,
            Outcome::Correct,
        ),
        (
            "\\boxed{yes} or rather \\boxed{no}",
            plain("no", AnswerType::YesNo),
            true,
            Outcome::Incorrect,
        ),
        ("A, B, C or D", uptake("C"), true, Outcome::Incorrect),
        ("B. No uptake", uptake("B"), true, Outcome::Incorrect),
        (
            "<answer>A</answer><answer>B</answer>",
            uptake("A"),
            true,
            Outcome::FormatError,
        ),
        (
            "Computed tomography",
            plain("CT", AnswerType::Closed),
            false,
            Outcome::Correct,
        ),
        (
            " left",
            plain("left", AnswerType::Closed),
            false,
            Outcome::Correct,
        ),
        (
            "Pleural effusion.",
            plain("pleural effusion", AnswerType::Open),
            false,
            Outcome::Correct,
        ),
        (
            "0.5 g",
            plain("500 mg", AnswerType::Numeric),
            false,
            Outcome::Correct,
        ),
    ];
    for (response, reference, medevalkit_correct, strict_outcome) in cases {
        let medevalkit = score_item(ScoringMode::Medevalkit, response, &reference);
        let strict = score_item(ScoringMode::Strict, response, &reference);
        assert_eq!(
            medevalkit.correct, medevalkit_correct,
            "medevalkit {response:?}"
        );
        assert_eq!(strict.outcome, strict_outcome, "strict {response:?}");
    }
}
