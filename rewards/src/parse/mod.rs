//! Structural parsing of `<think>…</think><answer>…</answer>` responses.
//!
//! [`parse_view`] does the work in one pass without allocating and borrows from the response;
//! [`parse_response`] wraps it into an owned [`ParsedResponse`].

mod problems;

use serde::Serialize;

use problems::BlockKind;
pub use problems::{FormatProblem, ProblemCode, ProblemSet};

use crate::ascii::{find_byte, is_blank, is_space, sub_str, trim};

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

/// Borrowed result of [`parse_view`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedView<'a> {
    /// Content of the first complete think block, untrimmed (see [`ParsedView::think`]).
    pub(crate) think_block: Option<&'a str>,
    /// Trimmed content of the first complete answer block.
    pub answer: Option<&'a str>,
    /// The text after the last complete think block.
    pub after_think: Option<&'a str>,
    /// Problems found, in order of discovery.
    pub problems: ProblemSet,
}

impl<'a> ParsedView<'a> {
    /// Trimmed content of the first complete think block (trimmed on request, since scoring
    /// rarely reads it).
    pub fn think(&self) -> Option<&'a str> {
        self.think_block.map(trim)
    }

    /// True iff the response has exactly the required structure.
    pub fn format_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The owned form.
    pub fn to_owned_response(&self) -> ParsedResponse {
        ParsedResponse {
            think: self.think().map(str::to_owned),
            answer: self.answer.map(str::to_owned),
            format_ok: self.format_ok(),
            problems: self
                .problems
                .as_slice()
                .iter()
                .map(|code| code.to_problem())
                .collect(),
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

/// Skips ASCII whitespace from `at`.
fn skip_spaces(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// The first eight bytes of `pattern` as a little-endian word.
const fn word_of(pattern: &[u8]) -> u64 {
    let mut word = 0;
    let mut index = 0;
    while index < 8 && index < pattern.len() {
        word |= (pattern[index] as u64) << (8 * index);
        index += 1;
    }
    word
}

/// `<think>` (seven bytes, so compared under [`SEVEN_BYTES`]).
const THINK_OPEN: u64 = word_of(b"<think>");
/// `</think>`.
const THINK_CLOSE: u64 = word_of(b"</think>");
/// `<answer>`.
const ANSWER_OPEN: u64 = word_of(b"<answer>");
/// `</answer`, followed by `>` in the ninth byte.
const ANSWER_CLOSE_HEAD: u64 = word_of(b"</answer");
/// Mask of the low seven bytes of a word.
const SEVEN_BYTES: u64 = (1 << 56) - 1;

/// The plain (lower-case, space-free) tag of `kind` and direction at `at`, if that is what is
/// there: one word compare.
#[inline(always)]
fn plain_tag_at(bytes: &[u8], at: usize, kind: BlockKind, closing: bool) -> Option<Tag> {
    let word = u64::from_le_bytes(*bytes.get(at..)?.first_chunk::<8>()?);
    let found = match (kind, closing) {
        (BlockKind::Think, false) => word & SEVEN_BYTES == THINK_OPEN,
        (BlockKind::Think, true) => word == THINK_CLOSE,
        (BlockKind::Answer, false) => word == ANSWER_OPEN,
        (BlockKind::Answer, true) => word == ANSWER_CLOSE_HEAD && bytes.get(at + 8) == Some(&b'>'),
    };
    let len = match (kind, closing) {
        (BlockKind::Think, false) => 7,
        (BlockKind::Answer, true) => 9,
        _ => 8,
    };
    found.then_some(Tag {
        kind,
        closing,
        start: at,
        end: at + len,
    })
}

/// Reads the usual lower-case, space-free spellings of the tags with a few word compares;
/// `None` for anything else (which [`read_tag`] then reads byte by byte).
#[inline]
fn read_plain_tag(bytes: &[u8], start: usize) -> Option<Tag> {
    [
        (BlockKind::Think, true),
        (BlockKind::Answer, false),
        (BlockKind::Answer, true),
        (BlockKind::Think, false),
    ]
    .into_iter()
    .find_map(|(kind, closing)| plain_tag_at(bytes, start, kind, closing))
}

/// Reads a tag starting at the `<` at `start`: `<`, optional `/`, `think` or `answer` (any case),
/// `>`, with ASCII whitespace allowed around the slash and the name.
fn read_tag(bytes: &[u8], start: usize) -> Option<Tag> {
    if let Some(tag) = read_plain_tag(bytes, start) {
        return Some(tag);
    }
    let mut at = skip_spaces(bytes, start + 1);
    let closing = bytes.get(at) == Some(&b'/');
    if closing {
        at = skip_spaces(bytes, at + 1);
    }
    let rest = bytes.get(at..)?;
    let (kind, name_len) = if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"think") {
        (BlockKind::Think, 5)
    } else if rest.len() >= 6 && rest[..6].eq_ignore_ascii_case(b"answer") {
        (BlockKind::Answer, 6)
    } else {
        return None;
    };
    at = skip_spaces(bytes, at + name_len);
    (bytes.get(at) == Some(&b'>')).then_some(Tag {
        kind,
        closing,
        start,
        end: at + 1,
    })
}

/// Position of the first `<` at or after `from` (see [`find_byte`]).
#[inline]
fn next_open_angle(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    find_byte(b'<', rest).map(|offset| from + offset)
}

/// Per-kind block bookkeeping.
#[derive(Debug, Clone, Copy, Default)]
struct BlockStats {
    /// Byte range of the first complete block's content.
    first: Option<(usize, usize)>,
    /// Number of complete blocks.
    count: usize,
}

/// Parse `<think>…</think><answer>…</answer>` without allocating. Total, linear time.
///
/// Tags are case-insensitive and may contain ASCII whitespace (`< /Answer >`); whitespace around
/// and between the blocks is tolerated. An opening tag or a mismatched closing tag inside an open
/// block ends that block as unclosed; a closing tag with no open block counts as text outside.
pub fn parse_view(text: &str) -> ParsedView<'_> {
    match parse_in_order(text) {
        InOrder::Read(view) => view,
        InOrder::Unusual(scan) => scan.finish(text),
    }
}

/// Skips ASCII whitespace as `char::is_whitespace` sees it.
fn skip_blank(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(|&byte| is_space(byte)) {
        at += 1;
    }
    at
}

/// Position of the first `<` at or after `from`, or the end of `bytes`.
fn open_angle_or_end(bytes: &[u8], from: usize) -> usize {
    next_open_angle(bytes, from).unwrap_or(bytes.len())
}

/// Whether the text between `from` and `to` is not blank.
fn has_text(text: &str, from: usize, to: usize) -> bool {
    !sub_str(text, from, to).is_none_or(is_blank)
}

/// How far [`parse_in_order`] read a response.
enum InOrder<'t> {
    /// All of it.
    Read(ParsedView<'t>),
    /// Up to where it stopped looking usual: the full scan's state to go on from.
    Unusual(Scan),
}

/// The usual responses, `<think>…</think> <answer>…</answer>` with plain tags and no other `<`
/// once the think block opens, read in a few jumps; also when the think block is missing, text
/// stands outside the blocks, the answer block is repeated or is left open at the end.
/// For anything else, the state of the full scan at the point where the response stopped
/// looking usual, so that [`Scan::finish`] reads only the rest.
fn parse_in_order(text: &str) -> InOrder<'_> {
    let bytes = text.as_bytes();
    let think = match plain_tag_at(bytes, skip_blank(bytes, 0), BlockKind::Think, false) {
        Some(think_open) => {
            let at = open_angle_or_end(bytes, think_open.end);
            let Some(think_close) = plain_tag_at(bytes, at, BlockKind::Think, true) else {
                return InOrder::Unusual(Scan {
                    open: Some((BlockKind::Think, think_open.end)),
                    cursor: at,
                    ..Scan::default()
                });
            };
            Some((think_open.end, think_close))
        }
        None => None,
    };
    let mut problems = ProblemSet::default();
    let mut answers = BlockStats::default();
    // The full scan's state with the blocks read so far and the text outside them checked up
    // to `outside_from`.
    let resume = |problems: ProblemSet, answers: BlockStats, outside_from: usize| {
        let mut scan = Scan {
            problems,
            ..Scan::default()
        };
        if let Some((content_start, think_close)) = think {
            scan.close_block(BlockKind::Think, content_start, think_close);
        }
        scan.stats[BlockKind::Answer.index()] = answers;
        scan.outside_from = outside_from;
        scan.cursor = outside_from;
        scan
    };
    // Answer blocks, each after whitespace or after text outside the blocks without `<`.
    let mut outside_from = think.map_or(0, |(_, think_close)| think_close.end);
    let mut unclosed = false;
    loop {
        let from = skip_blank(bytes, outside_from);
        if from == bytes.len() {
            break;
        }
        let answer_open = match plain_tag_at(bytes, from, BlockKind::Answer, false) {
            Some(tag) => tag,
            None => match next_open_angle(bytes, from) {
                None => {
                    if has_text(text, from, bytes.len()) {
                        problems.push(ProblemCode::TextOutsideTags);
                    }
                    break;
                }
                Some(at) => {
                    let Some(tag) = plain_tag_at(bytes, at, BlockKind::Answer, false) else {
                        return InOrder::Unusual(resume(problems, answers, outside_from));
                    };
                    if has_text(text, from, at) {
                        problems.push(ProblemCode::TextOutsideTags);
                    }
                    tag
                }
            },
        };
        let Some(at) = next_open_angle(bytes, answer_open.end) else {
            // Cut off inside the answer block.
            problems.push(ProblemCode::UnclosedAnswer);
            unclosed = true;
            break;
        };
        let Some(answer_close) = plain_tag_at(bytes, at, BlockKind::Answer, true) else {
            let mut scan = resume(problems, answers, outside_from);
            scan.open = Some((BlockKind::Answer, answer_open.end));
            scan.cursor = at;
            return InOrder::Unusual(scan);
        };
        answers.count += 1;
        answers
            .first
            .get_or_insert((answer_open.end, answer_close.start));
        outside_from = answer_close.end;
    }
    if think.is_none() {
        problems.push(ProblemCode::MissingThink);
    }
    if answers.count == 0 && !unclosed {
        problems.push(ProblemCode::MissingAnswer);
    }
    if answers.count > 1 {
        problems.push(ProblemCode::DuplicateAnswer);
    }
    let answer = block_text(text, answers.first).map(trim);
    if answer.is_some_and(str::is_empty) {
        problems.push(ProblemCode::EmptyAnswer);
    }
    let (think_block, after_think) = match think {
        Some((content_start, think_close)) => (
            sub_str(text, content_start, think_close.start),
            text.get(think_close.end..),
        ),
        None => (None, None),
    };
    InOrder::Read(ParsedView {
        think_block,
        answer,
        after_think,
        problems,
    })
}

/// The state of the full scan over a response's tags.
#[derive(Debug, Clone, Copy, Default)]
struct Scan {
    /// Problems found so far.
    problems: ProblemSet,
    /// Complete blocks per kind.
    stats: [BlockStats; 2],
    /// The open block's kind and content start.
    open: Option<(BlockKind, usize)>,
    /// Where the text outside the blocks that is not yet checked begins.
    outside_from: usize,
    /// End of the last complete think block.
    last_think_end: Option<usize>,
    /// Where the search for the next tag resumes.
    cursor: usize,
}

impl Scan {
    /// Records the complete block of `kind` whose content starts at `content_start` and which
    /// `close` ends.
    fn close_block(&mut self, kind: BlockKind, content_start: usize, close: Tag) {
        let entry = &mut self.stats[kind.index()];
        entry.count += 1;
        entry.first.get_or_insert((content_start, close.start));
        if kind == BlockKind::Think {
            self.last_think_end = Some(close.end);
        }
        self.open = None;
        self.outside_from = close.end;
        self.cursor = close.end;
    }

    /// Flags non-blank text between `from` and `to` as outside the blocks.
    fn note_outside(&mut self, text: &str, from: usize, to: usize) {
        if has_text(text, from, to) {
            self.problems.push(ProblemCode::TextOutsideTags);
        }
    }

    /// Reads the tags from the cursor to the end and sums up (see [`parse_view`]). Kept out of
    /// line: the in-order path reads most responses and needs the registers.
    #[inline(never)]
    fn finish(mut self, text: &str) -> ParsedView<'_> {
        let bytes = text.as_bytes();
        while let Some(at) = next_open_angle(bytes, self.cursor) {
            let Some(tag) = read_tag(bytes, at) else {
                self.cursor = at + 1;
                continue;
            };
            self.cursor = tag.end;
            match self.open {
                None if tag.closing => {
                    self.problems.push(ProblemCode::TextOutsideTags);
                    self.outside_from = tag.end;
                }
                None => {
                    self.note_outside(text, self.outside_from, tag.start);
                    self.open = Some((tag.kind, tag.end));
                }
                Some((kind, content_start)) if tag.closing && tag.kind == kind => {
                    self.close_block(kind, content_start, tag);
                }
                Some((kind, _)) => {
                    self.problems.push(ProblemCode::unclosed(kind));
                    if tag.closing {
                        self.open = None;
                        self.outside_from = tag.end;
                    } else {
                        self.open = Some((tag.kind, tag.end));
                    }
                }
            }
        }
        match self.open {
            Some((kind, _)) => self.problems.push(ProblemCode::unclosed(kind)),
            None => self.note_outside(text, self.outside_from, text.len()),
        }
        let mut problems = self.problems;
        for (kind, missing) in [
            (BlockKind::Think, ProblemCode::MissingThink),
            (BlockKind::Answer, ProblemCode::MissingAnswer),
        ] {
            let entry = self.stats[kind.index()];
            if entry.first.is_none() && !problems.contains(ProblemCode::unclosed(kind)) {
                problems.push(missing);
            }
            if entry.count > 1 {
                problems.push(ProblemCode::duplicate(kind));
            }
        }
        let think_range = self.stats[BlockKind::Think.index()].first;
        let answer_range = self.stats[BlockKind::Answer.index()].first;
        if let (Some(think), Some(answer)) = (think_range, answer_range) {
            if answer.0 < think.0 {
                problems.push(ProblemCode::WrongOrder);
            }
        }
        let answer = block_text(text, answer_range).map(trim);
        if answer.is_some_and(str::is_empty) {
            problems.push(ProblemCode::EmptyAnswer);
        }
        ParsedView {
            think_block: block_text(text, think_range),
            answer,
            after_think: self.last_think_end.and_then(|end| text.get(end..)),
            problems,
        }
    }
}

/// The content of a block, untrimmed, given its byte range.
#[inline(always)]
fn block_text(text: &str, range: Option<(usize, usize)>) -> Option<&str> {
    range.and_then(|(from, to)| sub_str(text, from, to))
}

/// Parse `<think>…</think><answer>…</answer>`. Total (never panics), linear time.
///
/// Tags are case-insensitive; whitespace around and between the blocks is tolerated.
/// `format_ok` is true iff there is exactly one think block followed by exactly one answer
/// block, both closed, nothing but whitespace outside them, and the answer is non-empty after
/// trimming. `answer`/`think` hold the trimmed content of the first complete block of that kind
/// even when the format is not ok.
pub fn parse_response(text: &str) -> ParsedResponse {
    parse_view(text).to_owned_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(text: &str) -> Vec<(&'static str, bool)> {
        let bytes = text.as_bytes();
        (0..bytes.len())
            .filter(|&i| bytes[i] == b'<')
            .filter_map(|i| read_tag(bytes, i))
            .map(|t| (t.kind.tag(), t.closing))
            .collect()
    }

    #[test]
    fn tags_are_case_and_space_tolerant_and_near_misses_ignored() {
        assert_eq!(
            tags("<THINK></Think>< answer ><Answer></ ANSWER><thinker><answer"),
            vec![
                ("think", false),
                ("think", true),
                ("answer", false),
                ("answer", false),
                ("answer", true)
            ]
        );
    }

    #[test]
    fn view_points_at_trimmed_content() {
        let view = parse_view("<think> ab </think>\n<answer> c </answer>");
        assert!(view.format_ok());
        assert_eq!(view.think(), Some("ab"));
        assert_eq!(view.answer, Some("c"));
    }
}
