//! Checking an extracted answer string against a reference.

pub(crate) mod choice;
pub(crate) mod numeric;
pub(crate) mod yes_no;

use serde::{Deserialize, Serialize};

use crate::normalize::normalize_text;
use crate::reference::{AnswerType, Reference};

/// Result of checking one extracted answer string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// The answer matches the reference.
    pub correct: bool,
    /// No answer of the expected kind could be read from the text.
    pub unparseable: bool,
    /// The normalised value read from the answer (e.g. "B", "yes", "left", "3.5").
    pub extracted: Option<String>,
}

impl Verification {
    /// A readable answer, correct or not.
    pub(crate) fn judged(extracted: String, correct: bool) -> Self {
        Self {
            correct,
            unparseable: false,
            extracted: Some(extracted),
        }
    }

    /// Nothing of the expected kind could be read.
    pub(crate) fn unparseable() -> Self {
        Self {
            correct: false,
            unparseable: true,
            extracted: None,
        }
    }

    /// An answer that commits to several contradictory values: incorrect, never lucky.
    pub(crate) fn ambiguous() -> Self {
        Self {
            correct: false,
            unparseable: false,
            extracted: None,
        }
    }
}

/// Check an answer string (already taken out of the answer tag) against a reference.
pub fn verify_answer(reference: &Reference, answer: &str) -> Verification {
    match reference.answer_type {
        AnswerType::YesNo => yes_no::verify_yes_no(reference, answer),
        AnswerType::MultipleChoice => choice::verify_choice(reference, answer),
        AnswerType::Numeric => numeric::verify_numeric(reference, answer),
        AnswerType::Closed | AnswerType::Open => verify_text(reference, answer),
    }
}

/// Exact match after [`normalize_text`].
fn verify_text(reference: &Reference, answer: &str) -> Verification {
    let extracted = normalize_text(answer);
    if extracted.is_empty() {
        return Verification::unparseable();
    }
    let expected = normalize_text(&reference.answer);
    let correct = !expected.is_empty() && extracted == expected;
    Verification::judged(extracted, correct)
}
