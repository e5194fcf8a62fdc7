//! Byte-level fast paths for the string helpers on the scoring hot path.
//!
//! Each function gives exactly the result of its `char`-based counterpart in the standard
//! library: ASCII bytes are classified with a table, and the first non-ASCII byte met hands the
//! work to the `char` path, so Unicode text keeps its full behaviour.

/// What the byte table of a [`CharClass`] says about one byte.
const OUTSIDE: u8 = 0;
/// An ASCII byte in the class.
const INSIDE: u8 = 1;
/// A byte of a non-ASCII character: ask the `char` rule.
const NOT_ASCII: u8 = 2;

/// A set of ASCII bytes together with the `char` rule it stands for.
#[derive(Clone, Copy)]
pub(crate) struct CharClass {
    /// For every byte: [`OUTSIDE`] or [`INSIDE`] for ASCII bytes (agreeing with `rule`),
    /// [`NOT_ASCII`] for the others.
    bytes: [u8; 256],
    /// The rule for every character (used for non-ASCII characters).
    rule: fn(char) -> bool,
}

impl CharClass {
    /// Builds the class of `rule` from its answers for the ASCII characters.
    pub(crate) const fn new(rule: fn(char) -> bool, ascii: [bool; 128]) -> Self {
        let mut bytes = [NOT_ASCII; 256];
        let mut index = 0;
        while index < 128 {
            bytes[index] = if ascii[index] { INSIDE } else { OUTSIDE };
            index += 1;
        }
        Self { bytes, rule }
    }

    /// [`INSIDE`], [`OUTSIDE`] or [`NOT_ASCII`] for one byte.
    #[inline]
    fn kind(&self, byte: u8) -> u8 {
        self.bytes[usize::from(byte)]
    }

    /// Whether the character is in the class.
    #[inline]
    pub(crate) fn has(&self, c: char) -> bool {
        if c.is_ascii() {
            self.kind(c as u8) == INSIDE
        } else {
            (self.rule)(c)
        }
    }
}

/// `text.get(from..to)`, written with two splits, which the compiler inlines where `get` on a
/// range often stays a call.
#[inline(always)]
pub(crate) fn sub_str(text: &str, from: usize, to: usize) -> Option<&str> {
    let (head, _) = text.split_at_checked(to)?;
    let (_, middle) = head.split_at_checked(from)?;
    Some(middle)
}

/// Texts shorter than this are searched without `memchr`: setting up a vector search costs more.
pub(crate) const SHORT_TEXT: usize = 64;

/// 0x01 in every byte of a word.
pub(crate) const LOW_BITS: u64 = u64::from_ne_bytes([0x01; 8]);
/// 0x80 (the high bit) in every byte of a word.
pub(crate) const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Position of the first `needle` in `bytes`: eight bytes at a time in a word for short texts,
/// where calling the vector search costs more than the search.
#[inline]
pub(crate) fn find_byte(needle: u8, bytes: &[u8]) -> Option<usize> {
    if bytes.len() >= SHORT_TEXT {
        return memchr::memchr(needle, bytes);
    }
    let pattern = u64::from_ne_bytes([needle; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let differences = u64::from_le_bytes(word) ^ pattern;
        // High bit of each zero byte of `differences`; a borrow can also mark a byte above a
        // zero byte, never one below, so the lowest mark is the first match.
        let zeros = differences.wrapping_sub(LOW_BITS) & !differences & HIGH_BITS;
        if zeros != 0 {
            return Some(offset + (zeros.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let tail = chunks.remainder();
    tail.iter()
        .position(|&byte| byte == needle)
        .map(|at| offset + at)
}

/// `bytes.is_ascii()`: up to 16 bytes with two overlapping loads, where the standard library
/// checks short texts byte by byte.
#[inline]
pub(crate) fn is_ascii_text(bytes: &[u8]) -> bool {
    if bytes.len() > 16 {
        return bytes.is_ascii();
    }
    if let (Some(head), Some(tail)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
        return (u64::from_le_bytes(*head) | u64::from_le_bytes(*tail)) & HIGH_BITS == 0;
    }
    if let (Some(head), Some(tail)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        return (u32::from_le_bytes(*head) | u32::from_le_bytes(*tail)) & 0x8080_8080 == 0;
    }
    match bytes {
        [] => true,
        // One to three bytes: the first, middle and last cover them all.
        [first, .., last] | [first @ last] => (first | bytes[bytes.len() / 2] | last) < 0x80,
    }
}

/// Position of the last byte of `bytes` that is the lower-case ASCII `letter` in either case:
/// eight bytes at a time from the end for short texts, `memrchr2` beyond.
#[inline]
pub(crate) fn rfind_letter(letter: u8, bytes: &[u8]) -> Option<usize> {
    if bytes.len() >= SHORT_TEXT {
        return memchr::memrchr2(letter, letter & !0x20, bytes);
    }
    const SEVEN_BITS: u64 = u64::from_ne_bytes([0x7f; 8]);
    // Setting bit 5 lower-cases a letter, and only a letter's two cases become that letter.
    let case_bits = u64::from_ne_bytes([0x20; 8]);
    let pattern = u64::from_ne_bytes([letter; 8]);
    let mut chunks = bytes.rchunks_exact(8);
    let mut end = bytes.len();
    for chunk in &mut chunks {
        end -= 8;
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let differences = (u64::from_le_bytes(word) | case_bits) ^ pattern;
        // High bit of exactly the zero bytes of `differences` (no borrow crosses bytes).
        let zeros = !(((differences & SEVEN_BITS) + SEVEN_BITS) | differences | SEVEN_BITS);
        if zeros != 0 {
            return Some(end + (63 - zeros.leading_zeros() as usize) / 8);
        }
    }
    chunks
        .remainder()
        .iter()
        .rposition(|&byte| byte | 0x20 == letter)
}

/// Builds an ASCII table from a byte predicate (usable in constants).
macro_rules! ascii_table {
    (|$byte:ident| $test:expr) => {{
        let mut table = [false; 128];
        let mut index = 0;
        while index < 128 {
            let $byte = index as u8;
            table[index] = $test;
            index += 1;
        }
        table
    }};
}
pub(crate) use ascii_table;

/// ASCII whitespace as `char::is_whitespace` sees it (tab, line feed, vertical tab, form feed,
/// carriage return, space).
#[inline]
pub(crate) const fn is_space(byte: u8) -> bool {
    matches!(byte, b'\t'..=b'\r' | b' ')
}

/// Whitespace as `char::is_whitespace` sees it.
pub(crate) const WHITESPACE: CharClass =
    CharClass::new(char::is_whitespace, ascii_table!(|byte| is_space(byte)));

/// `text.trim_matches(|c| class.has(c))`.
#[inline(always)]
pub(crate) fn trim_class<'a>(text: &'a str, class: &CharClass) -> &'a str {
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(&byte) = bytes.get(start) {
        match class.kind(byte) {
            INSIDE => start += 1,
            OUTSIDE => break,
            _ => return trim_class_general(text, class),
        }
    }
    let mut end = bytes.len();
    while end > start {
        match class.kind(bytes[end - 1]) {
            INSIDE => end -= 1,
            OUTSIDE => break,
            _ => return trim_class_general(text, class),
        }
    }
    // Both ends sit next to ASCII bytes (or at the ends), so they are char boundaries.
    sub_str(text, start, end).unwrap_or_else(|| trim_class_general(text, class))
}

/// The `char` path of [`trim_class`], for text with a non-ASCII character at an edge.
#[cold]
fn trim_class_general<'a>(text: &'a str, class: &CharClass) -> &'a str {
    text.trim_matches(|c: char| class.has(c))
}

/// `text.trim()`.
#[inline]
pub(crate) fn trim(text: &str) -> &str {
    trim_class(text, &WHITESPACE)
}

/// `text.trim().is_empty()`.
#[inline]
pub(crate) fn is_blank(text: &str) -> bool {
    for &byte in text.as_bytes() {
        if !byte.is_ascii() {
            return trim_class_general(text, &WHITESPACE).is_empty();
        }
        if !is_space(byte) {
            return false;
        }
    }
    true
}

/// Non-empty runs of characters outside `separators`, like
/// `text.split(|c| separators.has(c)).filter(|t| !t.is_empty())`.
pub(crate) struct Tokens<'a> {
    text: &'a str,
    at: usize,
    separators: &'a CharClass,
}

impl Tokens<'_> {
    /// From `at`, the end of the run of characters that are (`inside`) or are not separators.
    #[inline]
    fn run_end(&self, mut at: usize, separators: bool) -> usize {
        let bytes = self.text.as_bytes();
        let (same, other) = if separators {
            (INSIDE, OUTSIDE)
        } else {
            (OUTSIDE, INSIDE)
        };
        while let Some(&byte) = bytes.get(at) {
            let kind = self.separators.kind(byte);
            if kind == same {
                at += 1;
                continue;
            }
            if kind == other {
                break;
            }
            match self.text.get(at..).and_then(|rest| rest.chars().next()) {
                Some(c) if (self.separators.rule)(c) == separators => at += c.len_utf8(),
                Some(_) => break,
                // Unreachable: `at` always sits on a char boundary here.
                None => return bytes.len(),
            }
        }
        at
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let start = self.run_end(self.at, true);
        if start >= self.text.len() {
            self.at = start;
            return None;
        }
        self.at = self.run_end(start, false);
        sub_str(self.text, start, self.at)
    }
}

/// The non-empty tokens of `text` between characters of `separators`.
#[inline]
pub(crate) fn tokens<'a>(text: &'a str, separators: &'a CharClass) -> Tokens<'a> {
    Tokens {
        text,
        at: 0,
        separators,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PUNCTUATION: CharClass = CharClass::new(
        |c| c.is_whitespace() || matches!(c, '.' | '(' | '\u{3002}'),
        ascii_table!(|byte| is_space(byte) || matches!(byte, b'.' | b'(')),
    );

    const NOT_ALPHANUMERIC: CharClass = CharClass::new(
        |c| !c.is_alphanumeric(),
        ascii_table!(|byte| !byte.is_ascii_alphanumeric()),
    );

    #[test]
    fn sub_str_is_get_on_a_range() {
        let text = "a\u{e9}b \u{3002}c";
        for from in 0..=text.len() + 2 {
            for to in 0..=text.len() + 2 {
                assert_eq!(sub_str(text, from, to), text.get(from..to), "{from}..{to}");
            }
        }
    }

    fn tricky() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just(" ".to_owned()),
            Just("\u{b}".to_owned()),
            Just("\u{a0}".to_owned()),
            Just("\u{3000}".to_owned()),
            Just("\u{3002}".to_owned()),
            Just("é".to_owned()),
            Just("中".to_owned()),
            Just("(".to_owned()),
            Just(".".to_owned()),
            Just("a".to_owned()),
            Just("B".to_owned()),
            Just("\n".to_owned()),
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..12).prop_map(|parts| parts.concat())
    }

    #[test]
    fn whitespace_table_matches_char_rule() {
        for byte in 0u8..128 {
            assert_eq!(is_space(byte), char::from(byte).is_whitespace(), "{byte}");
            assert_eq!(WHITESPACE.has(char::from(byte)), is_space(byte));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The word-at-a-time search finds what a plain search finds, on both sides of the
        /// short-text threshold, with the needle anywhere (or absent) and bytes near it.
        #[test]
        fn find_byte_is_position(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'<'), Just(b'<' ^ 0x80), Just(b'='), Just(b';'), any::<u8>()],
                0..80,
            ),
            needle in prop_oneof![Just(b'<'), Just(b'\\'), Just(b'\n'), any::<u8>()],
        ) {
            prop_assert_eq!(
                find_byte(needle, &bytes),
                bytes.iter().position(|&byte| byte == needle)
            );
        }

        /// The backward search for a letter in either case finds what a plain backward search
        /// finds, on both sides of the short-text threshold.
        #[test]
        fn rfind_letter_is_rposition(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'a'), Just(b'A'), Just(b'A' ^ 0x80), Just(b'!'), Just(b'`'), any::<u8>()],
                0..80,
            ),
            letter in prop_oneof![Just(b'a'), Just(b'z'), b'a'..=b'z'],
        ) {
            prop_assert_eq!(
                rfind_letter(letter, &bytes),
                bytes.iter().rposition(|byte| byte.eq_ignore_ascii_case(&letter))
            );
        }

        /// The short-text check agrees with the standard library's on every length up to past
        /// the word threshold, with no high bit or one in any single place.
        #[test]
        fn is_ascii_text_is_is_ascii(
            mut bytes in proptest::collection::vec(0u8..0x80, 0..20),
            high in proptest::option::of((any::<prop::sample::Index>(), 0x80u8..)),
        ) {
            if let (Some((at, byte)), false) = (high, bytes.is_empty()) {
                let at = at.index(bytes.len());
                bytes[at] = byte;
            }
            prop_assert_eq!(is_ascii_text(&bytes), bytes.is_ascii());
        }

        #[test]
        fn trims_like_the_standard_library(text in prop_oneof![tricky(), any::<String>()]) {
            prop_assert_eq!(trim(&text), text.trim());
            prop_assert_eq!(is_blank(&text), text.trim().is_empty());
            let expected = text.trim_matches(|c: char| PUNCTUATION.has(c));
            prop_assert_eq!(trim_class(&text, &PUNCTUATION), expected);
        }

        #[test]
        fn splits_like_the_standard_library(text in prop_oneof![tricky(), any::<String>()]) {
            for class in [&WHITESPACE, &PUNCTUATION, &NOT_ALPHANUMERIC] {
                let fast: Vec<&str> = tokens(&text, class).collect();
                let general: Vec<&str> = text
                    .split(|c: char| class.has(c))
                    .filter(|t| !t.is_empty())
                    .collect();
                prop_assert_eq!(fast, general);
            }
        }
    }
}
