//! A reference answer read once, at construction: what the verifiers would otherwise read from
//! it again on every call.

use crate::normalize::normalize_text;
use crate::verify::count::read_count;
use crate::verify::numeric::first_quantity;
use crate::verify::text::PreparedTokens;
use crate::verify::units::Unit;
use crate::verify::yes_no::{classify_yes_no, YesNoReading};

/// The readings of one answer text that the verifiers use.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreparedAnswer {
    /// Its distinct tokens, for token overlap.
    pub(crate) tokens: PreparedTokens,
    /// Its first number and the unit after it, for numeric answers.
    pub(crate) quantity: Option<(f64, Option<Unit>)>,
    /// Its count, for count answers.
    pub(crate) count: Option<f64>,
    /// Its normalised text, for closed labels.
    pub(crate) normalized: Box<str>,
    /// Its yes/no reading, for yes/no answers.
    pub(crate) yes_no: YesNoReading,
}

impl PreparedAnswer {
    /// Reads `text` once.
    pub(crate) fn new(text: &str) -> Self {
        Self {
            tokens: PreparedTokens::new(text),
            quantity: first_quantity(text),
            count: read_count(text),
            normalized: normalize_text(text).into(),
            yes_no: classify_yes_no(text),
        }
    }
}
