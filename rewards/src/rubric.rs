//! Reward components and the weighted rubric that combines them.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::RewardError;
use crate::extract::extract_answer;
use crate::outcome::Outcome;
use crate::parse::{parse_response, ParsedResponse};
use crate::reference::Reference;
use crate::shaping::{boxed_format_ok, OverlongPenalty, ReflectionDetector};
use crate::verify::{judge_answer, verify_answer, Verification};

/// Everything a component may look at for one response.
#[derive(Debug, Clone, Copy)]
pub struct ScoreInput<'a> {
    /// The raw response.
    pub response: &'a str,
    /// Its think/answer structure.
    pub parsed: &'a ParsedResponse,
    /// The reference answer.
    pub reference: &'a Reference,
    /// The answer block checked against the reference.
    pub verification: &'a Verification,
}

/// One named reward component.
pub trait RewardComponent: Send + Sync {
    /// Stable name reported in breakdowns.
    fn name(&self) -> &str;
    /// Value for one response; must lie within [`RewardComponent::range`].
    fn score(&self, input: &ScoreInput<'_>) -> f32;
    /// Lowest and highest value `score` can return.
    fn range(&self) -> (f32, f32);
}

/// Verifies the answer block, or reports it unparseable when there is none.
pub fn verify_parsed(parsed: &ParsedResponse, reference: &Reference) -> Verification {
    match &parsed.answer {
        Some(answer) => verify_answer(reference, answer),
        None => Verification::unparseable(),
    }
}

/// 1 or 0.
fn indicator(flag: bool) -> f32 {
    if flag {
        1.0
    } else {
        0.0
    }
}

/// 1.0 when the response has the `<think>…</think><answer>…</answer>` format, else 0.0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FormatReward;

impl RewardComponent for FormatReward {
    fn name(&self) -> &str {
        "format"
    }

    fn score(&self, input: &ScoreInput<'_>) -> f32 {
        indicator(input.parsed.format_ok)
    }

    fn range(&self) -> (f32, f32) {
        (0.0, 1.0)
    }
}

/// 1.0 when the response is `<think>…</think>` followed by a `\boxed{…}` answer, else 0.0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoxedFormatReward;

impl RewardComponent for BoxedFormatReward {
    fn name(&self) -> &str {
        "boxed_format"
    }

    fn score(&self, input: &ScoreInput<'_>) -> f32 {
        indicator(boxed_format_ok(input.response))
    }

    fn range(&self) -> (f32, f32) {
        (0.0, 1.0)
    }
}

/// 1.0 when the answer block's content verifies as correct, else 0.0 (0.0 when there is no
/// answer block).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccuracyReward;

impl RewardComponent for AccuracyReward {
    fn name(&self) -> &str {
        "accuracy"
    }

    fn score(&self, input: &ScoreInput<'_>) -> f32 {
        indicator(input.verification.correct)
    }

    fn range(&self) -> (f32, f32) {
        (0.0, 1.0)
    }
}

/// 1.0 when the answer found anywhere ([`extract_answer`]: answer tag, last box, "the answer
/// is", whole text) verifies; 0.0 when it does not or the answer tags are duplicated/unclosed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractedAccuracyReward;

impl RewardComponent for ExtractedAccuracyReward {
    fn name(&self) -> &str {
        "accuracy_extracted"
    }

    fn score(&self, input: &ScoreInput<'_>) -> f32 {
        let extraction = extract_answer(input.response);
        indicator(
            !extraction.tag_problem
                && !extraction.conflicting_boxes
                && judge_answer(input.reference, extraction.text).is_correct(),
        )
    }

    fn range(&self) -> (f32, f32) {
        (0.0, 1.0)
    }
}

/// Graded credit of the answer block: 1 when correct, token F1 for open answers, else 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartialCreditReward;

impl RewardComponent for PartialCreditReward {
    fn name(&self) -> &str {
        "partial_credit"
    }

    fn score(&self, input: &ScoreInput<'_>) -> f32 {
        input.verification.score
    }

    fn range(&self) -> (f32, f32) {
        (0.0, 1.0)
    }
}

/// DAPO's soft overlong penalty on the response length in characters, in [-1, 0].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverlongReward(pub OverlongPenalty);

impl RewardComponent for OverlongReward {
    fn name(&self) -> &str {
        "overlong"
    }

    fn score(&self, input: &ScoreInput<'_>) -> f32 {
        self.0.penalty(input.response.chars().count())
    }

    fn range(&self) -> (f32, f32) {
        (-1.0, 0.0)
    }
}

/// Reflection phrases in the think block (the whole response when there is none), counted up
/// to `cap` and scaled to [0, 1].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReflectionReward {
    /// The phrase counter.
    pub detector: ReflectionDetector,
    /// Count at which the reward saturates (at least 1).
    pub cap: usize,
}

impl RewardComponent for ReflectionReward {
    fn name(&self) -> &str {
        "reflection"
    }

    fn score(&self, input: &ScoreInput<'_>) -> f32 {
        let text = input.parsed.think.as_deref().unwrap_or(input.response);
        let cap = self.cap.max(1);
        self.detector.count(text).min(cap) as f32 / cap as f32
    }

    fn range(&self) -> (f32, f32) {
        (0.0, 1.0)
    }
}

/// One component's contribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentScore {
    /// The component's name.
    pub name: String,
    /// Its weight in the rubric.
    pub weight: f32,
    /// Its unweighted value.
    pub value: f32,
}

/// Weighted total, per-component values and a typed outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardBreakdown {
    /// Sum of weight × value over the components.
    pub total: f32,
    /// Each component's contribution, in rubric order.
    pub components: Vec<ComponentScore>,
    /// Typed outcome of the response.
    pub outcome: Outcome,
    /// The answer block verifies as correct (even when the format is not ok).
    pub correct: bool,
    /// The response follows the think/answer format.
    pub format_ok: bool,
    /// The normalised value the verifier read from the answer block.
    pub extracted: Option<String>,
}

/// Weighted sum of components.
#[derive(Clone, Default)]
pub struct Rubric {
    components: Vec<(f32, Arc<dyn RewardComponent>)>,
}

impl fmt::Debug for Rubric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.components
                    .iter()
                    .map(|(weight, component)| (component.name(), weight)),
            )
            .finish()
    }
}

impl Rubric {
    /// An empty rubric (total always 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a component with a weight (a non-finite weight makes totals non-finite; see
    /// [`Rubric::try_with`]).
    pub fn with(mut self, weight: f32, component: impl RewardComponent + 'static) -> Self {
        self.components.push((weight, Arc::new(component)));
        self
    }

    /// Adds a shared component with a weight, rejecting a non-finite weight.
    pub fn try_with_shared(
        mut self,
        weight: f32,
        component: Arc<dyn RewardComponent>,
    ) -> Result<Self, RewardError> {
        if !weight.is_finite() {
            return Err(RewardError::InvalidWeight {
                component: component.name().to_owned(),
                weight,
            });
        }
        self.components.push((weight, component));
        Ok(self)
    }

    /// Like [`Rubric::with`], but rejects a non-finite weight.
    pub fn try_with(
        self,
        weight: f32,
        component: impl RewardComponent + 'static,
    ) -> Result<Self, RewardError> {
        if !weight.is_finite() {
            return Err(RewardError::InvalidWeight {
                component: component.name().to_owned(),
                weight,
            });
        }
        Ok(self.with(weight, component))
    }

    /// Accuracy weight 1.0 + format weight 0.2.
    pub fn standard() -> Self {
        Self::new()
            .with(1.0, AccuracyReward)
            .with(0.2, FormatReward)
    }

    /// Number of components.
    pub fn len(&self) -> usize {
        self.components.len()
    }

    /// True when the rubric has no components.
    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }

    /// (name, weight) of each component, in order.
    pub fn weights(&self) -> Vec<(String, f32)> {
        self.components
            .iter()
            .map(|(weight, component)| (component.name().to_owned(), *weight))
            .collect()
    }

    /// Scores one response against a reference.
    pub fn score(&self, response: &str, reference: &Reference) -> RewardBreakdown {
        let parsed = parse_response(response);
        let verification = verify_parsed(&parsed, reference);
        let input = ScoreInput {
            response,
            parsed: &parsed,
            reference,
            verification: &verification,
        };
        let components: Vec<ComponentScore> = self
            .components
            .iter()
            .map(|(weight, component)| ComponentScore {
                name: component.name().to_owned(),
                weight: *weight,
                value: component.score(&input),
            })
            .collect();
        let total = components.iter().map(|c| c.weight * c.value).sum();
        RewardBreakdown {
            total,
            components,
            outcome: Outcome::classify(&parsed, &verification),
            correct: verification.correct,
            format_ok: parsed.format_ok,
            extracted: verification.extracted,
        }
    }

    /// (min, max) of total, from component ranges and weights (negative weights handled).
    pub fn reward_range(&self) -> (f32, f32) {
        self.components
            .iter()
            .fold((0.0, 0.0), |(low, high), (weight, component)| {
                let (min, max) = component.range();
                let (a, b) = (weight * min, weight * max);
                (low + a.min(b), high + a.max(b))
            })
    }
}
