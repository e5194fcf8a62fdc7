//! Structural parsing of think/answer responses.

use medgym_rewards::{parse_response, FormatProblem};

#[test]
fn happy_path_extracts_both_blocks() {
    let parsed =
        parse_response("<think>The lesion is in the left lobe.</think><answer>left</answer>");
    assert!(parsed.format_ok);
    assert!(parsed.problems.is_empty());
    assert_eq!(
        parsed.think.as_deref(),
        Some("The lesion is in the left lobe.")
    );
    assert_eq!(parsed.answer.as_deref(), Some("left"));
}

#[test]
fn tags_are_case_insensitive_and_whitespace_is_tolerated() {
    let parsed =
        parse_response("\n  <THINK>\n  reasoning \n</Think>\n\n\t<Answer>  B  </ANSWER>  \n");
    assert!(parsed.format_ok, "{:?}", parsed.problems);
    assert_eq!(parsed.think.as_deref(), Some("reasoning"));
    assert_eq!(parsed.answer.as_deref(), Some("B"));
}

#[test]
fn empty_think_is_allowed() {
    let parsed = parse_response("<think></think><answer>yes</answer>");
    assert!(parsed.format_ok);
    assert_eq!(parsed.think.as_deref(), Some(""));
}

#[test]
fn missing_think() {
    let parsed = parse_response("<answer>yes</answer>");
    assert!(!parsed.format_ok);
    assert_eq!(parsed.problems, vec![FormatProblem::MissingThink]);
    assert_eq!(parsed.answer.as_deref(), Some("yes"));
}

#[test]
fn missing_answer() {
    let parsed = parse_response("<think>hmm</think>");
    assert!(!parsed.format_ok);
    assert_eq!(parsed.problems, vec![FormatProblem::MissingAnswer]);
    assert_eq!(parsed.answer, None);
}

#[test]
fn empty_input_misses_both_blocks() {
    let parsed = parse_response("   ");
    assert_eq!(
        parsed.problems,
        vec![FormatProblem::MissingThink, FormatProblem::MissingAnswer]
    );
}

#[test]
fn duplicate_answer_keeps_the_first() {
    let parsed = parse_response("<think>x</think><answer>A</answer><answer>B</answer>");
    assert!(!parsed.format_ok);
    assert_eq!(
        parsed.problems,
        vec![FormatProblem::DuplicateTag("answer".into())]
    );
    assert_eq!(parsed.answer.as_deref(), Some("A"));
}

#[test]
fn duplicate_think() {
    let parsed = parse_response("<think>x</think><think>y</think><answer>A</answer>");
    assert_eq!(
        parsed.problems,
        vec![FormatProblem::DuplicateTag("think".into())]
    );
    assert_eq!(parsed.think.as_deref(), Some("x"));
}

#[test]
fn unclosed_answer() {
    let parsed = parse_response("<think>x</think><answer>B");
    assert!(!parsed.format_ok);
    assert_eq!(
        parsed.problems,
        vec![FormatProblem::UnclosedTag("answer".into())]
    );
    assert_eq!(parsed.answer, None);
}

#[test]
fn unclosed_think_still_yields_the_answer() {
    let parsed = parse_response("<think>reasoning <answer>B</answer>");
    assert!(!parsed.format_ok);
    assert_eq!(
        parsed.problems,
        vec![FormatProblem::UnclosedTag("think".into())]
    );
    assert_eq!(parsed.answer.as_deref(), Some("B"));
    assert_eq!(parsed.think, None);
}

#[test]
fn mismatched_closing_tag_leaves_block_unclosed() {
    let parsed = parse_response("<think>x</answer><answer>B</answer>");
    assert!(parsed
        .problems
        .contains(&FormatProblem::UnclosedTag("think".into())));
    assert!(!parsed.format_ok);
}

#[test]
fn wrong_order() {
    let parsed = parse_response("<answer>B</answer><think>x</think>");
    assert!(!parsed.format_ok);
    assert_eq!(parsed.problems, vec![FormatProblem::WrongOrder]);
    assert_eq!(parsed.answer.as_deref(), Some("B"));
}

#[test]
fn text_before_between_and_after_blocks() {
    for text in [
        "Sure! <think>x</think><answer>B</answer>",
        "<think>x</think> so <answer>B</answer>",
        "<think>x</think><answer>B</answer> Hope this helps.",
    ] {
        let parsed = parse_response(text);
        assert!(!parsed.format_ok, "{text}");
        assert_eq!(
            parsed.problems,
            vec![FormatProblem::TextOutsideTags],
            "{text}"
        );
        assert_eq!(parsed.answer.as_deref(), Some("B"), "{text}");
    }
}

#[test]
fn stray_closing_tag_is_text_outside() {
    let parsed = parse_response("reasoning</think><answer>B</answer>");
    assert!(parsed.problems.contains(&FormatProblem::TextOutsideTags));
    assert!(parsed.problems.contains(&FormatProblem::MissingThink));
}

#[test]
fn empty_answer() {
    let parsed = parse_response("<think>x</think><answer>   </answer>");
    assert!(!parsed.format_ok);
    assert_eq!(parsed.problems, vec![FormatProblem::EmptyAnswer]);
    assert_eq!(parsed.answer.as_deref(), Some(""));
}

#[test]
fn near_miss_tags_are_plain_text() {
    for text in [
        "<think>x</think><answers>B</answers>",
        "<think>x</think><ans wer>B</ans wer>",
        "<think>x</think><answer B</answer",
    ] {
        let parsed = parse_response(text);
        assert!(!parsed.format_ok, "{text}");
        assert!(
            parsed.problems.contains(&FormatProblem::MissingAnswer),
            "{text}"
        );
        assert!(
            parsed.problems.contains(&FormatProblem::TextOutsideTags),
            "{text}"
        );
    }
}

#[test]
fn whitespace_inside_tags_is_tolerated() {
    let parsed = parse_response("< think >x</ Think>\n<answer >B< /ANSWER >");
    assert!(parsed.format_ok, "{:?}", parsed.problems);
    assert_eq!(parsed.answer.as_deref(), Some("B"));
}

#[test]
fn problems_are_listed_once_and_displayed() {
    let parsed = parse_response("a<think>x</think>b<answer>B</answer>c<answer>C</answer>d");
    let outside = parsed
        .problems
        .iter()
        .filter(|p| **p == FormatProblem::TextOutsideTags)
        .count();
    assert_eq!(outside, 1);
    assert_eq!(
        FormatProblem::DuplicateTag("answer".into()).to_string(),
        "more than one <answer> block"
    );
    assert_eq!(
        FormatProblem::UnclosedTag("think".into()).to_string(),
        "<think> block is not closed"
    );
}

#[test]
fn unicode_content_is_preserved() {
    let parsed = parse_response("<think>病灶在左肺。</think><answer>左肺</answer>");
    assert!(parsed.format_ok);
    assert_eq!(parsed.answer.as_deref(), Some("左肺"));
}

#[test]
fn long_input_with_many_tags_parses() {
    let text = "<answer>".repeat(20_000) + &"</think>".repeat(20_000);
    let parsed = parse_response(&text);
    assert!(!parsed.format_ok);
    assert!(parsed
        .problems
        .contains(&FormatProblem::UnclosedTag("answer".into())));
}
