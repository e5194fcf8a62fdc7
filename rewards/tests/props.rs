//! Property tests: parsing and scoring are total and self-consistent on arbitrary input.

mod common;

use common::{four_options, plain, respond};
use medgym_rewards::{
    extract_answer, medevalkit, parse_response, parse_view, score_item, verify_answer, AnswerType,
    ComponentRegistry, Outcome, Rubric, ScoringMode,
};
use proptest::prelude::*;

/// Pieces that stress the tag scanner: tags in several cases, near misses, and filler.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<think>".to_owned()),
        Just("</think>".to_owned()),
        Just("<answer>".to_owned()),
        Just("</answer>".to_owned()),
        Just("<THINK>".to_owned()),
        Just("</Answer>".to_owned()),
        Just("<answer".to_owned()),
        Just("</".to_owned()),
        Just("<".to_owned()),
        Just(" ".to_owned()),
        Just("\n".to_owned()),
        Just("B".to_owned()),
        Just("yes".to_owned()),
        Just("no".to_owned()),
        Just("(A)".to_owned()),
        Just("3.5".to_owned()),
        Just("-".to_owned()),
        Just("é中".to_owned()),
        Just("\\boxed{".to_owned()),
        Just("}".to_owned()),
        Just("{".to_owned()),
        Just("The answer is ".to_owned()),
        Just("Answer:".to_owned()),
        Just("\n\n".to_owned()),
        Just("5 mg".to_owned()),
        Just("wait".to_owned()),
        any::<String>(),
    ]
}

fn tag_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..24).prop_map(|parts| parts.concat())
}

fn check_total(text: &str) {
    let parsed = parse_response(text);
    assert_eq!(parsed.format_ok, parsed.problems.is_empty());
    if parsed.format_ok {
        assert!(parsed.think.is_some());
        assert!(parsed.answer.as_deref().is_some_and(|a| !a.is_empty()));
    }
    if let Some(answer) = &parsed.answer {
        assert_eq!(answer.trim(), answer);
    }
    let rubric = Rubric::standard();
    let (low, high) = rubric.reward_range();
    for reference in [
        four_options("B"),
        plain("yes", AnswerType::YesNo),
        plain("no", AnswerType::YesNo),
        plain("3.5", AnswerType::Numeric),
        plain("left lung", AnswerType::Closed),
    ] {
        let breakdown = rubric.score(text, &reference);
        assert!(breakdown.total >= low - 1e-6 && breakdown.total <= high + 1e-6);
        assert_eq!(breakdown.format_ok, parsed.format_ok);
        if !breakdown.format_ok {
            assert_eq!(breakdown.outcome, Outcome::FormatError);
        }
        assert_eq!(
            breakdown.outcome == Outcome::Correct,
            breakdown.correct && breakdown.format_ok
        );
        let direct = verify_answer(&reference, text);
        assert!(!(direct.correct && direct.unparseable));
        assert!((0.0..=1.0).contains(&direct.score));
    }
    let extraction = extract_answer(text);
    assert!(text.contains(extraction.text));
    assert_eq!(parse_view(text).format_ok(), parsed.format_ok);
    let _ = medevalkit::parse_response(text);
    let full = ComponentRegistry::standard()
        .rubric_from_toml(FULL_RUBRIC)
        .unwrap_or_else(|err| panic!("{err}"));
    let (low, high) = full.reward_range();
    for reference in [
        four_options("B"),
        plain("yes", AnswerType::YesNo),
        plain("5 mg", AnswerType::Numeric),
        plain("3", AnswerType::Count),
        plain("left", AnswerType::Closed),
        plain("pleural effusion", AnswerType::Open),
    ] {
        let total = full.score(text, &reference).total;
        assert!(total >= low - 1e-5 && total <= high + 1e-5, "{total}");
        for mode in ScoringMode::ALL {
            let item = score_item(mode, text, &reference);
            assert!((0.0..=1.0).contains(&item.score));
            assert_eq!(item.correct, item.outcome == Outcome::Correct);
        }
    }
}

/// Every built-in component.
const FULL_RUBRIC: &str = r#"
[[component]]
name = "accuracy"
weight = 1.0
[[component]]
name = "accuracy_extracted"
weight = 0.5
[[component]]
name = "format"
weight = 0.2
[[component]]
name = "boxed_format"
weight = 0.1
[[component]]
name = "partial_credit"
weight = 0.3
[[component]]
name = "overlong"
weight = 1.0
max_length = 64
cache_length = 16
[[component]]
name = "reflection"
weight = 0.1
"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_and_score_never_panic_on_any_string(text in any::<String>()) {
        check_total(&text);
    }

    #[test]
    fn parse_and_score_never_panic_on_tag_soup(text in tag_soup()) {
        check_total(&text);
    }

    #[test]
    fn well_formed_responses_parse_back(think in "[^<]{0,40}", answer in "[^<]{0,40}") {
        let text = format!("<think>{think}</think>\n<answer>{answer}</answer>");
        let parsed = parse_response(&text);
        prop_assert_eq!(parsed.think.as_deref(), Some(think.trim()));
        prop_assert_eq!(parsed.answer.as_deref(), Some(answer.trim()));
        prop_assert_eq!(parsed.format_ok, !answer.trim().is_empty());
    }

    #[test]
    fn wrapped_answers_score_like_direct_verification(answer in "[^<]{0,40}") {
        let reference = four_options("C");
        let breakdown = Rubric::standard().score(&respond(&answer), &reference);
        let direct = verify_answer(&reference, answer.trim());
        prop_assert_eq!(breakdown.correct, direct.correct);
        prop_assert_eq!(breakdown.extracted, direct.extracted);
    }
}
