//! The structural problems a response can have, and the allocation-free set [`parse_view`]
//! records them in.
//!
//! [`parse_view`]: super::parse_view

use std::fmt;

use serde::{Deserialize, Serialize};

/// Structural problems.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatProblem {
    /// No think block (and no unclosed one either).
    MissingThink,
    /// No answer block (and no unclosed one either).
    MissingAnswer,
    /// More than one complete block of the named tag.
    DuplicateTag(String),
    /// A block of the named tag was opened but not properly closed.
    UnclosedTag(String),
    /// The answer block comes before the think block.
    WrongOrder,
    /// Non-whitespace text (or a stray closing tag) outside the blocks.
    TextOutsideTags,
    /// The answer block is empty after trimming.
    EmptyAnswer,
}

impl fmt::Display for FormatProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingThink => f.write_str("missing <think> block"),
            Self::MissingAnswer => f.write_str("missing <answer> block"),
            Self::DuplicateTag(tag) => write!(f, "more than one <{tag}> block"),
            Self::UnclosedTag(tag) => write!(f, "<{tag}> block is not closed"),
            Self::WrongOrder => f.write_str("<answer> block comes before <think> block"),
            Self::TextOutsideTags => f.write_str("text outside the <think>/<answer> blocks"),
            Self::EmptyAnswer => f.write_str("<answer> block is empty"),
        }
    }
}

/// The two block kinds of the response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BlockKind {
    Think,
    Answer,
}

impl BlockKind {
    /// The tag name without brackets.
    pub(super) fn tag(self) -> &'static str {
        match self {
            Self::Think => "think",
            Self::Answer => "answer",
        }
    }

    /// Index into per-kind arrays.
    pub(super) fn index(self) -> usize {
        match self {
            Self::Think => 0,
            Self::Answer => 1,
        }
    }
}

/// A structural problem as a small code, so that [`parse_view`] needs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemCode {
    /// See [`FormatProblem::MissingThink`].
    MissingThink,
    /// See [`FormatProblem::MissingAnswer`].
    MissingAnswer,
    /// More than one think block.
    DuplicateThink,
    /// More than one answer block.
    DuplicateAnswer,
    /// A think block is not closed.
    UnclosedThink,
    /// An answer block is not closed.
    UnclosedAnswer,
    /// See [`FormatProblem::WrongOrder`].
    WrongOrder,
    /// See [`FormatProblem::TextOutsideTags`].
    TextOutsideTags,
    /// See [`FormatProblem::EmptyAnswer`].
    EmptyAnswer,
}

impl ProblemCode {
    /// The owned, descriptive form.
    pub fn to_problem(self) -> FormatProblem {
        match self {
            Self::MissingThink => FormatProblem::MissingThink,
            Self::MissingAnswer => FormatProblem::MissingAnswer,
            Self::DuplicateThink => FormatProblem::DuplicateTag(BlockKind::Think.tag().to_owned()),
            Self::DuplicateAnswer => {
                FormatProblem::DuplicateTag(BlockKind::Answer.tag().to_owned())
            }
            Self::UnclosedThink => FormatProblem::UnclosedTag(BlockKind::Think.tag().to_owned()),
            Self::UnclosedAnswer => FormatProblem::UnclosedTag(BlockKind::Answer.tag().to_owned()),
            Self::WrongOrder => FormatProblem::WrongOrder,
            Self::TextOutsideTags => FormatProblem::TextOutsideTags,
            Self::EmptyAnswer => FormatProblem::EmptyAnswer,
        }
    }

    /// The code's bit in [`ProblemSet`]'s membership mask.
    #[inline]
    fn bit(self) -> u16 {
        1 << self as u16
    }

    pub(super) fn duplicate(kind: BlockKind) -> Self {
        match kind {
            BlockKind::Think => Self::DuplicateThink,
            BlockKind::Answer => Self::DuplicateAnswer,
        }
    }

    pub(super) fn unclosed(kind: BlockKind) -> Self {
        match kind {
            BlockKind::Think => Self::UnclosedThink,
            BlockKind::Answer => Self::UnclosedAnswer,
        }
    }
}

/// Number of distinct [`ProblemCode`]s.
const PROBLEM_KINDS: usize = 9;

/// The problems found, each once, in order of discovery (fixed capacity, no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemSet {
    codes: [ProblemCode; PROBLEM_KINDS],
    len: u8,
    /// One bit per recorded code (see [`ProblemCode::bit`]).
    seen: u16,
}

impl Default for ProblemSet {
    fn default() -> Self {
        Self {
            codes: [ProblemCode::MissingThink; PROBLEM_KINDS],
            len: 0,
            seen: 0,
        }
    }
}

impl ProblemSet {
    /// Records a problem unless it is already recorded.
    #[inline]
    pub(crate) fn push(&mut self, code: ProblemCode) {
        let len = usize::from(self.len);
        if !self.contains(code) && len < PROBLEM_KINDS {
            self.codes[len] = code;
            self.len += 1;
            self.seen |= code.bit();
        }
    }

    /// Whether the problem was recorded.
    #[inline]
    pub fn contains(&self, code: ProblemCode) -> bool {
        self.seen & code.bit() != 0
    }

    /// The problems in order of discovery.
    pub fn as_slice(&self) -> &[ProblemCode] {
        &self.codes[..usize::from(self.len)]
    }

    /// True when no problem was found.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }
}
