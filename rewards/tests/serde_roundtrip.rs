//! JSON round trips and validation on deserialisation.

use medgym_rewards::{AnswerType, FormatProblem, Outcome, Reference, RewardBreakdown, Rubric};

#[test]
fn multiple_choice_reference_round_trips() {
    let json = r#"{"answer":"B","answer_type":"multiple_choice","options":{"A":"0","B":"1"}}"#;
    let reference: Reference = match serde_json::from_str(json) {
        Ok(reference) => reference,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(reference.answer(), "B");
    assert_eq!(reference.answer_type, AnswerType::MultipleChoice);
    assert_eq!(reference.options().get("B").map(String::as_str), Some("1"));
    let again = match serde_json::to_string(&reference) {
        Ok(again) => again,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(again, json);
    let back: Reference = match serde_json::from_str(&again) {
        Ok(back) => back,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(back, reference);
}

#[test]
fn plain_references_round_trip_and_options_default() {
    for (json, answer_type) in [
        (
            r#"{"answer":"yes","answer_type":"yes_no"}"#,
            AnswerType::YesNo,
        ),
        (
            r#"{"answer":"left","answer_type":"closed"}"#,
            AnswerType::Closed,
        ),
        (
            r#"{"answer":"pleural effusion","answer_type":"open"}"#,
            AnswerType::Open,
        ),
        (
            r#"{"answer":"4.5","answer_type":"numeric","options":{}}"#,
            AnswerType::Numeric,
        ),
    ] {
        let reference: Reference = match serde_json::from_str(json) {
            Ok(reference) => reference,
            Err(err) => panic!("{json}: {err}"),
        };
        assert_eq!(reference.answer_type, answer_type);
        let text = match serde_json::to_string(&reference) {
            Ok(text) => text,
            Err(err) => panic!("{err}"),
        };
        let back: Reference = match serde_json::from_str(&text) {
            Ok(back) => back,
            Err(err) => panic!("{err}"),
        };
        assert_eq!(back, reference);
    }
}

#[test]
fn invalid_references_are_rejected_on_deserialisation() {
    for json in [
        r#"{"answer":"E","answer_type":"multiple_choice","options":{"A":"0","B":"1"}}"#,
        r#"{"answer":"A","answer_type":"multiple_choice","options":{}}"#,
        r#"{"answer":"perhaps","answer_type":"yes_no"}"#,
        r#"{"answer":"several","answer_type":"numeric"}"#,
        r#"{"answer":"yes","answer_type":"yes_no","options":{"A":"yes"}}"#,
        r#"{"answer":"yes","answer_type":"boolean"}"#,
    ] {
        let parsed: Result<Reference, _> = serde_json::from_str(json);
        assert!(parsed.is_err(), "accepted {json}");
    }
}

#[test]
fn answer_type_and_outcome_names() {
    let names = match serde_json::to_string(&[
        AnswerType::YesNo,
        AnswerType::MultipleChoice,
        AnswerType::Closed,
        AnswerType::Open,
        AnswerType::Numeric,
    ]) {
        Ok(names) => names,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(
        names,
        r#"["yes_no","multiple_choice","closed","open","numeric"]"#
    );
    let outcome: Outcome = match serde_json::from_str("\"unparseable\"") {
        Ok(outcome) => outcome,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(outcome, Outcome::Unparseable);
}

#[test]
fn format_problems_serialise() {
    let json = match serde_json::to_string(&[
        FormatProblem::EmptyAnswer,
        FormatProblem::DuplicateTag("answer".into()),
    ]) {
        Ok(json) => json,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(json, r#"["empty_answer",{"duplicate_tag":"answer"}]"#);
}

#[test]
fn breakdown_round_trips() {
    let reference = match Reference::new("no", AnswerType::YesNo) {
        Ok(reference) => reference,
        Err(err) => panic!("{err}"),
    };
    let breakdown = Rubric::standard().score("<think>x</think><answer>No.</answer>", &reference);
    let json = match serde_json::to_string(&breakdown) {
        Ok(json) => json,
        Err(err) => panic!("{err}"),
    };
    assert!(json.contains(r#""outcome":"correct""#), "{json}");
    let back: RewardBreakdown = match serde_json::from_str(&json) {
        Ok(back) => back,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(back, breakdown);
}
