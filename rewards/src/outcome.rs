//! The typed outcome of scoring one response.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::parse::ParsedResponse;
use crate::verify::Verification;

/// Typed outcome: "correct", "incorrect", "unparseable", "format_error".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Well formatted and the answer verifies.
    Correct,
    /// Well formatted, readable, but wrong (or ambiguous).
    Incorrect,
    /// Well formatted, but no answer of the expected kind could be read.
    Unparseable,
    /// The response does not follow the think/answer format.
    FormatError,
}

impl Outcome {
    /// All outcomes, in declaration order.
    pub const ALL: [Outcome; 4] = [
        Outcome::Correct,
        Outcome::Incorrect,
        Outcome::Unparseable,
        Outcome::FormatError,
    ];

    /// The snake_case name used in JSON and in `Display`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Correct => "correct",
            Self::Incorrect => "incorrect",
            Self::Unparseable => "unparseable",
            Self::FormatError => "format_error",
        }
    }

    /// `FormatError` if the format is not ok; else `Unparseable` if nothing could be read;
    /// else `Correct`/`Incorrect`.
    pub fn classify(parsed: &ParsedResponse, verification: &Verification) -> Self {
        if !parsed.format_ok {
            Self::FormatError
        } else if verification.unparseable {
            Self::Unparseable
        } else if verification.correct {
            Self::Correct
        } else {
            Self::Incorrect
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
