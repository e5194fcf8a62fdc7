//! Answer verification for every answer type.

mod common;

use std::collections::BTreeMap;

use medgym_rewards::{normalize_text, verify_answer, AnswerType, Reference, Verification};

fn choice_reference(answer: &str) -> Reference {
    common::choice_reference(
        answer,
        &[
            ("A", "Liver"),
            ("B", "Bone"),
            ("C", "Left lung"),
            ("D", "Brain"),
        ],
    )
}

fn reference(answer: &str, answer_type: AnswerType) -> Reference {
    match Reference::new(answer, answer_type) {
        Ok(reference) => reference,
        Err(err) => panic!("valid reference rejected: {err}"),
    }
}

fn correct(extracted: &str) -> Verification {
    Verification {
        correct: true,
        unparseable: false,
        extracted: Some(extracted.to_owned()),
        score: 1.0,
    }
}

fn incorrect(extracted: &str) -> Verification {
    Verification {
        correct: false,
        unparseable: false,
        extracted: Some(extracted.to_owned()),
        score: 0.0,
    }
}

fn unparseable() -> Verification {
    Verification {
        correct: false,
        unparseable: true,
        extracted: None,
        score: 0.0,
    }
}

fn ambiguous() -> Verification {
    Verification {
        correct: false,
        unparseable: false,
        extracted: None,
        score: 0.0,
    }
}

#[test]
fn multiple_choice_letter_spellings_are_accepted() {
    let reference = choice_reference("B");
    for answer in [
        "B",
        "b",
        "(B)",
        "(b)",
        "B.",
        "B)",
        "B:",
        "B: Bone",
        "B. Bone",
        "b) bone",
        "Option B",
        "option b",
        "OPTION (B)",
        "  B  ",
    ] {
        assert_eq!(verify_answer(&reference, answer), correct("B"), "{answer}");
    }
}

#[test]
fn multiple_choice_wrong_letter_is_incorrect() {
    let reference = choice_reference("B");
    assert_eq!(verify_answer(&reference, "C"), incorrect("C"));
    assert_eq!(verify_answer(&reference, "(a)"), incorrect("A"));
    assert_eq!(verify_answer(&reference, "D. Brain"), incorrect("D"));
}

#[test]
fn multiple_choice_option_text_alone() {
    let reference = choice_reference("C");
    assert_eq!(verify_answer(&reference, "left lung"), correct("C"));
    assert_eq!(verify_answer(&reference, "The Left Lung."), correct("C"));
    assert_eq!(verify_answer(&reference, "Brain"), incorrect("D"));
    assert_eq!(verify_answer(&reference, "right lung"), unparseable());
}

#[test]
fn multiple_choice_duplicate_option_texts_are_not_guessable() {
    let options: BTreeMap<String, String> = [("A", "Lung"), ("B", "lung"), ("C", "Liver")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let reference = match Reference::multiple_choice("A", options) {
        Ok(reference) => reference,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(verify_answer(&reference, "lung"), unparseable());
}

#[test]
fn multiple_choice_unknown_letter_is_unparseable() {
    let reference = choice_reference("B");
    assert_eq!(verify_answer(&reference, "E"), unparseable());
    assert_eq!(verify_answer(&reference, "(Z)"), unparseable());
    assert_eq!(verify_answer(&reference, ""), unparseable());
    assert_eq!(verify_answer(&reference, "I am not sure"), unparseable());
}

#[test]
fn multiple_choice_several_options_are_incorrect() {
    let reference = choice_reference("B");
    for answer in [
        "A or B",
        "A, B",
        "B, A",
        "A B C D",
        "A/B",
        "options A and B",
        "B. Bone or (C)",
        "B. Left lung",
        "B and E",
    ] {
        assert_eq!(verify_answer(&reference, answer), ambiguous(), "{answer}");
    }
}

#[test]
fn multiple_choice_repeated_same_letter_counts_once() {
    let reference = choice_reference("B");
    assert_eq!(verify_answer(&reference, "B, B"), correct("B"));
}

#[test]
fn multiple_choice_letter_hidden_in_a_word_is_not_a_letter() {
    let reference = choice_reference("A");
    // "Bone" is option B's text, so it reads as B; it is never read as the letter in the word.
    assert_eq!(verify_answer(&reference, "Bone"), incorrect("B"));
    let reference = choice_reference("B");
    assert_eq!(verify_answer(&reference, "Bones"), unparseable());
    assert_eq!(verify_answer(&reference, "Because"), unparseable());
    assert_eq!(verify_answer(&reference, "e.g. bone marrow"), unparseable());
}

#[test]
fn yes_no_correct_incorrect_unparseable() {
    let yes = reference("Yes", AnswerType::YesNo);
    assert_eq!(verify_answer(&yes, "yes"), correct("yes"));
    assert_eq!(verify_answer(&yes, "YES."), correct("yes"));
    assert_eq!(
        verify_answer(&yes, "Yes, there is a lesion."),
        correct("yes")
    );
    assert_eq!(verify_answer(&yes, "No"), incorrect("no"));
    assert_eq!(verify_answer(&yes, "maybe"), unparseable());
    let no = reference("no", AnswerType::YesNo);
    assert_eq!(
        verify_answer(&no, "No, the lungs are clear."),
        correct("no")
    );
    assert_eq!(verify_answer(&no, "nodule"), unparseable());
    assert_eq!(verify_answer(&no, "There is no lesion"), correct("no"));
    assert_eq!(verify_answer(&no, "no evidence of effusion"), correct("no"));
    assert_eq!(verify_answer(&no, "Effusion is absent"), correct("no"));
    assert_eq!(verify_answer(&yes, "It isn't enlarged"), incorrect("no"));
    assert_eq!(verify_answer(&yes, "There is a nodule"), unparseable());
    assert_eq!(verify_answer(&no, "Yes. No."), ambiguous());
}

#[test]
fn numeric_correct_incorrect_unparseable() {
    let three = reference("3", AnswerType::Numeric);
    assert_eq!(verify_answer(&three, "3"), correct("3"));
    assert_eq!(verify_answer(&three, "3.0 lesions"), correct("3"));
    assert_eq!(verify_answer(&three, "There are 3"), correct("3"));
    assert_eq!(verify_answer(&three, "4"), incorrect("4"));
    assert_eq!(verify_answer(&three, "-3"), incorrect("-3"));
    assert_eq!(verify_answer(&three, "three"), unparseable());
    let size = reference("12.5 mm", AnswerType::Numeric);
    assert_eq!(verify_answer(&size, "12.5000001"), correct("12.5000001"));
    assert_eq!(verify_answer(&size, "12.51"), incorrect("12.51"));
    let negative = reference("-0.25", AnswerType::Numeric);
    assert_eq!(verify_answer(&negative, "(-.25)"), correct("-0.25"));
}

#[test]
fn closed_and_open_use_normalised_equality() {
    let closed = reference("Left", AnswerType::Closed);
    assert_eq!(verify_answer(&closed, " left. "), correct("left"));
    assert_eq!(verify_answer(&closed, "the LEFT"), correct("left"));
    assert_eq!(verify_answer(&closed, "right"), incorrect("right"));
    assert_eq!(verify_answer(&closed, " ... "), unparseable());
    let open = reference("Pleural effusion", AnswerType::Open);
    assert_eq!(
        verify_answer(&open, "a   pleural\neffusion!"),
        correct("pleural effusion")
    );
    let partial = verify_answer(&open, "pleural effusion and pneumothorax");
    assert!(!partial.correct && !partial.unparseable);
    assert_eq!(
        partial.extracted.as_deref(),
        Some("pleural effusion and pneumothorax")
    );
    // Token F1: precision 2/4, recall 2/2.
    assert!((partial.score - 2.0 / 3.0).abs() < 1e-6);
}

#[test]
fn normalize_text_rules() {
    assert_eq!(normalize_text("  The  Liver. "), "liver");
    assert_eq!(normalize_text("An\tMRI"), "mri");
    assert_eq!(normalize_text("Vitamin A"), "vitamin a");
    assert_eq!(normalize_text("«x»"), "«x»");
    assert_eq!(normalize_text("(left)"), "left");
}

#[test]
fn reference_constructors_validate() {
    assert!(Reference::new("maybe", AnswerType::YesNo).is_err());
    assert!(Reference::new("yes and no", AnswerType::YesNo).is_err());
    assert!(Reference::new("many", AnswerType::Numeric).is_err());
    assert!(Reference::new("  ", AnswerType::Open).is_err());
    assert!(Reference::new("B", AnswerType::MultipleChoice).is_err());
    assert!(Reference::multiple_choice("A", BTreeMap::new()).is_err());
    let options: BTreeMap<String, String> = [("A", "x"), ("B", "y")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert!(Reference::multiple_choice("C", options.clone()).is_err());
    assert!(Reference::multiple_choice("b", options.clone()).is_ok());
    let mut bad_key = options.clone();
    bad_key.insert("K".into(), "z".into());
    assert!(Reference::multiple_choice("A", bad_key).is_err());
    let mut empty_text = options;
    empty_text.insert("C".into(), " ".into());
    assert!(Reference::multiple_choice("A", empty_text).is_err());
}

#[test]
fn reference_errors_name_the_field_and_value() {
    let err = match Reference::new("many", AnswerType::Numeric) {
        Err(err) => err.to_string(),
        Ok(reference) => panic!("accepted {reference:?}"),
    };
    assert!(err.contains("`answer`"), "{err}");
    assert!(err.contains("many"), "{err}");
}

#[test]
fn multiple_choice_reference_is_canonical_and_validates() {
    let options: BTreeMap<String, String> = [("a", " x "), ("b", "y")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let reference = match Reference::multiple_choice(" b ", options) {
        Ok(reference) => reference,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(reference.answer(), "B");
    assert_eq!(reference.options().get("A").map(String::as_str), Some("x"));
    assert!(reference.validate().is_ok());
    // Options belong to multiple choice only: an edited answer type no longer validates.
    let mut edited = reference;
    edited.answer_type = AnswerType::Open;
    assert!(edited.validate().is_err());
}

/// A reference reads its answer once, for every answer type: after `answer_type` is edited,
/// every verifier reads the answer as a reference built with the new type does.
#[test]
fn edited_answer_types_read_the_prepared_answer() {
    let cases = [
        (
            "3",
            AnswerType::Open,
            AnswerType::Count,
            &["three", "3 lesions", "4"][..],
        ),
        (
            "5 mg",
            AnswerType::Closed,
            AnswerType::Numeric,
            &["5000 mcg", "0.005 g", "5 g"][..],
        ),
        (
            "no",
            AnswerType::Open,
            AnswerType::YesNo,
            &["No.", "no evidence of effusion", "yes"][..],
        ),
        (
            "left",
            AnswerType::Open,
            AnswerType::Closed,
            &["lt", "left side", "right"][..],
        ),
    ];
    for (answer, first, second, answers) in cases {
        let build = |kind: AnswerType| match Reference::new(answer, kind) {
            Ok(reference) => reference,
            Err(err) => panic!("{err}"),
        };
        let mut edited = build(first);
        edited.answer_type = second;
        let fresh = build(second);
        assert_eq!(edited, fresh);
        for prediction in answers {
            assert_eq!(
                verify_answer(&edited, prediction),
                verify_answer(&fresh, prediction),
                "{first} -> {second}: {prediction}"
            );
        }
        // The edit changes at least one verdict, so the first type's verifier is not used.
        let old = build(first);
        assert!(
            answers
                .iter()
                .any(|prediction| verify_answer(&old, prediction)
                    != verify_answer(&edited, prediction)),
            "{first} -> {second}"
        );
    }
}
