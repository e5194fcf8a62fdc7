//! The answer-phrase search as first written: every `a`/`A` from the start, the last
//! announcement kept.

use crate::extract::announcement_end;
use crate::normalize::trim_edge_punctuation;

/// The answer after the last "answer is X" / "Answer: X" announcement, up to the end of its line.
pub(crate) fn answer_phrase(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut found = None;
    for at in memchr::memchr2_iter(b'a', b'A', bytes) {
        if let Some(start) = announcement_end(bytes, at) {
            found = Some(start);
        }
    }
    let start = found?;
    let line_end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
    let answer = trim_edge_punctuation(text.get(start..line_end)?);
    (!answer.is_empty()).then_some(answer)
}
