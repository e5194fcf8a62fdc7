//! Structural parsing of `<think>…</think><answer>…</answer>` responses.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// What [`parse_response`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedResponse {
    /// Trimmed content of the first complete think block.
    pub think: Option<String>,
    /// Trimmed content of the first complete answer block (even when the format is not ok).
    pub answer: Option<String>,
    /// True iff the response has exactly the required structure.
    pub format_ok: bool,
    /// Every structural problem found, each listed once, in order of discovery.
    pub problems: Vec<FormatProblem>,
}

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
enum BlockKind {
    Think,
    Answer,
}

impl BlockKind {
    /// The tag name without brackets.
    fn tag(self) -> &'static str {
        match self {
            Self::Think => "think",
            Self::Answer => "answer",
        }
    }
}

/// One recognised tag occurrence.
#[derive(Debug, Clone, Copy)]
struct Tag {
    kind: BlockKind,
    closing: bool,
    start: usize,
    end: usize,
}

/// All tag spellings recognised (matched ASCII case-insensitively).
const TAG_SPELLINGS: [(&[u8], BlockKind, bool); 4] = [
    (b"<think>", BlockKind::Think, false),
    (b"</think>", BlockKind::Think, true),
    (b"<answer>", BlockKind::Answer, false),
    (b"</answer>", BlockKind::Answer, true),
];

/// Finds every tag in one linear pass (each `<` is compared against at most four short spellings).
fn scan_tags(text: &str) -> Vec<Tag> {
    let bytes = text.as_bytes();
    let mut tags = Vec::new();
    for (start, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'<') {
        let rest = &bytes[start..];
        let found = TAG_SPELLINGS.iter().find(|(spelling, _, _)| {
            rest.len() >= spelling.len() && rest[..spelling.len()].eq_ignore_ascii_case(spelling)
        });
        if let Some((spelling, kind, closing)) = found {
            tags.push(Tag {
                kind: *kind,
                closing: *closing,
                start,
                end: start + spelling.len(),
            });
        }
    }
    tags
}

/// A complete top-level block.
#[derive(Debug, Clone)]
struct Block {
    kind: BlockKind,
    content: Range<usize>,
}

/// Collects problems without repeats.
#[derive(Debug, Default)]
struct ProblemList(Vec<FormatProblem>);

impl ProblemList {
    /// Records a problem unless it is already recorded.
    fn push(&mut self, problem: FormatProblem) {
        if !self.0.contains(&problem) {
            self.0.push(problem);
        }
    }

    /// Whether the problem was recorded.
    fn contains(&self, problem: &FormatProblem) -> bool {
        self.0.contains(problem)
    }
}

/// Splits the text into complete top-level blocks, recording unclosed tags and outside text.
///
/// An opening tag or a mismatched closing tag inside an open block ends that block as
/// unclosed; an opening tag then starts a new block. A closing tag with no open block is
/// treated as text outside the blocks.
fn collect_blocks(text: &str, problems: &mut ProblemList) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(BlockKind, usize)> = None;
    let mut outside_from = 0;
    let note_outside = |range: Range<usize>, problems: &mut ProblemList| {
        if !text[range].trim().is_empty() {
            problems.push(FormatProblem::TextOutsideTags);
        }
    };
    for tag in scan_tags(text) {
        match open {
            None if tag.closing => {
                problems.push(FormatProblem::TextOutsideTags);
                outside_from = tag.end;
            }
            None => {
                note_outside(outside_from..tag.start, problems);
                open = Some((tag.kind, tag.end));
            }
            Some((kind, content_start)) if tag.closing && tag.kind == kind => {
                blocks.push(Block {
                    kind,
                    content: content_start..tag.start,
                });
                open = None;
                outside_from = tag.end;
            }
            Some((kind, _)) => {
                problems.push(FormatProblem::UnclosedTag(kind.tag().to_owned()));
                if tag.closing {
                    open = None;
                    outside_from = tag.end;
                } else {
                    open = Some((tag.kind, tag.end));
                }
            }
        }
    }
    match open {
        Some((kind, _)) => problems.push(FormatProblem::UnclosedTag(kind.tag().to_owned())),
        None => note_outside(outside_from..text.len(), problems),
    }
    blocks
}

/// Parse `<think>…</think><answer>…</answer>`. Total (never panics), linear time.
///
/// Tags are case-insensitive; whitespace around and between the blocks is tolerated.
/// `format_ok` is true iff there is exactly one think block followed by exactly one answer
/// block, both closed, nothing but whitespace outside them, and the answer is non-empty after
/// trimming. `answer`/`think` hold the trimmed content of the first complete block of that kind
/// even when the format is not ok.
pub fn parse_response(text: &str) -> ParsedResponse {
    let mut problems = ProblemList::default();
    let blocks = collect_blocks(text, &mut problems);
    let first_of = |kind: BlockKind| blocks.iter().position(|block| block.kind == kind);
    let count_of = |kind: BlockKind| blocks.iter().filter(|block| block.kind == kind).count();
    let content_of =
        |index: Option<usize>| index.map(|i| text[blocks[i].content.clone()].trim().to_owned());

    let first_think = first_of(BlockKind::Think);
    let first_answer = first_of(BlockKind::Answer);
    for (kind, first, missing) in [
        (BlockKind::Think, first_think, FormatProblem::MissingThink),
        (
            BlockKind::Answer,
            first_answer,
            FormatProblem::MissingAnswer,
        ),
    ] {
        let unclosed = FormatProblem::UnclosedTag(kind.tag().to_owned());
        if first.is_none() && !problems.contains(&unclosed) {
            problems.push(missing);
        }
        if count_of(kind) > 1 {
            problems.push(FormatProblem::DuplicateTag(kind.tag().to_owned()));
        }
    }
    if let (Some(think), Some(answer)) = (first_think, first_answer) {
        if answer < think {
            problems.push(FormatProblem::WrongOrder);
        }
    }
    let answer = content_of(first_answer);
    if answer.as_deref().is_some_and(str::is_empty) {
        problems.push(FormatProblem::EmptyAnswer);
    }
    ParsedResponse {
        think: content_of(first_think),
        answer,
        format_ok: problems.0.is_empty(),
        problems: problems.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_tags_case_insensitively_and_ignores_near_misses() {
        let tags = scan_tags("<THINK></Think><answer ><Answer></ANSWER><thinker>");
        let found: Vec<(&str, bool)> = tags.iter().map(|t| (t.kind.tag(), t.closing)).collect();
        assert_eq!(
            found,
            vec![
                ("think", false),
                ("think", true),
                ("answer", false),
                ("answer", true)
            ]
        );
    }

    #[test]
    fn block_ranges_point_at_the_content() {
        let text = "<think>ab</think><answer>c</answer>";
        let mut problems = ProblemList::default();
        let blocks = collect_blocks(text, &mut problems);
        assert!(problems.0.is_empty());
        assert_eq!(&text[blocks[0].content.clone()], "ab");
        assert_eq!(&text[blocks[1].content.clone()], "c");
    }
}
