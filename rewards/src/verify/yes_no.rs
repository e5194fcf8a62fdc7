//! Yes/no answers: clause-initial "yes"/"no" words, else simple negation ("no evidence of
//! effusion" reads no).

use super::{Extracted, Judgement};
use crate::normalize::{ascii_word_index, word_index};
use crate::reference::Reference;

/// How a text reads as a yes/no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum YesNoReading {
    /// Only "yes" words at clause starts.
    Yes,
    /// Only "no" words at clause starts.
    No,
    /// Both "yes" and "no" at clause starts (e.g. "yes and no").
    Both,
    /// Neither word at a clause start and no negation.
    Neither,
}

/// Characters that end a clause.
const fn is_clause_break(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | ';'
            | ':'
            | '!'
            | '?'
            | '/'
            | '\\'
            | '|'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '"'
            | '\''
            | '`'
            | '*'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{201C}'
            | '\u{201D}'
            | '\u{3002}'
            | '\u{FF0C}'
    ) || c == '\n'
}

/// Words after which the next word starts a new clause.
const CONNECTOR_WORDS: [&str; 5] = ["and", "or", "but", "nor", "then"];

/// Words that negate a finding when no clause starts with yes or no.
const NEGATION_WORDS: [&str; 10] = [
    "no", "not", "without", "absent", "absence", "negative", "none", "never", "cannot", "nor",
];

/// Contraction endings that negate ("isn't", "doesn\u{2019}t").
const NEGATION_ENDINGS: [&str; 2] = ["n't", "n\u{2019}t"];

/// True when the whitespace-separated `raw` word is a negation word or ends in "n't".
fn is_negation(raw: &str) -> bool {
    let word = raw.trim_matches(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '\u{2019}'));
    word_index(word, &NEGATION_WORDS).is_some() || ends_in_negation(word.as_bytes())
}

/// True when `word` ends in one of [`NEGATION_ENDINGS`] after at least one more byte. (An ending
/// starts with an ASCII byte, so a match always starts on a char boundary.)
fn ends_in_negation(word: &[u8]) -> bool {
    NEGATION_ENDINGS.iter().any(|ending| {
        let cut = word.len().saturating_sub(ending.len());
        cut > 0
            && word
                .get(cut..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(ending.as_bytes()))
    })
}

/// Fast path for a bare "yes"/"no" with optional surrounding spaces and one trailing `.` or `!`.
fn bare_yes_no(text: &str) -> Option<YesNoReading> {
    let word = text.trim();
    let word = word.strip_suffix(['.', '!']).unwrap_or(word);
    if word.eq_ignore_ascii_case("yes") {
        Some(YesNoReading::Yes)
    } else if word.eq_ignore_ascii_case("no") {
        Some(YesNoReading::No)
    } else {
        None
    }
}

/// Reads `text` as yes/no from the first word of each clause, falling back to negation.
///
/// Clauses break at punctuation, at the connectors "and/or/but/nor/then", and right after a
/// yes/no word, so "Yes, there is a lesion." reads yes, "yes no" and "yes and no" read both.
/// When no clause starts with yes or no, a whole negation word ("no", "not", "without",
/// "absent", "negative", "none", ..., "-n't") anywhere reads no: "There is no evidence of
/// effusion" reads no, while "nodule" is not "no" and reads neither.
pub(crate) fn classify_yes_no(text: &str) -> YesNoReading {
    if let Some(reading) = bare_yes_no(text) {
        return reading;
    }
    if text.is_ascii() {
        classify_ascii(text.as_bytes())
    } else {
        classify_chars(text)
    }
}

/// What an ASCII byte is to the yes/no reader.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ByteRole {
    /// Part of a word.
    Word,
    /// Whitespace (`char::is_whitespace`); the line feed also breaks a clause.
    Space,
    /// Clause-breaking punctuation.
    Break,
}

/// The role of every ASCII byte, agreeing with `is_clause_break` and `char::is_whitespace`.
const BYTE_ROLES: [ByteRole; 128] = {
    let mut roles = [ByteRole::Word; 128];
    let mut byte = 0;
    while byte < 128 {
        let c = byte as u8 as char;
        roles[byte] = if crate::ascii::is_space(byte as u8) {
            ByteRole::Space
        } else if is_clause_break(c) {
            ByteRole::Break
        } else {
            ByteRole::Word
        };
        byte += 1;
    }
    roles
};

/// The role of a byte of ASCII text.
#[inline]
fn role(byte: u8) -> ByteRole {
    BYTE_ROLES[usize::from(byte & 0x7f)]
}

/// [`classify_chars`] for ASCII text, reading the bytes directly.
fn classify_ascii(bytes: &[u8]) -> YesNoReading {
    let mut saw_yes = false;
    let mut saw_no = false;
    let mut clause_start = true;
    let mut at = 0;
    while at < bytes.len() {
        match role(bytes[at]) {
            ByteRole::Space => {
                if bytes[at] == b'\n' {
                    clause_start = true;
                }
                at += 1;
            }
            ByteRole::Break => {
                clause_start = true;
                at += 1;
            }
            ByteRole::Word => {
                let start = at;
                while at < bytes.len() && role(bytes[at]) == ByteRole::Word {
                    at += 1;
                }
                let word = &bytes[start..at];
                let is_yes = word.eq_ignore_ascii_case(b"yes");
                let is_no = word.eq_ignore_ascii_case(b"no");
                if clause_start {
                    saw_yes |= is_yes;
                    saw_no |= is_no;
                }
                clause_start =
                    is_yes || is_no || ascii_word_index(word, &CONNECTOR_WORDS).is_some();
            }
        }
    }
    settle(saw_yes, saw_no, || has_ascii_negation(bytes))
}

/// `text.split_whitespace().any(is_negation)` for ASCII text.
fn has_ascii_negation(bytes: &[u8]) -> bool {
    let kept = |byte: &u8| byte.is_ascii_alphanumeric() || *byte == b'\'';
    bytes
        .split(|&byte| role(byte) == ByteRole::Space)
        .any(|raw| {
            let start = raw.iter().position(kept).unwrap_or(raw.len());
            let end = raw.iter().rposition(kept).map_or(start, |last| last + 1);
            let word = &raw[start..end];
            ascii_word_index(word, &NEGATION_WORDS).is_some() || ends_in_negation(word)
        })
}

/// [`classify_yes_no`] after the bare-word check, for any text, `char` by `char`.
fn classify_chars(text: &str) -> YesNoReading {
    let mut saw_yes = false;
    let mut saw_no = false;
    for clause in text.split(is_clause_break) {
        let mut clause_start = true;
        for word in clause.split_whitespace() {
            let is_yes = word.eq_ignore_ascii_case("yes");
            let is_no = word.eq_ignore_ascii_case("no");
            if clause_start {
                saw_yes |= is_yes;
                saw_no |= is_no;
            }
            clause_start = is_yes || is_no || word_index(word, &CONNECTOR_WORDS).is_some();
        }
    }
    settle(saw_yes, saw_no, || text.split_whitespace().any(is_negation))
}

/// The reading from the clause-initial words seen, else from whether the text negates.
fn settle(saw_yes: bool, saw_no: bool, negates: impl FnOnce() -> bool) -> YesNoReading {
    match (saw_yes, saw_no) {
        (true, false) => YesNoReading::Yes,
        (false, true) => YesNoReading::No,
        (true, true) => YesNoReading::Both,
        (false, false) if negates() => YesNoReading::No,
        (false, false) => YesNoReading::Neither,
    }
}

/// Verifies a yes/no answer: both words → incorrect (ambiguous), neither → unparseable.
pub(crate) fn verify_yes_no<'a>(reference: &Reference, answer: &'a str) -> Judgement<'a> {
    let expected = reference.prepared().yes_no;
    let (extracted, reading) = match classify_yes_no(answer) {
        YesNoReading::Yes => ("yes", YesNoReading::Yes),
        YesNoReading::No => ("no", YesNoReading::No),
        YesNoReading::Both => return Judgement::ambiguous(),
        YesNoReading::Neither => return Judgement::unparseable(),
    };
    Judgement::judged(Extracted::Word(extracted), reading == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Words and separators that steer the reading, with ASCII and Unicode punctuation.
    fn yes_no_text() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "yes",
            "YES",
            "No",
            "no",
            "nodule",
            "and",
            "OR",
            "but",
            "nor",
            "then",
            "not",
            "without",
            "Absent",
            "absence",
            "negative",
            "none",
            "never",
            "cannot",
            "isn't",
            "n't",
            "don\u{2019}t",
            "'no'",
            "(no)",
            "yes,",
            "no.",
            "lesion",
            "there",
            "is",
            " ",
            "  ",
            "\t",
            "\n",
            "\u{b}",
            ",",
            ".",
            ";",
            ":",
            "!",
            "?",
            "/",
            "\\",
            "|",
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            "\"",
            "'",
            "`",
            "*",
            "-",
            "\u{a0}",
            "\u{3002}",
            "\u{2019}",
        ]);
        prop_oneof![
            4 => prop::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat()),
            1 => any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The byte reader of ASCII text reads exactly like the `char` reader.
        #[test]
        fn ascii_reader_matches_the_char_reader(text in yes_no_text()) {
            let general = bare_yes_no(&text).unwrap_or_else(|| classify_chars(&text));
            prop_assert_eq!(classify_yes_no(&text), general);
        }
    }

    #[test]
    fn clause_initial_words_only() {
        assert_eq!(classify_yes_no("Yes"), YesNoReading::Yes);
        assert_eq!(classify_yes_no("No."), YesNoReading::No);
        assert_eq!(
            classify_yes_no("Yes, there is a lesion."),
            YesNoReading::Yes
        );
        assert_eq!(classify_yes_no("No, but a small nodule."), YesNoReading::No);
        assert_eq!(classify_yes_no("nodule"), YesNoReading::Neither);
        assert_eq!(classify_yes_no("There is no lesion"), YesNoReading::No);
        assert_eq!(classify_yes_no("no evidence of effusion"), YesNoReading::No);
        assert_eq!(classify_yes_no("The lung isn't clear"), YesNoReading::No);
        assert_eq!(classify_yes_no("There is a nodule"), YesNoReading::Neither);
        assert_eq!(classify_yes_no("yesterday"), YesNoReading::Neither);
    }

    #[test]
    fn hedges_read_as_both() {
        for hedge in [
            "yes and no",
            "Yes/No",
            "yes no",
            "No. Yes.",
            "yes or no",
            "(yes) (no)",
        ] {
            assert_eq!(classify_yes_no(hedge), YesNoReading::Both, "{hedge}");
        }
    }
}
