//! Counts: a non-negative whole number written in digits or as a word ("three", "none").

use super::numeric::first_number;
use super::{Extracted, Judgement};
use crate::normalize::word_index;
use crate::reference::Reference;

/// Number words read as counts, by value.
const COUNT_WORDS: [&str; 21] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];

/// Words meaning a count of zero.
const ZERO_WORDS: [&str; 2] = ["none", "no"];

/// Reads a count: the first number in digits, else the first number word; `None` otherwise.
/// Fractions are returned as they are so that the caller can reject them.
pub(crate) fn read_count(text: &str) -> Option<f64> {
    if let Some(value) = first_number(text) {
        return Some(value);
    }
    text.split(|c: char| !c.is_alphanumeric())
        .find_map(|word| {
            word_index(word, &COUNT_WORDS).or_else(|| word_index(word, &ZERO_WORDS).map(|_| 0))
        })
        .map(|value| value as f64)
}

/// True for a finite, non-negative whole number.
pub(crate) fn is_count(value: f64) -> bool {
    value >= 0.0 && value.fract() == 0.0 && value.is_finite()
}

/// Verifies a count: unreadable → unparseable; a fraction or negative number is incorrect.
pub(crate) fn verify_count<'a>(reference: &Reference, answer: &'a str) -> Judgement<'a> {
    let Some(actual) = read_count(answer) else {
        return Judgement::unparseable();
    };
    let expected = reference.prepared().count;
    let correct = is_count(actual) && expected == Some(actual);
    Judgement::judged(Extracted::Number(actual, None), correct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_words_and_zero() {
        assert_eq!(read_count("3 lesions"), Some(3.0));
        assert_eq!(read_count("Three nodules"), Some(3.0));
        assert_eq!(read_count("none seen"), Some(0.0));
        assert_eq!(read_count("no lesions"), Some(0.0));
        assert_eq!(read_count("someone"), None);
        assert!(!is_count(2.5) && !is_count(-1.0) && is_count(0.0));
    }
}
