//! Evaluation scoring modes: `medevalkit` reproduces MedEvalKit's rules, quirks included;
//! `strict` applies this crate's corrected extraction and verifiers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::RewardError;
use crate::extract::extract_answer;
use crate::medevalkit;
use crate::outcome::Outcome;
use crate::reference::{AnswerType, Reference};
use crate::verify::{judge_answer, Verdict};

/// How an evaluation response is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoringMode {
    /// MedEvalKit's `utils.py` judges, exactly.
    Medevalkit,
    /// Total extraction plus the typed verifiers of this crate.
    Strict,
}

impl ScoringMode {
    /// Both modes, MedEvalKit first.
    pub const ALL: [ScoringMode; 2] = [Self::Medevalkit, Self::Strict];

    /// The name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Medevalkit => "medevalkit",
            Self::Strict => "strict",
        }
    }
}

impl fmt::Display for ScoringMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScoringMode {
    type Err = RewardError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "medevalkit" => Ok(Self::Medevalkit),
            "strict" => Ok(Self::Strict),
            other => Err(RewardError::invalid_config(
                "mode",
                other,
                "expected medevalkit or strict",
            )),
        }
    }
}

/// The score of one evaluation response in one mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemScore {
    /// Counted as correct.
    pub correct: bool,
    /// Graded credit in [0, 1] (strict: token F1 for open answers; MedEvalKit: 0 or 1).
    pub score: f32,
    /// Typed outcome (MedEvalKit never reports unparseable: it always compares something).
    pub outcome: Outcome,
    /// What was compared: the option letter, yes/no, the label or number read, or
    /// MedEvalKit's parsed response (cut to [`EXTRACTED_DISPLAY_CHARS`] characters).
    pub extracted: Option<String>,
}

/// Longest `extracted` text reported for MedEvalKit's parsed responses.
pub const EXTRACTED_DISPLAY_CHARS: usize = 200;

/// Scores one response in the given mode.
pub fn score_item(mode: ScoringMode, response: &str, reference: &Reference) -> ItemScore {
    match mode {
        ScoringMode::Medevalkit => score_medevalkit(response, reference),
        ScoringMode::Strict => score_strict(response, reference),
    }
}

/// Strict mode: duplicated or unclosed answer tags are a format error; boxes that disagree are
/// incorrect; otherwise the extracted answer is verified by type.
fn score_strict(response: &str, reference: &Reference) -> ItemScore {
    let extraction = extract_answer(response);
    if extraction.tag_problem {
        return ItemScore {
            correct: false,
            score: 0.0,
            outcome: Outcome::FormatError,
            extracted: None,
        };
    }
    if extraction.conflicting_boxes {
        return ItemScore {
            correct: false,
            score: 0.0,
            outcome: Outcome::Incorrect,
            extracted: None,
        };
    }
    let judgement = judge_answer(reference, extraction.text);
    ItemScore {
        correct: judgement.is_correct(),
        score: judgement.score,
        outcome: match judgement.verdict {
            Verdict::Correct => Outcome::Correct,
            Verdict::Incorrect => Outcome::Incorrect,
            Verdict::Unparseable => Outcome::Unparseable,
        },
        extracted: judgement.extracted.to_display(),
    }
}

/// Cuts text to the display limit.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(EXTRACTED_DISPLAY_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// MedEvalKit mode: yes/no → `judge_judgement`; multiple choice → `extract(response, "answer")`
/// then `judge_multi_choice` over [`medevalkit::lettered_choices`] (as its dataset classes do);
/// closed → `judge_close_end_vqa`;
/// open, numeric and count → the exact match of `judge_open_end_vqa`.
fn score_medevalkit(response: &str, reference: &Reference) -> ItemScore {
    let answer = reference.answer();
    let (correct, extracted) = match reference.answer_type {
        AnswerType::YesNo => (
            medevalkit::judge_judgement(answer, response),
            shorten(&medevalkit::parse_response(response).replace(['\n', '.'], "")),
        ),
        AnswerType::MultipleChoice => {
            let choices = medevalkit::lettered_choices(reference.options());
            let tagged = medevalkit::extract_answer_tags(response);
            let judged = medevalkit::judge_multi_choice(&choices, answer, &tagged);
            (
                judged.correct,
                judged.letter.map(String::from).unwrap_or_default(),
            )
        }
        AnswerType::Closed => (
            medevalkit::judge_close_end_vqa(answer, response),
            shorten(&medevalkit::parse_response(response).replace(['\n', '.'], "")),
        ),
        AnswerType::Open | AnswerType::Numeric | AnswerType::Count => (
            medevalkit::judge_open_end_vqa_em(answer, response),
            shorten(&medevalkit::parse_response(response)),
        ),
    };
    ItemScore {
        correct,
        score: if correct { 1.0 } else { 0.0 },
        outcome: if correct {
            Outcome::Correct
        } else {
            Outcome::Incorrect
        },
        extracted: Some(extracted),
    }
}
