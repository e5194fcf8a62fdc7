//! Multiple-choice reading as first written, with the `char`-based normalisation helpers it
//! used.

use std::collections::BTreeMap;

use crate::extract::{answer_phrase, last_boxed};
use crate::normalize::{is_edge_punctuation, normalized_words, same_word};
use crate::reference::Reference;
use crate::verify::choice::ChoiceReading;
use crate::verify::{Extracted, Judgement};

/// Articles removed from the start of a normalised answer.
const LEADING_ARTICLES: [&str; 3] = ["a", "an", "the"];

/// Removes edge punctuation and whitespace from both ends.
pub(crate) fn trim_edge_punctuation(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || is_edge_punctuation(c))
}

/// Capacity of the stack buffer used by [`ascii_normalized`].
pub(crate) const ASCII_NORMALIZED_CAPACITY: usize = 128;

/// ASCII whitespace as `char::is_whitespace` sees it (including vertical tab).
fn is_ascii_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// For each ASCII byte: is it whitespace or edge punctuation?
const ASCII_EDGE: [bool; 128] = {
    let mut table = [false; 128];
    let mut byte = 0;
    while byte < 128 {
        table[byte] = matches!(
            byte as u8,
            b' ' | b'\t'
                | b'\n'
                | 0x0b
                | 0x0c
                | b'\r'
                | b'.'
                | b','
                | b';'
                | b':'
                | b'!'
                | b'?'
                | b'\''
                | b'"'
                | b'`'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'*'
                | b'_'
        );
        byte += 1;
    }
    table
};

/// `normalize_text` for ASCII text of moderate length, written into a stack buffer: `None`
/// when the text is not ASCII or does not fit (callers then fall back to the general path).
pub(crate) fn ascii_normalized<'b>(
    text: &str,
    buffer: &'b mut [u8; ASCII_NORMALIZED_CAPACITY],
) -> Option<&'b [u8]> {
    let bytes = text.as_bytes();
    if bytes.len() > 4 * ASCII_NORMALIZED_CAPACITY || !bytes.is_ascii() {
        return None;
    }
    let is_edge = |byte: u8| ASCII_EDGE[usize::from(byte & 0x7f)];
    let start = bytes
        .iter()
        .position(|&b| !is_edge(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_edge(b))
        .map_or(start, |i| i + 1);
    let mut words = bytes[start..end]
        .split(|&b| is_ascii_space(b))
        .filter(|word| !word.is_empty())
        .peekable();
    let first = words.next();
    let skip_article = first.is_some_and(|word| {
        words.peek().is_some()
            && LEADING_ARTICLES
                .iter()
                .any(|article| article.as_bytes().eq_ignore_ascii_case(word))
    });
    let mut len = 0;
    for word in first.filter(|_| !skip_article).into_iter().chain(words) {
        let needed = word.len() + usize::from(len > 0);
        if len + needed > ASCII_NORMALIZED_CAPACITY {
            return None;
        }
        if len > 0 {
            buffer[len] = b' ';
            len += 1;
        }
        for (slot, byte) in buffer[len..len + word.len()].iter_mut().zip(word) {
            *slot = byte.to_ascii_lowercase();
        }
        len += word.len();
    }
    let lead = buffer[..len]
        .iter()
        .position(|&b| !is_edge(b))
        .unwrap_or(len);
    Some(&buffer[lead..len])
}

/// `normalize_text(a) == normalize_text(b)` without allocating.
pub(crate) fn normalized_eq(a: &str, b: &str) -> bool {
    let mut left_buffer = [0u8; ASCII_NORMALIZED_CAPACITY];
    let mut right_buffer = [0u8; ASCII_NORMALIZED_CAPACITY];
    if let (Some(left), Some(right)) = (
        ascii_normalized(a, &mut left_buffer),
        ascii_normalized(b, &mut right_buffer),
    ) {
        return left == right;
    }
    let mut left = normalized_words(a);
    let mut right = normalized_words(b);
    loop {
        match (left.next(), right.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if same_word(x, y) => {}
            _ => return false,
        }
    }
}

/// Words allowed between letters in a bare list such as "A or B" or "options A and C".
const LIST_WORDS: [&str; 4] = ["or", "and", "option", "options"];

/// Splits into raw tokens at whitespace and list separators.
fn raw_tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '/' | '&' | '+' | '|'))
        .filter(|token| !token.is_empty())
}

/// The upper-cased letter if `token` is exactly one ASCII letter.
fn single_letter(token: &str) -> Option<char> {
    match token.as_bytes() {
        [byte] if byte.is_ascii_alphabetic() => Some(char::from(byte.to_ascii_uppercase())),
        _ => None,
    }
}

/// True when `letter` is a key of the options.
fn is_option(letter: char, options: &BTreeMap<String, String>) -> bool {
    let mut buffer = [0u8; 4];
    options.contains_key(&*letter.encode_utf8(&mut buffer))
}

/// Reads a text made only of letters and list words ("B", "(B)", "B.", "A or B", "A B C D").
fn read_letter_list(text: &str) -> Option<ChoiceReading> {
    let mut letters = 0u32;
    for raw in raw_tokens(text) {
        let token = trim_edge_punctuation(raw);
        if token.is_empty() {
            continue;
        }
        if let Some(letter) = single_letter(token) {
            letters |= 1 << (letter as u32 - 'A' as u32);
        } else if !LIST_WORDS
            .iter()
            .any(|word| word.eq_ignore_ascii_case(token))
        {
            return None;
        }
    }
    match letters.count_ones() {
        0 => None,
        1 => Some(ChoiceReading::Letter(char::from(
            b'A' + letters.trailing_zeros() as u8,
        ))),
        _ => Some(ChoiceReading::Several),
    }
}

/// Strips a leading "option" word (any case) when whitespace follows.
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
fn mentions_other_letter(rest: &str, chosen: char, options: &BTreeMap<String, String>) -> bool {
    raw_tokens(rest).any(|raw| {
        let token = trim_edge_punctuation(raw);
        let Some(letter) = single_letter(token) else {
            return false;
        };
        let other_option = letter != chosen && is_option(letter, options);
        let delimited = raw.contains(['(', ')', ':']);
        let upper_case_word = token.starts_with(|c: char| c.is_ascii_uppercase())
            && !(raw == token && matches!(letter, 'A' | 'I'));
        other_option && (delimited || upper_case_word)
    })
}

/// Letters whose option text equals `text` after normalisation, as a bit set over A..Z.
fn options_with_text(text: &str, options: &BTreeMap<String, String>) -> u32 {
    let mut wanted_buffer = [0u8; ASCII_NORMALIZED_CAPACITY];
    let mut option_buffer = [0u8; ASCII_NORMALIZED_CAPACITY];
    let wanted = ascii_normalized(text, &mut wanted_buffer);
    let nothing_to_match = match wanted {
        Some(wanted) => wanted.is_empty(),
        None => normalized_words(text).next().is_none(),
    };
    if nothing_to_match {
        return 0;
    }
    options
        .iter()
        .filter(|(_, option_text)| match wanted {
            Some(wanted) => match ascii_normalized(option_text, &mut option_buffer) {
                Some(option) => option == wanted,
                None => normalized_eq(option_text, text),
            },
            None => normalized_eq(option_text, text),
        })
        .filter_map(|(key, _)| single_letter(key))
        .fold(0, |set, letter| set | 1 << (letter as u32 - 'A' as u32))
}

/// The only letter of a one-element bit set.
fn only_letter(set: u32) -> Option<char> {
    (set.count_ones() == 1).then(|| char::from(b'A' + set.trailing_zeros() as u8))
}

/// The letter of the common bare spellings "B", "b", "B.", "B)", "B:", "(B)", if `text` is one.
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
fn read_direct(text: &str, options: &BTreeMap<String, String>) -> ChoiceReading {
    let text = text.trim();
    if let Some(letter) = bare_letter(text) {
        return ChoiceReading::Letter(letter);
    }
    if let Some(reading) = read_letter_list(text) {
        return reading;
    }
    if let Some((letter, rest)) = split_leading_letter(strip_option_word(text)) {
        if mentions_other_letter(rest, letter, options) {
            return ChoiceReading::Several;
        }
        let named = options_with_text(rest, options);
        let letter_bit = 1u32 << (letter as u32 - 'A' as u32);
        if named != 0 && named & letter_bit == 0 {
            return ChoiceReading::Several;
        }
        return ChoiceReading::Letter(letter);
    }
    only_letter(options_with_text(text, options))
        .map_or(ChoiceReading::Nothing, ChoiceReading::Letter)
}

/// Reads which option an answer names; when the text itself names none, looks inside a
/// `\boxed{…}` or after "the answer is" / "Answer:".
pub(crate) fn read_choice(answer: &str, options: &BTreeMap<String, String>) -> ChoiceReading {
    match read_direct(answer, options) {
        ChoiceReading::Nothing => match last_boxed(answer).or_else(|| answer_phrase(answer)) {
            Some(inner) if inner.len() < answer.len() => read_direct(inner, options),
            _ => ChoiceReading::Nothing,
        },
        reading => reading,
    }
}

/// Verifies a multiple-choice answer: unknown letter → unparseable, several options → incorrect.
pub(crate) fn verify_choice<'a>(reference: &Reference, answer: &'a str) -> Judgement<'a> {
    match read_choice(answer, reference.options()) {
        ChoiceReading::Letter(letter) => {
            if !is_option(letter, reference.options()) {
                return Judgement::unparseable();
            }
            let mut buffer = [0u8; 4];
            let correct = *reference.answer() == *letter.encode_utf8(&mut buffer);
            Judgement::judged(Extracted::Letter(letter), correct)
        }
        ChoiceReading::Several => Judgement::ambiguous(),
        ChoiceReading::Nothing => Judgement::unparseable(),
    }
}
