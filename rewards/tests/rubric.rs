//! Rubric totals, ranges and outcomes.

mod common;

use common::{four_options, plain, respond};
use medgym_rewards::{
    AccuracyReward, AnswerType, FormatReward, Outcome, ParsedResponse, Reference, RewardComponent,
    RewardError, Rubric,
};

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-6
}

/// Penalises long answers: -1 per 10 characters, floored at -1.
struct LengthPenalty;

impl RewardComponent for LengthPenalty {
    fn name(&self) -> &str {
        "length"
    }

    fn score(&self, parsed: &ParsedResponse, _reference: &Reference) -> f32 {
        let length = parsed.answer.as_deref().map_or(0, str::len) as f32;
        -(length / 10.0).min(1.0)
    }

    fn range(&self) -> (f32, f32) {
        (-1.0, 0.0)
    }
}

#[test]
fn standard_rubric_totals() {
    let rubric = Rubric::standard();
    let reference = four_options("B");

    let right = rubric.score(&respond("B"), &reference);
    assert!(close(right.total, 1.2));
    assert_eq!(right.outcome, Outcome::Correct);
    assert!(right.correct && right.format_ok);
    assert_eq!(right.extracted.as_deref(), Some("B"));
    let names: Vec<&str> = right.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["accuracy", "format"]);
    assert_eq!(right.components[0].value, 1.0);
    assert_eq!(right.components[1].weight, 0.2);

    let wrong = rubric.score(&respond("C"), &reference);
    assert!(close(wrong.total, 0.2));
    assert_eq!(wrong.outcome, Outcome::Incorrect);

    let unreadable = rubric.score(&respond("kidney"), &reference);
    assert!(close(unreadable.total, 0.2));
    assert_eq!(unreadable.outcome, Outcome::Unparseable);

    let unformatted = rubric.score("<answer>B</answer>", &reference);
    assert!(close(unformatted.total, 1.0));
    assert_eq!(unformatted.outcome, Outcome::FormatError);
    assert!(unformatted.correct);
    assert!(!unformatted.format_ok);
}

#[test]
fn standard_reward_range() {
    let (low, high) = Rubric::standard().reward_range();
    assert!(close(low, 0.0));
    assert!(close(high, 1.2));
}

#[test]
fn empty_rubric_scores_zero() {
    let rubric = Rubric::new();
    assert!(rubric.is_empty());
    assert_eq!(rubric.reward_range(), (0.0, 0.0));
    let breakdown = rubric.score(&respond("yes"), &plain("yes", AnswerType::YesNo));
    assert_eq!(breakdown.total, 0.0);
    assert!(breakdown.components.is_empty());
    assert_eq!(breakdown.outcome, Outcome::Correct);
    assert_eq!(Rubric::default().len(), 0);
}

#[test]
fn negative_weights_flip_the_range() {
    let rubric = Rubric::new()
        .with(2.0, AccuracyReward)
        .with(-0.5, FormatReward)
        .with(0.3, LengthPenalty);
    let (low, high) = rubric.reward_range();
    assert!(close(low, -0.5 - 0.3), "{low}");
    assert!(close(high, 2.0), "{high}");
    let doubled = Rubric::new().with(-1.0, LengthPenalty);
    assert_eq!(doubled.reward_range(), (0.0, 1.0));
}

#[test]
fn custom_component_totals_are_weighted_sums() {
    let rubric = Rubric::new()
        .with(1.0, AccuracyReward)
        .with(0.5, LengthPenalty);
    let reference = plain("pleural effusion", AnswerType::Open);
    let breakdown = rubric.score(&respond("pleural effusion"), &reference);
    // 16 characters -> penalty -1 (floored), weighted 0.5.
    assert!(close(breakdown.total, 1.0 - 0.5), "{}", breakdown.total);
    let expected: f32 = breakdown
        .components
        .iter()
        .map(|c| c.weight * c.value)
        .sum();
    assert!(close(breakdown.total, expected));
    let (low, high) = rubric.reward_range();
    assert!(breakdown.total >= low && breakdown.total <= high);
}

#[test]
fn try_with_rejects_non_finite_weights() {
    let err = match Rubric::new().try_with(f32::NAN, FormatReward) {
        Err(err) => err,
        Ok(rubric) => panic!("accepted {rubric:?}"),
    };
    assert!(
        matches!(err, RewardError::InvalidWeight { ref component, .. } if component == "format")
    );
    assert!(Rubric::new()
        .try_with(f32::INFINITY, AccuracyReward)
        .is_err());
    let rubric = match Rubric::new().try_with(0.7, AccuracyReward) {
        Ok(rubric) => rubric,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(rubric.weights(), vec![("accuracy".to_owned(), 0.7)]);
}

#[test]
fn rubric_is_cloneable_and_debuggable() {
    let rubric = Rubric::standard();
    let copy = rubric.clone();
    assert_eq!(copy.weights(), rubric.weights());
    let shown = format!("{rubric:?}");
    assert!(
        shown.contains("accuracy") && shown.contains("format"),
        "{shown}"
    );
}

#[test]
fn component_ranges_contain_their_scores() {
    let reference = four_options("A");
    for response in [respond("A"), respond("B"), "junk".to_owned()] {
        let parsed = medgym_rewards::parse_response(&response);
        for component in [&AccuracyReward as &dyn RewardComponent, &FormatReward] {
            let (low, high) = component.range();
            let value = component.score(&parsed, &reference);
            assert!(
                value >= low && value <= high,
                "{}: {value}",
                component.name()
            );
        }
    }
}

#[test]
fn outcome_display_matches_serde() {
    for outcome in Outcome::ALL {
        let json = match serde_json::to_string(&outcome) {
            Ok(json) => json,
            Err(err) => panic!("{err}"),
        };
        assert_eq!(json, format!("\"{outcome}\""));
    }
    assert_eq!(Outcome::FormatError.to_string(), "format_error");
}
