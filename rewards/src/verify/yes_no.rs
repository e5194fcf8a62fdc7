//! Yes/no answers: clause-initial "yes"/"no" words only.

use super::Verification;
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
    /// Neither word at a clause start.
    Neither,
}

/// Characters that end a clause.
fn is_clause_break(c: char) -> bool {
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

/// Reads `text` as yes/no from the first word of each clause.
///
/// Clauses break at punctuation, at the connectors "and/or/but/nor/then", and right after a
/// yes/no word, so "Yes, there is a lesion." reads yes, "yes no" and "yes and no" read both,
/// and "nodule" or "there is no lesion" read neither.
pub(crate) fn classify_yes_no(text: &str) -> YesNoReading {
    let lowered = text.to_lowercase();
    let mut saw_yes = false;
    let mut saw_no = false;
    for clause in lowered.split(is_clause_break) {
        let mut clause_start = true;
        for word in clause.split_whitespace() {
            let is_yes = word == "yes";
            let is_no = word == "no";
            if clause_start {
                saw_yes |= is_yes;
                saw_no |= is_no;
            }
            clause_start = is_yes || is_no || CONNECTOR_WORDS.contains(&word);
        }
    }
    match (saw_yes, saw_no) {
        (true, false) => YesNoReading::Yes,
        (false, true) => YesNoReading::No,
        (true, true) => YesNoReading::Both,
        (false, false) => YesNoReading::Neither,
    }
}

/// Verifies a yes/no answer: both words → incorrect (ambiguous), neither → unparseable.
pub(crate) fn verify_yes_no(reference: &Reference, answer: &str) -> Verification {
    let expected = classify_yes_no(&reference.answer);
    let (extracted, reading) = match classify_yes_no(answer) {
        YesNoReading::Yes => ("yes", YesNoReading::Yes),
        YesNoReading::No => ("no", YesNoReading::No),
        YesNoReading::Both => return Verification::ambiguous(),
        YesNoReading::Neither => return Verification::unparseable(),
    };
    Verification::judged(extracted.to_owned(), reading == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(classify_yes_no("There is no lesion"), YesNoReading::Neither);
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
