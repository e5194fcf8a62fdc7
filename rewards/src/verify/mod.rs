//! Checking an extracted answer string against a reference.
//!
//! Each verifier returns a borrowed, allocation-free [`Judgement`]; [`verify_answer`] turns it
//! into an owned [`Verification`].

pub(crate) mod choice;
pub(crate) mod closed;
pub(crate) mod count;
pub(crate) mod numeric;
pub(crate) mod option_index;
pub(crate) mod text;
pub(crate) mod units;
pub(crate) mod yes_no;

use serde::{Deserialize, Serialize};

use crate::normalize::normalize_text;
use crate::reference::{AnswerType, Reference};

/// Result of checking one extracted answer string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// The answer matches the reference.
    pub correct: bool,
    /// No answer of the expected kind could be read from the text.
    pub unparseable: bool,
    /// The normalised value read from the answer (e.g. "B", "yes", "left", "3.5").
    pub extracted: Option<String>,
    /// Graded credit in [0, 1]: 1 when correct; token F1 for open answers; 0 otherwise.
    pub score: f32,
}

impl Verification {
    /// Nothing of the expected kind could be read.
    pub fn unparseable() -> Self {
        Self {
            correct: false,
            unparseable: true,
            extracted: None,
            score: 0.0,
        }
    }
}

/// Whether a verifier could read an answer and whether it is right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The answer matches the reference.
    Correct,
    /// A readable answer that does not match (or commits to several values).
    Incorrect,
    /// No answer of the expected kind could be read.
    Unparseable,
}

/// The value a verifier read, borrowed where possible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extracted<'a> {
    /// Nothing was read (or several contradictory values).
    Nothing,
    /// An option letter.
    Letter(char),
    /// A fixed word such as "yes" or a canonical closed label.
    Word(&'static str),
    /// A span of the answer text, to be shown normalised.
    Text(&'a str),
    /// A number with an optional unit.
    Number(f64, Option<&'static str>),
}

impl Extracted<'_> {
    /// The owned display form (`Text` is normalised with [`normalize_text`]).
    pub fn to_display(&self) -> Option<String> {
        match *self {
            Self::Nothing => None,
            Self::Letter(letter) => Some(letter.to_string()),
            Self::Word(word) => Some(word.to_owned()),
            Self::Text(text) => Some(normalize_text(text)),
            Self::Number(value, None) => Some(value.to_string()),
            Self::Number(value, Some(unit)) => Some(format!("{value} {unit}")),
        }
    }
}

/// Allocation-free result of one verifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement<'a> {
    /// Correct, incorrect or unparseable.
    pub verdict: Verdict,
    /// Graded credit in [0, 1].
    pub score: f32,
    /// What was read.
    pub extracted: Extracted<'a>,
}

impl<'a> Judgement<'a> {
    /// A readable answer, right or wrong; score 1 or 0.
    pub(crate) fn judged(extracted: Extracted<'a>, correct: bool) -> Self {
        Self {
            verdict: if correct {
                Verdict::Correct
            } else {
                Verdict::Incorrect
            },
            score: if correct { 1.0 } else { 0.0 },
            extracted,
        }
    }

    /// Nothing of the expected kind could be read.
    pub(crate) fn unparseable() -> Self {
        Self {
            verdict: Verdict::Unparseable,
            score: 0.0,
            extracted: Extracted::Nothing,
        }
    }

    /// An answer that commits to several contradictory values: incorrect, never lucky.
    pub(crate) fn ambiguous() -> Self {
        Self {
            verdict: Verdict::Incorrect,
            score: 0.0,
            extracted: Extracted::Nothing,
        }
    }

    /// True when the verdict is correct.
    pub fn is_correct(&self) -> bool {
        self.verdict == Verdict::Correct
    }

    /// The owned form.
    pub fn to_verification(&self) -> Verification {
        Verification {
            correct: self.is_correct(),
            unparseable: self.verdict == Verdict::Unparseable,
            extracted: self.extracted.to_display(),
            score: self.score,
        }
    }
}

/// Checks an answer string without allocating (closed labels look synonyms up by their
/// normalised text, which allocates one short string).
pub fn judge_answer<'a>(reference: &Reference, answer: &'a str) -> Judgement<'a> {
    match reference.answer_type {
        AnswerType::YesNo => yes_no::verify_yes_no(reference, answer),
        AnswerType::MultipleChoice => choice::verify_choice(reference, answer),
        AnswerType::Numeric => numeric::verify_numeric(reference, answer),
        AnswerType::Count => count::verify_count(reference, answer),
        AnswerType::Closed => closed::verify_closed(reference, answer, closed::standard_synonyms()),
        AnswerType::Open => text::verify_open(reference, answer),
    }
}

/// Check an answer string (already taken out of the answer tag) against a reference.
pub fn verify_answer(reference: &Reference, answer: &str) -> Verification {
    judge_answer(reference, answer).to_verification()
}
