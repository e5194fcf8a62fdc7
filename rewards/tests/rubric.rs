//! Rubric totals, ranges and outcomes.

mod common;

use common::{four_options, plain, respond};
use medgym_rewards::{
    verify_parsed, AccuracyReward, AnswerType, BoxedFormatReward, ComponentRegistry,
    ExtractedAccuracyReward, FormatReward, Outcome, OverlongPenalty, OverlongReward,
    PartialCreditReward, ReflectionDetector, ReflectionReward, RewardComponent, RewardError,
    Rubric, ScoreInput,
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

    fn score(&self, input: &ScoreInput<'_>) -> f32 {
        let length = input.parsed.answer.as_deref().map_or(0, str::len) as f32;
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
    let overlong = match OverlongPenalty::new(40, 10) {
        Ok(penalty) => OverlongReward(penalty),
        Err(err) => panic!("{err}"),
    };
    let reflection = ReflectionReward {
        detector: ReflectionDetector::default(),
        cap: 2,
    };
    let components: [&dyn RewardComponent; 7] = [
        &AccuracyReward,
        &FormatReward,
        &BoxedFormatReward,
        &ExtractedAccuracyReward,
        &PartialCreditReward,
        &overlong,
        &reflection,
    ];
    for response in [
        respond("A"),
        respond("B"),
        "junk".to_owned(),
        "<think>wait, wait, wait</think>\\boxed{A}".to_owned(),
        "x".repeat(100),
    ] {
        let parsed = medgym_rewards::parse_response(&response);
        let verification = verify_parsed(&parsed, &reference);
        let input = ScoreInput {
            response: &response,
            parsed: &parsed,
            reference: &reference,
            verification: &verification,
        };
        for component in components {
            let (low, high) = component.range();
            let value = component.score(&input);
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

#[test]
fn shaping_components_score_what_they_promise() {
    let reference = four_options("A");
    let rubric = Rubric::new()
        .with(1.0, BoxedFormatReward)
        .with(1.0, ExtractedAccuracyReward)
        .with(
            1.0,
            ReflectionReward {
                detector: ReflectionDetector::default(),
                cap: 2,
            },
        );
    let boxed = rubric.score(
        "<think>Wait. Let me re-check.</think> So \\boxed{A}",
        &reference,
    );
    let values: Vec<f32> = boxed.components.iter().map(|c| c.value).collect();
    assert_eq!(values, [1.0, 1.0, 1.0]);
    // The pipeline's accuracy (answer block) does not see the boxed answer.
    assert!(!boxed.correct);
    let plain = rubric.score("<think>Looks fine.</think><answer>B</answer>", &reference);
    let values: Vec<f32> = plain.components.iter().map(|c| c.value).collect();
    assert_eq!(values, [0.0, 0.0, 0.0]);
}

#[test]
fn rubric_from_toml() -> Result<(), RewardError> {
    let registry = ComponentRegistry::standard();
    let rubric = registry.rubric_from_toml(
        r#"
[[component]]
name = "accuracy"
weight = 0.9

[[component]]
name = "format"
weight = 0.1

[[component]]
name = "overlong"
weight = 1
max_length = 100
cache_length = 20

[[component]]
name = "reflection"
weight = 0.05
phrases = ["hmm", "wait"]
cap = 4
"#,
    )?;
    let names: Vec<String> = rubric.weights().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["accuracy", "format", "overlong", "reflection"]);
    let reference = four_options("A");
    let long = format!("<think>{}</think><answer>A</answer>", "hmm ".repeat(30));
    let scored = rubric.score(&long, &reference);
    // 143 characters: past max_length, so the overlong penalty is -1.
    let overlong = scored.components[2].value;
    assert!((overlong + 1.0).abs() < 1e-6, "{overlong}");
    assert!((scored.components[3].value - 1.0).abs() < 1e-6);
    assert!((scored.total - (0.9 + 0.1 - 1.0 + 0.05)).abs() < 1e-5);
    Ok(())
}

#[test]
fn rubric_toml_errors_name_the_field() {
    let registry = ComponentRegistry::standard();
    let cases = [
        ("[[component]]\nname = \"nope\"\nweight = 1", "nope"),
        ("[[component]]\nname = \"format\"", "component[0].weight"),
        (
            "[[component]]\nname = \"overlong\"\nweight = 1\nmax_length = 10\ncache_length = 20",
            "component[0].cache_length",
        ),
        (
            "[[component]]\nname = \"format\"\nweight = 1\ncolour = 3",
            "component[0].colour",
        ),
        ("weights = 3", "weights"),
        ("[[component]\n", "rubric"),
    ];
    for (text, needle) in cases {
        match registry.rubric_from_toml(text) {
            Ok(rubric) => panic!("accepted {text:?}: {rubric:?}"),
            Err(err) => assert!(err.to_string().contains(needle), "{err}"),
        }
    }
}
