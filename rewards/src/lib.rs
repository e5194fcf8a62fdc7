//! Verifiable rewards for medical visual question answering.
//!
//! A response must look like `<think>…</think><answer>…</answer>`. [`parse_response`] checks the
//! structure, [`verify_answer`] checks the answer block against a [`Reference`], and a [`Rubric`]
//! combines weighted [`RewardComponent`]s into a [`RewardBreakdown`] with a typed [`Outcome`].

#![warn(missing_docs)]

mod error;
mod normalize;
mod outcome;
mod parse;
mod reference;
mod rubric;
mod verify;

pub use error::RewardError;
pub use normalize::normalize_text;
pub use outcome::Outcome;
pub use parse::{parse_response, FormatProblem, ParsedResponse};
pub use reference::{AnswerType, Reference, LAST_OPTION_LETTER};
pub use rubric::{
    verify_parsed, AccuracyReward, ComponentScore, FormatReward, RewardBreakdown, RewardComponent,
    Rubric,
};
pub use verify::numeric::{NUMERIC_ABSOLUTE_TOLERANCE, NUMERIC_RELATIVE_TOLERANCE};
pub use verify::{verify_answer, Verification};
