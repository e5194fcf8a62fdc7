//! Reward components and the weighted rubric that combines them.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::RewardError;
use crate::outcome::Outcome;
use crate::parse::{parse_response, ParsedResponse};
use crate::reference::Reference;
use crate::verify::{verify_answer, Verification};

/// One named reward component.
pub trait RewardComponent: Send + Sync {
    /// Stable name reported in breakdowns.
    fn name(&self) -> &str;
    /// Value for one parsed response; must lie within [`RewardComponent::range`].
    fn score(&self, parsed: &ParsedResponse, reference: &Reference) -> f32;
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

/// 1.0 when parsed.format_ok, else 0.0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FormatReward;

impl RewardComponent for FormatReward {
    fn name(&self) -> &str {
        "format"
    }

    fn score(&self, parsed: &ParsedResponse, _reference: &Reference) -> f32 {
        if parsed.format_ok {
            1.0
        } else {
            0.0
        }
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

    fn score(&self, parsed: &ParsedResponse, reference: &Reference) -> f32 {
        if verify_parsed(parsed, reference).correct {
            1.0
        } else {
            0.0
        }
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
        self.score_parsed(&parsed, reference)
    }

    /// Scores an already parsed response.
    pub fn score_parsed(&self, parsed: &ParsedResponse, reference: &Reference) -> RewardBreakdown {
        let verification = verify_parsed(parsed, reference);
        let components: Vec<ComponentScore> = self
            .components
            .iter()
            .map(|(weight, component)| ComponentScore {
                name: component.name().to_owned(),
                weight: *weight,
                value: component.score(parsed, reference),
            })
            .collect();
        let total = components.iter().map(|c| c.weight * c.value).sum();
        RewardBreakdown {
            total,
            components,
            outcome: Outcome::classify(parsed, &verification),
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
