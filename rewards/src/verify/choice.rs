//! Multiple-choice answers: option letters in common spellings, or an option's text.

use std::collections::{BTreeMap, BTreeSet};

use super::Verification;
use crate::normalize::{normalize_text, trim_edge_punctuation};
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

/// Splits into raw tokens at whitespace and list separators.
fn raw_tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '/' | '&' | '+' | '|'))
        .filter(|token| !token.is_empty())
}

/// The upper-cased letter if `token` is exactly one ASCII letter.
fn single_letter(token: &str) -> Option<char> {
    let mut chars = token.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.next().is_none()).then(|| first.to_ascii_uppercase())
}

/// Reads a text made only of letters and list words ("B", "(B)", "B.", "A or B", "A B C D").
fn read_letter_list(text: &str) -> Option<ChoiceReading> {
    let mut letters = BTreeSet::new();
    for raw in raw_tokens(text) {
        let token = trim_edge_punctuation(raw);
        if token.is_empty() {
            continue;
        }
        if let Some(letter) = single_letter(token) {
            letters.insert(letter);
        } else if !LIST_WORDS.contains(&token.to_lowercase().as_str()) {
            return None;
        }
    }
    let mut distinct = letters.into_iter();
    match (distinct.next(), distinct.next()) {
        (Some(letter), None) => Some(ChoiceReading::Letter(letter)),
        (Some(_), Some(_)) => Some(ChoiceReading::Several),
        (None, _) => None,
    }
}

/// Strips a leading "option" word (any case) when a letter follows.
fn strip_option_word(text: &str) -> &str {
    let word_len = "option".len();
    match text.get(..word_len) {
        Some(head) if head.eq_ignore_ascii_case("option") => {
            let rest = &text[word_len..];
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
    let letter = char::from(bytes[letter_at]).to_ascii_uppercase();
    Some((letter, rest))
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
        let is_option = letter != chosen && options.contains_key(&letter.to_string());
        let delimited = raw.contains(['(', ')', ':']);
        let upper_case_word = token.starts_with(|c: char| c.is_ascii_uppercase())
            && !(raw == token && matches!(letter, 'A' | 'I'));
        is_option && (delimited || upper_case_word)
    })
}

/// Letters whose option text equals `text` after normalisation.
fn options_with_text(text: &str, options: &BTreeMap<String, String>) -> Vec<char> {
    let wanted = normalize_text(text);
    if wanted.is_empty() {
        return Vec::new();
    }
    options
        .iter()
        .filter(|(_, option_text)| normalize_text(option_text) == wanted)
        .filter_map(|(key, _)| single_letter(key))
        .collect()
}

/// Reads which option a multiple-choice answer names.
pub(crate) fn read_choice(answer: &str, options: &BTreeMap<String, String>) -> ChoiceReading {
    let text = answer.trim();
    if let Some(reading) = read_letter_list(text) {
        return reading;
    }
    if let Some((letter, rest)) = split_leading_letter(strip_option_word(text)) {
        if mentions_other_letter(rest, letter, options) {
            return ChoiceReading::Several;
        }
        let text_names = options_with_text(rest, options);
        if !text_names.is_empty() && !text_names.contains(&letter) {
            return ChoiceReading::Several;
        }
        return ChoiceReading::Letter(letter);
    }
    match options_with_text(text, options).as_slice() {
        [letter] => ChoiceReading::Letter(*letter),
        _ => ChoiceReading::Nothing,
    }
}

/// Verifies a multiple-choice answer: unknown letter → unparseable, several options → incorrect.
pub(crate) fn verify_choice(reference: &Reference, answer: &str) -> Verification {
    match read_choice(answer, &reference.options) {
        ChoiceReading::Letter(letter) => {
            let letter = letter.to_string();
            if !reference.options.contains_key(&letter) {
                return Verification::unparseable();
            }
            let correct = reference.answer.eq_ignore_ascii_case(&letter);
            Verification::judged(letter, correct)
        }
        ChoiceReading::Several => Verification::ambiguous(),
        ChoiceReading::Nothing => Verification::unparseable(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> BTreeMap<String, String> {
        [("A", "Liver"), ("B", "Bone"), ("C", "Lung"), ("D", "Brain")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn leading_letter_needs_a_delimiter_and_space() {
        assert_eq!(split_leading_letter("B. Bone"), Some(('B', " Bone")));
        assert_eq!(split_leading_letter("(c)"), Some(('C', "")));
        assert_eq!(split_leading_letter("e.g. bone"), None);
        assert_eq!(split_leading_letter("Bone"), None);
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
    }
}
