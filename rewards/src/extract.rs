//! Answer extraction from free text: the answer tag, the last `\boxed{…}`, "the answer is X",
//! "Answer: X", or the whole text. Total and linear-time; never allocates.

use serde::{Deserialize, Serialize};

use crate::ascii::{find_byte, rfind_letter, sub_str};
use crate::normalize::{normalized_eq, trim_edge_punctuation};
use crate::parse::{parse_view, ProblemCode};

/// Where an extracted answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    /// The content of the (first complete) `<answer>` block.
    AnswerTag,
    /// The content of the last `\boxed{…}`.
    Boxed,
    /// The text after the last "answer is" / "answer:" phrase, up to the end of its line.
    AnswerPhrase,
    /// The whole response (after the last think block, if any), trimmed.
    WholeText,
}

/// What [`extract_answer`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extraction<'a> {
    /// The extracted answer text (trimmed; may be empty).
    pub text: &'a str,
    /// Where it came from (the innermost source when several apply).
    pub source: AnswerSource,
    /// More than one complete `<answer>` block, or an unclosed one.
    pub tag_problem: bool,
    /// The answer came from a box and another box in the same text says something else
    /// (`\boxed{yes} … \boxed{no}`): the response commits to several answers.
    pub conflicting_boxes: bool,
}

/// The `\boxed{` marker.
const BOXED: &[u8] = b"\\boxed{";

/// Content of the last `\boxed{…}` (nested braces balanced), trimmed; `None` when there is no
/// `\boxed{` or its braces never close.
#[inline]
pub fn last_boxed(text: &str) -> Option<&str> {
    // Cheap pre-check, inline: building a substring searcher costs more than most short answers.
    find_byte(b'\\', text.as_bytes())?;
    last_boxed_after_backslash(text)
}

/// [`last_boxed`] for a text with a backslash.
fn last_boxed_after_backslash(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let start = memchr::memmem::rfind(bytes, BOXED)? + BOXED.len();
    let mut depth = 0usize;
    for (offset, byte) in bytes[start..].iter().enumerate() {
        match byte {
            b'{' => depth += 1,
            b'}' if depth == 0 => return Some(text[start..start + offset].trim()),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// True when the text has two top-level `\boxed{…}` whose contents differ after
/// normalisation. Linear: each byte is scanned by at most one box.
pub fn boxes_conflict(text: &str) -> bool {
    let bytes = text.as_bytes();
    if find_byte(b'\\', bytes).is_none() {
        return false;
    }
    let mut previous: Option<&str> = None;
    let mut cursor = 0;
    while let Some(offset) = memchr::memmem::find(&bytes[cursor..], BOXED) {
        let start = cursor + offset + BOXED.len();
        let mut depth = 0usize;
        let mut close = None;
        for (at, byte) in bytes[start..].iter().enumerate() {
            match byte {
                b'{' => depth += 1,
                b'}' if depth == 0 => {
                    close = Some(start + at);
                    break;
                }
                b'}' => depth -= 1,
                _ => {}
            }
        }
        let Some(end) = close else {
            return false;
        };
        let content = &text[start..end];
        if previous.is_some_and(|earlier| !normalized_eq(earlier, content)) {
            return true;
        }
        previous = Some(content);
        cursor = end + 1;
    }
    false
}

/// Whether `word`, made of lower-case ASCII letters, is at `at` in any case.
fn word_at(bytes: &[u8], at: usize, word: &[u8]) -> bool {
    // Setting bit 5 lower-cases a letter, and only a letter's two cases become that letter.
    bytes.get(at..at + word.len()).is_some_and(|found| {
        found
            .iter()
            .zip(word)
            .all(|(&byte, &letter)| byte | 0x20 == letter)
    })
}

/// Skips ASCII whitespace and markdown emphasis (`*`, `_`) from `at`.
fn skip_filler(bytes: &[u8], mut at: usize) -> usize {
    while bytes
        .get(at)
        .is_some_and(|b| b.is_ascii_whitespace() || matches!(b, b'*' | b'_'))
    {
        at += 1;
    }
    at
}

/// If an answer announcement ("answer is", "answer:", "**Answer**:") starts at the `a` of
/// "answer" at `at`, the byte index where the announced answer begins.
pub(crate) fn announcement_end(bytes: &[u8], at: usize) -> Option<usize> {
    if !word_at(bytes, at, b"answer") {
        return None;
    }
    let before_is_word = at
        .checked_sub(1)
        .is_some_and(|i| bytes[i].is_ascii_alphanumeric());
    if before_is_word {
        return None;
    }
    let mut cursor = skip_filler(bytes, at + "answer".len());
    if bytes.get(cursor) == Some(&b':') {
        return Some(cursor + 1);
    }
    if word_at(bytes, cursor, b"is")
        && !bytes
            .get(cursor + 2)
            .is_some_and(|b| b.is_ascii_alphanumeric())
    {
        cursor = skip_filler(bytes, cursor + 2);
        if bytes.get(cursor) == Some(&b':') {
            cursor += 1;
        }
        return Some(cursor);
    }
    None
}

/// The answer after the last "answer is X" / "Answer: X" announcement, up to the end of its line,
/// with edge punctuation trimmed; `None` when there is no announcement with text after it.
pub fn answer_phrase(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    // The last announcement wins, so the search runs backwards and stops at the first found.
    let mut searched = bytes;
    let start = loop {
        let at = rfind_letter(b'a', searched)?;
        if let Some(start) = announcement_end(bytes, at) {
            break start;
        }
        searched = &searched[..at];
    };
    let line_end = find_byte(b'\n', bytes.get(start..)?).map_or(bytes.len(), |i| start + i);
    // `start` and `line_end` sit next to ASCII bytes, so they are char boundaries.
    let answer = trim_edge_punctuation(sub_str(text, start, line_end)?);
    (!answer.is_empty()).then_some(answer)
}

/// Looks inside a candidate for a `\boxed{…}` or an answer announcement.
fn refine(candidate: &str, source: AnswerSource) -> (&str, AnswerSource) {
    if let Some(boxed) = last_boxed(candidate) {
        return (boxed, AnswerSource::Boxed);
    }
    if let Some(phrase) = answer_phrase(candidate) {
        return (phrase, AnswerSource::AnswerPhrase);
    }
    (candidate.trim(), source)
}

/// Extracts the answer from a whole response.
///
/// Order: the first complete `<answer>` block (then a box or announcement inside it); else the
/// last `\boxed{…}`; else the last "answer is"/"Answer:" phrase; else the whole text. Without
/// an answer block, only the text after the last think block is searched.
/// `tag_problem` reports duplicated or unclosed answer tags so callers can refuse them.
pub fn extract_answer(response: &str) -> Extraction<'_> {
    let view = parse_view(response);
    let tag_problem = view.problems.contains(ProblemCode::DuplicateAnswer)
        || view.problems.contains(ProblemCode::UnclosedAnswer);
    let (text, source) = match (view.answer, view.after_think) {
        (Some(answer), _) => refine(answer, AnswerSource::AnswerTag),
        (None, Some(rest)) => refine(rest, AnswerSource::WholeText),
        (None, None) => refine(response, AnswerSource::WholeText),
    };
    let searched = view.answer.or(view.after_think).unwrap_or(response);
    Extraction {
        text,
        source,
        tag_problem,
        conflicting_boxes: source == AnswerSource::Boxed && boxes_conflict(searched),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Case-insensitive word matching agrees with `eq_ignore_ascii_case`.
        #[test]
        fn word_at_ignores_ascii_case_only(text in "[aAnNsSwWeErRiI@`\\[\\{ ]{0,8}", at in 0usize..8) {
            for word in [&b"answer"[..], b"is"] {
                let expected = text
                    .as_bytes()
                    .get(at..at + word.len())
                    .is_some_and(|found| found.eq_ignore_ascii_case(word));
                prop_assert_eq!(word_at(text.as_bytes(), at, word), expected);
            }
        }
    }

    #[test]
    fn boxed_takes_the_last_and_balances_braces() {
        assert_eq!(
            last_boxed(r"\boxed{A} then \boxed{\frac{1}{2}}"),
            Some(r"\frac{1}{2}")
        );
        assert_eq!(last_boxed(r"\boxed{ B }"), Some("B"));
        assert_eq!(last_boxed(r"\boxed{unclosed {"), None);
        assert_eq!(last_boxed("no box"), None);
    }

    #[test]
    fn announcements() {
        assert_eq!(answer_phrase("So the answer is B."), Some("B"));
        assert_eq!(
            answer_phrase("**Answer**: left lung\nmore"),
            Some("left lung")
        );
        assert_eq!(answer_phrase("Answer: C. Final answer: D"), Some("D"));
        assert_eq!(answer_phrase("the answers isolate"), None);
        assert_eq!(answer_phrase("answer is"), None);
    }

    #[test]
    fn extraction_order() {
        let tagged = extract_answer("<think>x</think><answer>The answer is \\boxed{C}</answer>");
        assert_eq!((tagged.text, tagged.source), ("C", AnswerSource::Boxed));
        let plain = extract_answer("I think it is B");
        assert_eq!(plain.source, AnswerSource::WholeText);
        let repeated = extract_answer("<answer>A</answer><answer>B</answer>");
        assert!(repeated.tag_problem);
        assert!(extract_answer("\\boxed{yes} or \\boxed{no}").conflicting_boxes);
        assert!(!extract_answer("\\boxed{B} so \\boxed{b.}").conflicting_boxes);
        assert!(!boxes_conflict("\\boxed{\\boxed{a} b}"));
    }
}
