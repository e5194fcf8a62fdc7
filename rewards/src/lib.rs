//! Verifiable rewards for medical visual question answering.
//!
//! A response should look like `<think>…</think><answer>…</answer>`. [`parse_response`] checks
//! the structure, [`extract_answer`] finds an answer in free text (answer tag, last
//! `\boxed{…}`, "the answer is X", the whole text), [`verify_answer`] checks an answer against
//! a typed [`Reference`], and a [`Rubric`] combines weighted [`RewardComponent`]s (registered by
//! name, configurable from TOML through [`ComponentRegistry`]) into a [`RewardBreakdown`] with a
//! typed [`Outcome`]. [`score_item`] scores evaluation responses in the [`ScoringMode::Strict`]
//! or [`ScoringMode::Medevalkit`] mode. Every function is total and linear-time in the response,
//! except MedEvalKit's difflib fallback, which is reproduced as it is.

#![warn(missing_docs)]

mod ascii;
mod error;
mod extract;
pub mod medevalkit;
mod modes;
mod normalize;
#[cfg(test)]
mod oracle;
mod outcome;
mod parse;
mod prepared;
mod reference;
mod registry;
mod rubric;
mod shaping;
mod verify;

pub use error::RewardError;
pub use extract::{
    answer_phrase, boxes_conflict, extract_answer, last_boxed, AnswerSource, Extraction,
};
pub use modes::{score_item, ItemScore, ScoringMode, EXTRACTED_DISPLAY_CHARS};
pub use normalize::normalize_text;
pub use outcome::Outcome;
pub use parse::{
    parse_response, parse_view, FormatProblem, ParsedResponse, ParsedView, ProblemCode, ProblemSet,
};
pub use reference::{AnswerType, Reference, LAST_OPTION_LETTER};
pub use registry::{ComponentFactory, ComponentParams, ComponentRegistry};
pub use rubric::{
    verify_parsed, AccuracyReward, BoxedFormatReward, ComponentScore, ExtractedAccuracyReward,
    FormatReward, OverlongReward, PartialCreditReward, ReflectionReward, RewardBreakdown,
    RewardComponent, Rubric, ScoreInput,
};
pub use shaping::{
    boxed_format_ok, OverlongPenalty, ReflectionDetector, DEFAULT_REFLECTION_PHRASES,
};
pub use verify::closed::{verify_closed_with, SynonymTable};
pub use verify::numeric::{NUMERIC_ABSOLUTE_TOLERANCE, NUMERIC_RELATIVE_TOLERANCE};
pub use verify::text::{token_overlap, TokenOverlap};
pub use verify::{judge_answer, verify_answer, Extracted, Judgement, Verdict, Verification};
