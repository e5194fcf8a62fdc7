//! Token overlap as first written: `char`-based splitting and a function-pointer comparison.

use std::collections::HashSet;

use crate::normalize::{normalized_eq, normalized_words, same_word};
use crate::reference::Reference;
use crate::verify::text::TokenOverlap;
use crate::verify::{Extracted, Judgement, Verdict};

/// Content tokens for token overlap: maximal runs of letters and digits.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
}

/// Texts with at most this many tokens are compared without allocating.
const INLINE_TOKENS: usize = 32;

/// Distinct tokens of `text` in a fixed array, or `None` when there are too many.
fn inline_distinct(
    text: &str,
    same: fn(&str, &str) -> bool,
) -> Option<([&str; INLINE_TOKENS], usize)> {
    let mut set = [""; INLINE_TOKENS];
    let mut len = 0;
    for token in tokens(text) {
        if set[..len].iter().any(|seen| same(seen, token)) {
            continue;
        }
        if len == INLINE_TOKENS {
            return None;
        }
        set[len] = token;
        len += 1;
    }
    Some((set, len))
}

/// Distinct lower-cased tokens of `text`.
fn hashed_distinct(text: &str) -> HashSet<String> {
    tokens(text).map(str::to_lowercase).collect()
}

/// Builds the overlap from counts.
fn overlap_from(common: usize, predicted: usize, expected: usize) -> TokenOverlap {
    if common == 0 || predicted == 0 || expected == 0 {
        return TokenOverlap {
            precision: 0.0,
            recall: 0.0,
            f1: 0.0,
        };
    }
    let precision = common as f32 / predicted as f32;
    let recall = common as f32 / expected as f32;
    TokenOverlap {
        precision,
        recall,
        f1: 2.0 * precision * recall / (precision + recall),
    }
}

/// Token-set precision, recall and F1 of `prediction` against `reference`. Linear in the
/// longer text (short texts take an allocation-free path).
pub(crate) fn token_overlap(prediction: &str, reference: &str) -> TokenOverlap {
    let same: fn(&str, &str) -> bool = if prediction.is_ascii() && reference.is_ascii() {
        |a, b| a.eq_ignore_ascii_case(b)
    } else {
        same_word
    };
    if let (Some((predicted, p_len)), Some((expected, e_len))) = (
        inline_distinct(prediction, same),
        inline_distinct(reference, same),
    ) {
        let common = expected[..e_len]
            .iter()
            .filter(|token| predicted[..p_len].iter().any(|p| same(p, token)))
            .count();
        return overlap_from(common, p_len, e_len);
    }
    let predicted = hashed_distinct(prediction);
    let expected = hashed_distinct(reference);
    let common = expected.intersection(&predicted).count();
    overlap_from(common, predicted.len(), expected.len())
}

/// Open-answer verification as first written: both sides normalised word by word on every call.
pub(super) fn verify_open<'a>(reference: &Reference, answer: &'a str) -> Judgement<'a> {
    if normalized_words(answer).next().is_none() {
        return Judgement {
            verdict: Verdict::Unparseable,
            score: 0.0,
            extracted: Extracted::Nothing,
        };
    }
    if normalized_eq(answer, reference.answer()) {
        return Judgement {
            verdict: Verdict::Correct,
            score: 1.0,
            extracted: Extracted::Text(answer),
        };
    }
    Judgement {
        verdict: Verdict::Incorrect,
        score: token_overlap(answer, reference.answer()).f1,
        extracted: Extracted::Text(answer),
    }
}
