//! Multiple-choice answers: option letters in common spellings, or an option's text.

use super::option_index::{letter_bit, OptionIndex, OptionProbe};
use super::{Extracted, Judgement};
use crate::ascii::{ascii_table, is_ascii_text, is_space, tokens, trim, CharClass};
use crate::extract::{answer_phrase, last_boxed};
use crate::normalize::{ascii_word_index, trim_ascii_edges, trim_edge_punctuation};
use crate::reference::Reference;

/// What a multiple-choice answer names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChoiceReading {
    /// Exactly one option letter (upper-case; may be absent from the options).
    Letter(char),
    /// Several different options: never credited.
    Several,
    /// No option could be read.
    Nothing,
}

/// Words allowed between letters in a bare list such as "A or B" or "options A and C".
const LIST_WORDS: [&str; 4] = ["or", "and", "option", "options"];

/// Whitespace or a list separator.
fn is_list_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | ';' | '/' | '&' | '+' | '|')
}

/// [`is_list_separator`] for the ASCII characters.
const ASCII_LIST_SEPARATORS: [bool; 128] =
    ascii_table!(|byte| is_space(byte) || matches!(byte, b',' | b';' | b'/' | b'&' | b'+' | b'|'));

/// Whitespace and list separators, as a class with an ASCII table.
const LIST_SEPARATORS: CharClass = CharClass::new(is_list_separator, ASCII_LIST_SEPARATORS);

/// A word between list separators.
#[derive(Debug, Clone, Copy)]
struct Word<'t> {
    /// The word as written.
    raw: &'t [u8],
    /// The word without edge punctuation.
    core: &'t [u8],
}

/// The words of any text, split at list separators.
fn general_words(text: &str) -> impl Iterator<Item = Word<'_>> {
    tokens(text, &LIST_SEPARATORS).map(|raw| Word {
        raw: raw.as_bytes(),
        core: trim_edge_punctuation(raw).as_bytes(),
    })
}

/// The words of ASCII text, split at list separators.
struct AsciiWords<'t> {
    /// The bytes of ASCII text.
    bytes: &'t [u8],
    /// Where the next word's search starts.
    at: usize,
}

impl<'t> Iterator for AsciiWords<'t> {
    type Item = Word<'t>;

    #[inline]
    fn next(&mut self) -> Option<Word<'t>> {
        let bytes = self.bytes;
        let separator = |byte: u8| ASCII_LIST_SEPARATORS[usize::from(byte & 0x7f)];
        let mut at = self.at;
        while bytes.get(at).is_some_and(|&byte| separator(byte)) {
            at += 1;
        }
        let start = at;
        while bytes.get(at).is_some_and(|&byte| !separator(byte)) {
            at += 1;
        }
        self.at = at;
        if at == start {
            return None;
        }
        let raw = bytes.get(start..at)?;
        // Edge punctuation is rare, so trimming the ends afterwards beats tracking the core
        // while reading.
        Some(Word {
            raw,
            core: trim_ascii_edges(raw),
        })
    }
}

/// The upper-cased letter if `token` is exactly one ASCII letter.
fn single_letter(token: &[u8]) -> Option<char> {
    match token {
        [byte] if byte.is_ascii_alphabetic() => Some(char::from(byte.to_ascii_uppercase())),
        _ => None,
    }
}

/// Reads a text made only of letters and list words ("B", "(B)", "B.", "A or B", "A B C D").
fn read_letter_list<'t>(words: impl Iterator<Item = Word<'t>>) -> Option<ChoiceReading> {
    let mut letters = 0u32;
    for Word { core: token, .. } in words {
        if token.is_empty() {
            continue;
        }
        if let Some(letter) = single_letter(token) {
            letters |= letter_bit(letter);
        } else if ascii_word_index(token, &LIST_WORDS).is_none() {
            return None;
        }
    }
    match letters {
        0 => None,
        // One bit set.
        _ if letters & (letters - 1) == 0 => Some(ChoiceReading::Letter(char::from(
            b'A' + letters.trailing_zeros() as u8,
        ))),
        _ => Some(ChoiceReading::Several),
    }
}

/// Strips a leading "option" word (any case) when whitespace follows.
#[inline(always)]
fn strip_option_word(text: &str) -> &str {
    match text.get(.."option".len()) {
        Some(head) if head.eq_ignore_ascii_case("option") => {
            let rest = &text["option".len()..];
            if rest.starts_with(char::is_whitespace) {
                rest.trim_start()
            } else {
                text
            }
        }
        _ => text,
    }
}

/// Splits "(B) text", "B. text", "B) text", "B: text" into the letter and the text after it.
///
/// The delimiter must be followed by whitespace or the end, so "e.g." and "Bone" are not letters.
#[inline(always)]
fn split_leading_letter(text: &str) -> Option<(char, &str)> {
    let bytes = text.as_bytes();
    let (letter_at, after) = match bytes {
        [b'(', letter, b')', ..] if letter.is_ascii_alphabetic() => (1, 3),
        [letter, b'.' | b')' | b':', ..] if letter.is_ascii_alphabetic() => (0, 2),
        _ => return None,
    };
    let rest = text.get(after..)?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    Some((char::from(bytes[letter_at].to_ascii_uppercase()), rest))
}

/// True when `rest` names another option letter than `chosen`.
///
/// Lower-case letters count only with a bracket or colon ("(c)", "c)"); plain upper-case "A"
/// and "I" are skipped because they are ordinary English words.
fn mentions_other_letter<'t>(
    mut words: impl Iterator<Item = Word<'t>>,
    chosen: char,
    options: &OptionIndex,
) -> bool {
    words.any(|Word { raw, core: token }| {
        let Some(letter) = single_letter(token) else {
            return false;
        };
        let other_option = letter != chosen && options.has_letter(letter);
        let delimited = raw.iter().any(|byte| matches!(byte, b'(' | b')' | b':'));
        let upper_case_word = token.first().is_some_and(u8::is_ascii_uppercase)
            && !(raw == token && matches!(letter, 'A' | 'I'));
        other_option && (delimited || upper_case_word)
    })
}

/// Letters whose option text equals the probe's text after normalisation, as a bit set over
/// A..Z (stops at the second, since only a single one counts).
#[inline(always)]
fn options_with_text(probe: Option<OptionProbe<'_>>, options: &OptionIndex) -> u32 {
    probe.map_or(0, |probe| {
        options.named_by(&probe, |found| found.count_ones() > 1)
    })
}

/// Reads "B. text" given its letter, the text after it (as a probe, built on demand) and that
/// text's words: several options if the text mentions another option letter, or names another
/// option's text but not the chosen one's; otherwise the letter.
fn read_lettered_text<'t>(
    letter: char,
    rest_probe: impl FnOnce() -> Option<OptionProbe<'t>>,
    rest_words: impl Iterator<Item = Word<'t>>,
    options: &OptionIndex,
) -> ChoiceReading {
    if mentions_other_letter(rest_words, letter, options) {
        return ChoiceReading::Several;
    }
    let Some(probe) = rest_probe() else {
        return ChoiceReading::Letter(letter);
    };
    let chosen = letter_bit(letter);
    let named = options.named_by(&probe, |found| found & chosen != 0);
    if named != 0 && named & chosen == 0 {
        ChoiceReading::Several
    } else {
        ChoiceReading::Letter(letter)
    }
}

/// The only letter of a one-element bit set.
fn only_letter(set: u32) -> Option<char> {
    (set.count_ones() == 1).then(|| char::from(b'A' + set.trailing_zeros() as u8))
}

/// The letter of the common bare spellings "B", "b", "B.", "B)", "B:", "(B)", if `text` is one.
#[inline(always)]
fn bare_letter(text: &str) -> Option<char> {
    let letter = match text.as_bytes() {
        [letter] | [letter, b'.' | b')' | b':'] | [b'(', letter, b')'] => *letter,
        _ => return None,
    };
    letter
        .is_ascii_alphabetic()
        .then(|| char::from(letter.to_ascii_uppercase()))
}

/// Reads which option a short answer names.
#[inline(always)]
fn read_direct(text: &str, options: &OptionIndex) -> ChoiceReading {
    let text = trim(text);
    // The commonest answers are a bare letter, read without entering the word reader.
    match bare_letter(text) {
        Some(letter) => ChoiceReading::Letter(letter),
        None => read_words(text, options),
    }
}

/// [`read_direct`] for a trimmed text that is not a bare letter.
#[inline(never)]
fn read_words(text: &str, options: &OptionIndex) -> ChoiceReading {
    if is_ascii_text(text.as_bytes()) {
        read_past_bare_letters(
            text,
            options,
            |from| AsciiWords {
                bytes: text.as_bytes(),
                at: from,
            },
            OptionProbe::of_ascii,
        )
    } else {
        read_past_bare_letters(
            text,
            options,
            |from| general_words(text.get(from..).unwrap_or_default()),
            OptionProbe::new,
        )
    }
}

/// [`read_direct`] past the bare letters, given the words of `text` from a byte offset on (an
/// offset where a word may start) and the way to probe a part of `text` for option texts.
fn read_past_bare_letters<'t, W: Iterator<Item = Word<'t>>>(
    text: &'t str,
    options: &OptionIndex,
    words_from: impl Fn(usize) -> W,
    probe: impl Fn(&'t str) -> Option<OptionProbe<'t>>,
) -> ChoiceReading {
    if let Some(reading) = read_letter_list(words_from(0)) {
        return reading;
    }
    if let Some((letter, rest)) = split_leading_letter(strip_option_word(text)) {
        // `rest` is a suffix of `text` that is empty or starts with whitespace, a separator:
        // its words are the words of `text` from there on.
        let rest_words = words_from(text.len() - rest.len());
        return read_lettered_text(letter, || probe(rest), rest_words, options);
    }
    only_letter(options_with_text(probe(text), options))
        .map_or(ChoiceReading::Nothing, ChoiceReading::Letter)
}

/// Reads which option an answer names; when the text itself names none, looks inside a
/// `\boxed{…}` or after "the answer is" / "Answer:".
#[inline(always)]
pub(crate) fn read_choice(answer: &str, options: &OptionIndex) -> ChoiceReading {
    match read_direct(answer, options) {
        ChoiceReading::Nothing => match last_boxed(answer).or_else(|| answer_phrase(answer)) {
            Some(inner) if inner.len() < answer.len() => read_direct(inner, options),
            _ => ChoiceReading::Nothing,
        },
        reading => reading,
    }
}

/// Verifies a multiple-choice answer: unknown letter → unparseable, several options → incorrect.
#[inline(always)]
pub(crate) fn verify_choice<'a>(reference: &Reference, answer: &'a str) -> Judgement<'a> {
    let options = reference.option_index();
    match read_choice(answer, options) {
        ChoiceReading::Letter(letter) => {
            if !options.has_letter(letter) {
                return Judgement::unparseable();
            }
            let correct =
                matches!(reference.answer().as_bytes(), [only] if char::from(*only) == letter);
            Judgement::judged(Extracted::Letter(letter), correct)
        }
        ChoiceReading::Several => Judgement::ambiguous(),
        ChoiceReading::Nothing => Judgement::unparseable(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> OptionIndex {
        let map: std::collections::BTreeMap<String, String> =
            [("A", "Liver"), ("B", "Bone"), ("C", "Lung"), ("D", "Brain")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        OptionIndex::new(&map)
    }

    #[test]
    fn leading_letter_needs_a_delimiter_and_space() {
        assert_eq!(split_leading_letter("B. Bone"), Some(('B', " Bone")));
        assert_eq!(split_leading_letter("(c)"), Some(('C', "")));
        assert_eq!(split_leading_letter("e.g. bone"), None);
        assert_eq!(split_leading_letter("Bone"), None);
    }

    #[test]
    fn bare_letters() {
        for text in ["B", "b", "B.", "b)", "B:", "(B)"] {
            assert_eq!(bare_letter(text), Some('B'), "{text}");
        }
        for text in ["", "BB", "(B", "1", "B-", "é"] {
            assert_eq!(bare_letter(text), None, "{text}");
        }
    }

    #[test]
    fn readings() {
        let opts = options();
        assert_eq!(read_choice("option b", &opts), ChoiceReading::Letter('B'));
        assert_eq!(read_choice("A or B", &opts), ChoiceReading::Several);
        assert_eq!(read_choice("bone", &opts), ChoiceReading::Letter('B'));
        assert_eq!(read_choice("B. Lung", &opts), ChoiceReading::Several);
        assert_eq!(
            read_choice("B: bone (not C)", &opts),
            ChoiceReading::Several
        );
        assert_eq!(
            read_choice("B. A lesion in bone", &opts),
            ChoiceReading::Letter('B')
        );
        assert_eq!(read_choice("kidney", &opts), ChoiceReading::Nothing);
        // Text with non-ASCII characters takes the general word reader.
        assert_eq!(read_choice("A\u{a0}or B", &opts), ChoiceReading::Several);
        assert_eq!(read_choice("B.\u{3000}Lung", &opts), ChoiceReading::Several);
        assert_eq!(read_choice("B. bone é", &opts), ChoiceReading::Letter('B'));
        assert_eq!(
            read_choice("The answer is C.", &opts),
            ChoiceReading::Letter('C')
        );
        assert_eq!(read_choice("\\boxed{D}", &opts), ChoiceReading::Letter('D'));
    }
}
