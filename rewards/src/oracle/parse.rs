//! The tag parser as first written: a `memchr` jump to each `<` and a byte-wise tag reader.

use crate::parse::{ParsedView, ProblemCode, ProblemSet};

/// The two block kinds of the response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Think,
    Answer,
}

impl BlockKind {
    /// Index into per-kind arrays.
    fn index(self) -> usize {
        match self {
            Self::Think => 0,
            Self::Answer => 1,
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

/// Reads a tag starting at the `<` at `start`: `<`, optional `/`, `think` or `answer` (any case),
/// `>`, with ASCII whitespace allowed around the slash and the name.
fn read_tag(bytes: &[u8], start: usize) -> Option<Tag> {
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

/// Per-kind block bookkeeping.
#[derive(Debug, Clone, Copy, Default)]
struct BlockStats {
    /// Byte range of the first complete block's content.
    first: Option<(usize, usize)>,
    /// Number of complete blocks.
    count: usize,
}

/// The problem code of an unclosed block.
fn unclosed(kind: BlockKind) -> ProblemCode {
    match kind {
        BlockKind::Think => ProblemCode::UnclosedThink,
        BlockKind::Answer => ProblemCode::UnclosedAnswer,
    }
}

/// The problem code of a repeated block.
fn duplicate(kind: BlockKind) -> ProblemCode {
    match kind {
        BlockKind::Think => ProblemCode::DuplicateThink,
        BlockKind::Answer => ProblemCode::DuplicateAnswer,
    }
}

/// Parse `<think>…</think><answer>…</answer>` without allocating. Total, linear time.
///
/// Tags are case-insensitive and may contain ASCII whitespace (`< /Answer >`); whitespace around
/// and between the blocks is tolerated. An opening tag or a mismatched closing tag inside an open
/// block ends that block as unclosed; a closing tag with no open block counts as text outside.
pub(crate) fn parse_view(text: &str) -> ParsedView<'_> {
    let bytes = text.as_bytes();
    let mut problems = ProblemSet::default();
    let mut stats = [BlockStats::default(); 2];
    let mut open: Option<(BlockKind, usize)> = None;
    let mut outside_from = 0;
    let mut last_think_end = None;
    let note_outside = |from: usize, to: usize, problems: &mut ProblemSet| {
        if !text[from..to].trim().is_empty() {
            problems.push(ProblemCode::TextOutsideTags);
        }
    };
    let mut cursor = 0;
    while let Some(offset) = memchr::memchr(b'<', &bytes[cursor..]) {
        let at = cursor + offset;
        let Some(tag) = read_tag(bytes, at) else {
            cursor = at + 1;
            continue;
        };
        cursor = tag.end;
        match open {
            None if tag.closing => {
                problems.push(ProblemCode::TextOutsideTags);
                outside_from = tag.end;
            }
            None => {
                note_outside(outside_from, tag.start, &mut problems);
                open = Some((tag.kind, tag.end));
            }
            Some((kind, content_start)) if tag.closing && tag.kind == kind => {
                let entry = &mut stats[kind.index()];
                entry.count += 1;
                entry.first.get_or_insert((content_start, tag.start));
                if kind == BlockKind::Think {
                    last_think_end = Some(tag.end);
                }
                open = None;
                outside_from = tag.end;
            }
            Some((kind, _)) => {
                problems.push(unclosed(kind));
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
        Some((kind, _)) => problems.push(unclosed(kind)),
        None => note_outside(outside_from, text.len(), &mut problems),
    }
    for (kind, missing) in [
        (BlockKind::Think, ProblemCode::MissingThink),
        (BlockKind::Answer, ProblemCode::MissingAnswer),
    ] {
        let entry = stats[kind.index()];
        if entry.first.is_none() && !problems.contains(unclosed(kind)) {
            problems.push(missing);
        }
        if entry.count > 1 {
            problems.push(duplicate(kind));
        }
    }
    let think_range = stats[BlockKind::Think.index()].first;
    let answer_range = stats[BlockKind::Answer.index()].first;
    if let (Some(think), Some(answer)) = (think_range, answer_range) {
        if answer.0 < think.0 {
            problems.push(ProblemCode::WrongOrder);
        }
    }
    let content = |range: Option<(usize, usize)>| range.map(|(from, to)| text[from..to].trim());
    let answer = content(answer_range);
    if answer.is_some_and(str::is_empty) {
        problems.push(ProblemCode::EmptyAnswer);
    }
    ParsedView {
        think_block: think_range.map(|(from, to)| &text[from..to]),
        answer,
        after_think: last_think_end.map(|end| &text[end..]),
        problems,
    }
}
