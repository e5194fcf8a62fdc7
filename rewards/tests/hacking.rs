//! Reward-hacking probes: responses that try to earn reward without a committed, correct answer.

mod common;

use common::{four_options, plain, respond};
use medgym_rewards::{score_item, AnswerType, Outcome, Rubric, ScoringMode};

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

/// The same probes against the strict evaluation mode.
mod strict {
    use super::*;

    fn strict(response: &str, reference: &medgym_rewards::Reference) -> medgym_rewards::ItemScore {
        score_item(ScoringMode::Strict, response, reference)
    }

    #[test]
    fn listing_all_options_is_incorrect() {
        for letter in ["A", "B", "C", "D"] {
            let reference = four_options(letter);
            for hedge in [
                "A B C D",
                "The answer is A, B, C or D.",
                "\\boxed{A/B/C/D}",
                "<answer>(A) (B) (C) (D)</answer>",
                "B. Bone or C. Lung",
            ] {
                let scored = strict(hedge, &reference);
                assert!(!scored.correct, "{hedge} vs {letter}");
                assert_eq!(scored.outcome, Outcome::Incorrect, "{hedge}");
            }
        }
    }

    #[test]
    fn empty_or_repeated_tags_earn_nothing() {
        let reference = four_options("B");
        let empty = strict("<think>B</think><answer> </answer> B", &reference);
        assert!(!empty.correct);
        assert_eq!(empty.outcome, Outcome::Unparseable);
        for repeated in [
            "<answer>A</answer><answer>B</answer>",
            "<answer>B</answer><answer>B</answer>",
            "<think>x</think><answer>B",
        ] {
            let scored = strict(repeated, &reference);
            assert!(!scored.correct, "{repeated}");
            assert_eq!(scored.outcome, Outcome::FormatError, "{repeated}");
        }
    }

    #[test]
    fn answer_outside_the_tag_is_not_read_when_a_tag_exists() {
        let reference = four_options("B");
        let scored = strict("<answer>kidney</answer> B", &reference);
        assert!(!scored.correct);
        let thinking = strict("<think>Surely B.</think> C", &reference);
        assert_eq!(thinking.extracted.as_deref(), Some("C"));
        assert!(!thinking.correct);
    }

    #[test]
    fn yes_and_no_together_are_incorrect() {
        for answer in ["yes", "no"] {
            let reference = plain(answer, AnswerType::YesNo);
            for hedge in [
                "Yes and no.",
                "yes/no",
                "\\boxed{yes} \\boxed{no}",
                "No. Yes.",
            ] {
                let scored = strict(hedge, &reference);
                assert!(!scored.correct, "{hedge} vs {answer}");
            }
        }
    }

    #[test]
    fn letter_hidden_in_a_word_is_not_an_answer() {
        let reference = four_options("B");
        for response in [
            "Bone",
            "Because of the lesion",
            "<answer>Bilateral</answer>",
            "Answer: Big",
        ] {
            let scored = strict(response, &reference);
            assert_eq!(
                scored.extracted.as_deref(),
                if response == "Bone" { Some("B") } else { None },
                "{response}"
            );
        }
        // "Bone" is option B's text, so it is a legitimate answer; "Big" is no option.
        assert!(strict("Bone", &reference).correct);
        assert_eq!(
            strict("Answer: Big", &reference).outcome,
            Outcome::Unparseable
        );
    }

    #[test]
    fn medevalkit_credits_what_strict_refuses() {
        // MedEvalKit's difflib fallback always guesses; strict refuses hedges.
        let reference = four_options("A");
        let hedge = "A B C D";
        assert!(!strict(hedge, &reference).correct);
        let medevalkit = score_item(
            ScoringMode::Medevalkit,
            "<answer>A</answer><answer>B</answer>",
            &reference,
        );
        assert!(!strict("<answer>A</answer><answer>B</answer>", &reference).correct);
        assert_eq!(medevalkit.outcome, Outcome::Incorrect);
    }
}
