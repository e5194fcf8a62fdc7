//! Reference answers and their validation.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::RewardError;
use crate::normalize::normalize_text;
use crate::prepared::PreparedAnswer;
use crate::verify::count::{is_count, read_count};
use crate::verify::numeric::first_number;
use crate::verify::option_index::OptionIndex;
use crate::verify::text::TokenOverlap;
use crate::verify::yes_no::{classify_yes_no, YesNoReading};

/// Highest option letter a multiple-choice reference may use.
pub const LAST_OPTION_LETTER: char = 'J';

/// Kind of reference answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerType {
    /// A yes/no question.
    YesNo,
    /// Pick one lettered option.
    MultipleChoice,
    /// A short answer from a small closed vocabulary (e.g. "left").
    Closed,
    /// A free-text answer matched after normalisation.
    Open,
    /// A number (optionally with a unit) compared with a tight tolerance.
    Numeric,
    /// A non-negative whole number of things ("3", "three", "none").
    Count,
}

impl AnswerType {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::YesNo => "yes_no",
            Self::MultipleChoice => "multiple_choice",
            Self::Closed => "closed",
            Self::Open => "open",
            Self::Numeric => "numeric",
            Self::Count => "count",
        }
    }
}

impl AnswerType {
    /// Every answer type, in declaration order.
    pub const ALL: [AnswerType; 6] = [
        Self::YesNo,
        Self::MultipleChoice,
        Self::Closed,
        Self::Open,
        Self::Numeric,
        Self::Count,
    ];
}

impl fmt::Display for AnswerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference answer, with its options (letter "A".."J" -> option text) for multiple choice.
///
/// Deserialisation validates exactly like the constructors do. The answer and the options are
/// fixed at construction ([`Reference::answer`] and [`Reference::options`] read them), because
/// the verifiers read them once, there, rather than on every call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "UncheckedReference")]
pub struct Reference {
    /// The reference answer (the option letter for multiple choice).
    answer: String,
    /// How the answer is checked.
    pub answer_type: AnswerType,
    /// Option letter -> option text; empty unless multiple choice.
    options: BTreeMap<String, String>,
    /// The options prepared for matching.
    #[serde(skip)]
    option_index: OptionIndex,
    /// `answer` as the verifiers read it, read once.
    #[serde(skip)]
    prepared: PreparedAnswer,
}

/// Equal when the answers, answer types and options are (the prepared forms follow from those).
impl PartialEq for Reference {
    fn eq(&self, other: &Self) -> bool {
        self.answer == other.answer
            && self.answer_type == other.answer_type
            && self.options == other.options
    }
}

impl Eq for Reference {}

/// The serialised shape of a reference before validation.
#[derive(Deserialize)]
struct UncheckedReference {
    answer: String,
    answer_type: AnswerType,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

impl TryFrom<UncheckedReference> for Reference {
    type Error = RewardError;

    fn try_from(raw: UncheckedReference) -> Result<Self, Self::Error> {
        match raw.answer_type {
            AnswerType::MultipleChoice => Reference::multiple_choice(&raw.answer, raw.options),
            other if !raw.options.is_empty() => Err(RewardError::invalid_reference(
                "options",
                &format!("{:?}", raw.options),
                &format!("options are only allowed for multiple_choice, not {other}"),
            )),
            other => Reference::new(&raw.answer, other),
        }
    }
}

impl Reference {
    /// Plain constructor for yes/no, closed, open, numeric, count (validates: yes/no answer must
    /// read as yes or no; numeric must contain a number; count must read as a whole number).
    pub fn new(answer: &str, answer_type: AnswerType) -> Result<Self, RewardError> {
        let answer = answer.trim();
        match answer_type {
            AnswerType::MultipleChoice => {
                return Err(RewardError::invalid_reference(
                    "answer_type",
                    answer_type.as_str(),
                    "multiple-choice references need options; use Reference::multiple_choice",
                ))
            }
            AnswerType::YesNo => {
                if !matches!(
                    classify_yes_no(answer),
                    YesNoReading::Yes | YesNoReading::No
                ) {
                    return Err(RewardError::invalid_reference(
                        "answer",
                        answer,
                        "a yes_no answer must read as exactly one of yes or no",
                    ));
                }
            }
            AnswerType::Numeric => {
                if first_number(answer).is_none() {
                    return Err(RewardError::invalid_reference(
                        "answer",
                        answer,
                        "a numeric answer must contain a finite number",
                    ));
                }
            }
            AnswerType::Count => {
                if !read_count(answer).is_some_and(is_count) {
                    return Err(RewardError::invalid_reference(
                        "answer",
                        answer,
                        "a count answer must be a non-negative whole number or number word",
                    ));
                }
            }
            AnswerType::Closed | AnswerType::Open => {
                if normalize_text(answer).is_empty() {
                    return Err(RewardError::invalid_reference(
                        "answer",
                        answer,
                        "the answer is empty after normalisation",
                    ));
                }
            }
        }
        Ok(Self {
            answer: answer.to_owned(),
            answer_type,
            options: BTreeMap::new(),
            option_index: OptionIndex::default(),
            prepared: PreparedAnswer::new(answer),
        })
    }

    /// Multiple-choice constructor: answer is a letter; error if the letter is not among the
    /// options or options empty.
    ///
    /// Option letters are upper-cased; each must be a single letter `A`..=`J` with non-empty text.
    pub fn multiple_choice(
        answer_letter: &str,
        options: BTreeMap<String, String>,
    ) -> Result<Self, RewardError> {
        if options.is_empty() {
            return Err(RewardError::invalid_reference(
                "options",
                "{}",
                "a multiple-choice reference needs at least one option",
            ));
        }
        let mut canonical = BTreeMap::new();
        for (key, text) in options {
            let letter = canonical_option_letter(&key).ok_or_else(|| {
                RewardError::invalid_reference(
                    "options",
                    &key,
                    &format!("option keys must be a single letter A..{LAST_OPTION_LETTER}"),
                )
            })?;
            let text = text.trim();
            if text.is_empty() {
                return Err(RewardError::invalid_reference(
                    &format!("options.{key}"),
                    text,
                    "option text must not be empty",
                ));
            }
            if canonical
                .insert(letter.to_string(), text.to_owned())
                .is_some()
            {
                return Err(RewardError::invalid_reference(
                    "options",
                    &key,
                    "option letter appears twice (keys are case-insensitive)",
                ));
            }
        }
        let answer = canonical_option_letter(answer_letter)
            .map(String::from)
            .filter(|letter| canonical.contains_key(letter))
            .ok_or_else(|| {
                RewardError::invalid_reference(
                    "answer",
                    answer_letter,
                    &format!(
                        "the answer must be one of the option letters {:?}",
                        canonical.keys().collect::<Vec<_>>()
                    ),
                )
            })?;
        Ok(Self {
            answer_type: AnswerType::MultipleChoice,
            option_index: OptionIndex::new(&canonical),
            prepared: PreparedAnswer::new(&answer),
            answer,
            options: canonical,
        })
    }

    /// The reference answer (the option letter for multiple choice), trimmed.
    pub fn answer(&self) -> &str {
        &self.answer
    }

    /// Option letter -> option text; empty unless multiple choice.
    pub fn options(&self) -> &BTreeMap<String, String> {
        &self.options
    }

    /// Token-set precision, recall and F1 of `prediction` against the answer: the result of
    /// [`crate::token_overlap`], with the answer's tokens read once at construction.
    pub fn token_overlap(&self, prediction: &str) -> TokenOverlap {
        self.prepared().tokens.overlap(&self.answer, prediction)
    }

    /// The answer as the verifiers read it, prepared at construction.
    pub(crate) fn prepared(&self) -> &PreparedAnswer {
        &self.prepared
    }

    /// The options prepared for matching.
    pub(crate) fn option_index(&self) -> &OptionIndex {
        &self.option_index
    }

    /// Checks that the constructors would accept the reference with its current answer type
    /// (useful after editing the public `answer_type` directly).
    pub fn validate(&self) -> Result<(), RewardError> {
        match self.answer_type {
            AnswerType::MultipleChoice => {
                Reference::multiple_choice(&self.answer, self.options.clone()).map(drop)
            }
            other if !self.options.is_empty() => Err(RewardError::invalid_reference(
                "options",
                &format!("{:?}", self.options),
                &format!("options are only allowed for multiple_choice, not {other}"),
            )),
            other => Reference::new(&self.answer, other).map(drop),
        }
    }
}

/// Upper-cased option letter if `text` (trimmed) is one letter in `A..=LAST_OPTION_LETTER`.
fn canonical_option_letter(text: &str) -> Option<char> {
    let mut chars = text.trim().chars();
    let letter = chars.next()?.to_ascii_uppercase();
    let in_range = ('A'..=LAST_OPTION_LETTER).contains(&letter);
    (chars.next().is_none() && in_range).then_some(letter)
}
