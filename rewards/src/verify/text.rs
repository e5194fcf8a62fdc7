//! Short open answers: normalised exact match, token F1 and token recall.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{Extracted, Judgement, Verdict};
use crate::normalize::{
    ascii_normalized, normalized_eq, normalized_words, same_word, tokens, ASCII_NORMALIZED_CAPACITY,
};
use crate::reference::Reference;

/// Token-set overlap between a prediction and a reference (tokens: runs of letters and digits,
/// compared case-insensitively; each distinct token counted once).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TokenOverlap {
    /// Shared distinct tokens / distinct prediction tokens.
    pub precision: f32,
    /// Shared distinct tokens / distinct reference tokens.
    pub recall: f32,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f32,
}

/// Texts with at most this many tokens are compared without allocating.
const INLINE_TOKENS: usize = 32;
// Prepared overlaps mark the expected tokens found in a 64-bit mask.
const _: () = assert!(INLINE_TOKENS <= 64);
/// The first, smaller stack buffer tried: most answers have few tokens, and a small buffer is
/// cheap to set up.
const FEW_TOKENS: usize = 8;

/// Collects the distinct tokens into `set`; their number, or `None` when there are too many.
#[inline]
fn inline_distinct<T: Copy, const N: usize>(
    tokens: impl Iterator<Item = T>,
    same: impl Fn(T, T) -> bool,
    set: &mut [T; N],
) -> Option<usize> {
    let mut len = 0;
    for token in tokens {
        if set[..len].iter().any(|&seen| same(seen, token)) {
            continue;
        }
        *set.get_mut(len)? = token;
        len += 1;
    }
    Some(len)
}

/// A token of ASCII text with its first eight bytes lower-cased into one word, so that most
/// comparisons are one integer compare.
#[derive(Debug, Clone, Copy, Default)]
struct AsciiToken<'a> {
    /// The first eight bytes, lower-cased (tokens are letters and digits only: `| 0x20`
    /// lower-cases letters and leaves digits unchanged), little-endian, zero-padded.
    head: u64,
    /// The whole token.
    bytes: &'a [u8],
}

impl<'a> AsciiToken<'a> {
    /// The token `text[start..end]` (ASCII letters and digits).
    #[inline]
    fn new(text: &'a [u8], start: usize, end: usize) -> Self {
        let bytes = &text[start..end];
        let head_len = bytes.len().min(8);
        // Eight bytes from the token's start in one load when the text has them; the mask below
        // keeps only the token's own.
        let word = match text.get(start..start + 8).map(<[u8; 8]>::try_from) {
            Some(Ok(window)) => u64::from_le_bytes(window),
            _ => bytes[..head_len]
                .iter()
                .rev()
                .fold(0, |word, &byte| word << 8 | u64::from(byte)),
        };
        let mask = if head_len == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * head_len)) - 1
        };
        Self {
            head: (word | 0x2020_2020_2020_2020) & mask,
            bytes,
        }
    }

    /// Case-insensitive equality.
    #[inline(always)]
    fn same(self, other: Self) -> bool {
        self.head == other.head
            && self.bytes.len() == other.bytes.len()
            && (self.bytes.len() <= 8 || self.bytes[8..].eq_ignore_ascii_case(&other.bytes[8..]))
    }
}

/// The tokens of ASCII text: maximal runs of ASCII letters and digits.
struct AsciiTokens<'a> {
    /// The whole text.
    bytes: &'a [u8],
    /// Where the search for the next token starts.
    at: usize,
}

impl<'a> Iterator for AsciiTokens<'a> {
    type Item = AsciiToken<'a>;

    #[inline]
    fn next(&mut self) -> Option<AsciiToken<'a>> {
        let bytes = self.bytes;
        let mut start = self.at;
        while bytes
            .get(start)
            .is_some_and(|byte| !byte.is_ascii_alphanumeric())
        {
            start += 1;
        }
        let mut end = start;
        while bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
            end += 1;
        }
        self.at = end;
        (end > start).then(|| AsciiToken::new(bytes, start, end))
    }
}

/// A byte repeated in each of a word's eight bytes.
const fn repeated(byte: u8) -> u64 {
    u64::from_le_bytes([byte; 8])
}

/// The high bit of each byte of `word` (eight ASCII bytes) that lies in `low..=high`.
#[inline]
const fn bytes_in_range(word: u64, low: u8, high: u8) -> u64 {
    // For a byte below 0x80, adding 0x80 - low sets its high bit iff it is at least `low`, and
    // adding 0x7f - high iff it is above `high`; neither sum carries into the next byte.
    let at_least_low = word.wrapping_add(repeated(0x80 - low));
    let above_high = word.wrapping_add(repeated(0x7f - high));
    at_least_low & !above_high & repeated(0x80)
}

/// One bit per byte of eight ASCII bytes (the first byte in the lowest bit): set for letters and
/// digits.
#[inline]
const fn token_byte_bits(word: u64) -> u64 {
    let digits = bytes_in_range(word, b'0', b'9');
    // Setting bit 5 maps upper-case letters onto lower-case ones and no other byte onto them.
    let letters = bytes_in_range(word | repeated(0x20), b'a', b'z');
    // Gathers the eight high bits into the top byte, the first byte's lowest.
    ((digits | letters) >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// One bit per byte of the first 64 bytes of ASCII text: set for letters and digits.
#[inline]
fn token_mask(bytes: &[u8]) -> u64 {
    let bytes = bytes.get(..64).unwrap_or(bytes);
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    let full = words.len();
    let mask = words.enumerate().fold(0, |mask, (index, word)| {
        let word = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        mask | token_byte_bits(word) << (8 * index)
    });
    // The tail, zero-padded (a zero byte is not a letter or digit): from the text's last eight
    // bytes when it has them, shifted past the bytes already read.
    let last = match bytes
        .len()
        .checked_sub(8)
        .and_then(|from| bytes.get(from..))
    {
        Some(&[a, b, c, d, e, f, g, h]) if !tail.is_empty() => {
            u64::from_le_bytes([a, b, c, d, e, f, g, h]) >> (8 * (8 - tail.len()))
        }
        _ => tail
            .iter()
            .rev()
            .fold(0, |word, &byte| word << 8 | u64::from(byte)),
    };
    match full {
        8 => mask,
        _ => mask | token_byte_bits(last) << (8 * full),
    }
}

/// The tokens of ASCII text of at most 64 bytes, read from a bit mask of its letters and digits
/// rather than byte by byte, so that no branch depends on where a token ends.
struct MaskedTokens<'a> {
    /// The text.
    bytes: &'a [u8],
    /// One bit per letter or digit not yet handed out.
    rest: u64,
}

impl<'a> Iterator for MaskedTokens<'a> {
    type Item = AsciiToken<'a>;

    #[inline]
    fn next(&mut self) -> Option<AsciiToken<'a>> {
        if self.rest == 0 {
            return None;
        }
        let start = self.rest.trailing_zeros();
        let len = (!(self.rest >> start)).trailing_zeros();
        // Adding the lowest set bit carries through its run and clears it.
        self.rest &= self.rest.wrapping_add(1 << start);
        let start = start as usize;
        Some(AsciiToken::new(self.bytes, start, start + len as usize))
    }
}

/// The [`MaskedTokens`] of ASCII text, or `None` when it is longer than 64 bytes.
#[inline]
fn masked_tokens(bytes: &[u8]) -> Option<MaskedTokens<'_>> {
    (bytes.len() <= 64).then(|| MaskedTokens {
        bytes,
        rest: token_mask(bytes),
    })
}

/// The [`AsciiTokens`] of `text`.
#[inline]
fn ascii_tokens(text: &str) -> AsciiTokens<'_> {
    AsciiTokens {
        bytes: text.as_bytes(),
        at: 0,
    }
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

/// The overlap of two token streams with few tokens, without allocating; `None` when either
/// has too many.
#[inline]
fn inline_overlap<T: Copy + Default, const N: usize>(
    prediction: impl Iterator<Item = T>,
    reference: impl Iterator<Item = T>,
    same: impl Fn(T, T) -> bool + Copy,
) -> Option<TokenOverlap> {
    let mut predicted = [T::default(); N];
    let mut expected = [T::default(); N];
    let p_len = inline_distinct(prediction, same, &mut predicted)?;
    let e_len = inline_distinct(reference, same, &mut expected)?;
    let common = expected[..e_len]
        .iter()
        .filter(|&&token| predicted[..p_len].iter().any(|&p| same(p, token)))
        .count();
    Some(overlap_from(common, p_len, e_len))
}

/// Token-set precision, recall and F1 of `prediction` against `reference`. Linear in the
/// longer text (short texts take an allocation-free path).
pub fn token_overlap(prediction: &str, reference: &str) -> TokenOverlap {
    let inline = if prediction.is_ascii() && reference.is_ascii() {
        let tokens = || (ascii_tokens(prediction), ascii_tokens(reference));
        let (p, r) = tokens();
        inline_overlap::<_, FEW_TOKENS>(p, r, AsciiToken::same).or_else(|| {
            let (p, r) = tokens();
            inline_overlap::<_, INLINE_TOKENS>(p, r, AsciiToken::same)
        })
    } else {
        inline_overlap::<_, INLINE_TOKENS>(tokens(prediction), tokens(reference), same_word)
    };
    if let Some(overlap) = inline {
        return overlap;
    }
    let predicted = hashed_distinct(prediction);
    let expected = hashed_distinct(reference);
    let common = expected.intersection(&predicted).count();
    overlap_from(common, predicted.len(), expected.len())
}

/// The distinct tokens of a reference text, read once so that scoring many predictions against
/// it tokenises only the predictions. Gives exactly [`token_overlap`]'s result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PreparedTokens {
    /// The distinct tokens of an ASCII text with at most [`INLINE_TOKENS`] of them, as (head,
    /// start, end) (see [`AsciiToken`]); `None` for other texts, which [`token_overlap`] reads.
    ascii: Option<Box<[(u64, usize, usize)]>>,
}

impl PreparedTokens {
    /// Reads the distinct tokens of `text` (in linear time: it gives up past
    /// [`INLINE_TOKENS`] distinct tokens).
    pub(crate) fn new(text: &str) -> Self {
        let mut distinct = [AsciiToken::default(); INLINE_TOKENS];
        let ascii = text
            .is_ascii()
            .then(|| inline_distinct(ascii_tokens(text), AsciiToken::same, &mut distinct))
            .flatten()
            .map(|len| {
                distinct[..len]
                    .iter()
                    .map(|token| {
                        let start = token.bytes.as_ptr() as usize - text.as_ptr() as usize;
                        (token.head, start, start + token.bytes.len())
                    })
                    .collect()
            });
        Self { ascii }
    }

    /// `token_overlap(prediction, text)`, where `text` is the text these tokens were read from.
    pub(crate) fn overlap(&self, text: &str, prediction: &str) -> TokenOverlap {
        let Some(expected) = self.ascii.as_deref().filter(|_| prediction.is_ascii()) else {
            return token_overlap(prediction, text);
        };
        let bytes = text.as_bytes();
        let found = match masked_tokens(prediction.as_bytes()) {
            Some(tokens) => overlap_with_expected(bytes, expected, tokens),
            None => overlap_with_expected(bytes, expected, ascii_tokens(prediction)),
        };
        if let Some(overlap) = found {
            return overlap;
        }
        let counted = |predicted: &[AsciiToken<'_>]| {
            let common = expected
                .iter()
                .filter(|&&(head, start, end)| {
                    let token = AsciiToken {
                        head,
                        bytes: &bytes[start..end],
                    };
                    predicted.iter().any(|&seen| seen.same(token))
                })
                .count();
            overlap_from(common, predicted.len(), expected.len())
        };
        let mut many = [AsciiToken::default(); INLINE_TOKENS];
        match inline_distinct(ascii_tokens(prediction), AsciiToken::same, &mut many) {
            Some(len) => counted(&many[..len]),
            None => token_overlap(prediction, text),
        }
    }
}

/// The overlap of prediction tokens with the distinct `expected` tokens of `reference`, or
/// `None` when the prediction has more distinct tokens outside the reference than a small
/// buffer holds.
#[inline]
fn overlap_with_expected<'p>(
    reference: &[u8],
    expected: &[(u64, usize, usize)],
    tokens: impl Iterator<Item = AsciiToken<'p>>,
) -> Option<TokenOverlap> {
    // Each prediction token either equals one of the expected tokens, marked in `matched` (so
    // repeats count once), or is kept in `others`.
    let mut matched = 0u64;
    let mut others = [AsciiToken::default(); FEW_TOKENS];
    let mut others_len = 0;
    for token in tokens {
        let index = expected.iter().position(|&(head, start, end)| {
            token.same(AsciiToken {
                head,
                bytes: reference.get(start..end).unwrap_or_default(),
            })
        });
        match index {
            Some(index) => matched |= 1 << index,
            None if others[..others_len].iter().any(|&seen| seen.same(token)) => {}
            None => {
                *others.get_mut(others_len)? = token;
                others_len += 1;
            }
        }
    }
    let common = matched.count_ones() as usize;
    Some(overlap_from(common, common + others_len, expected.len()))
}

/// Verifies an open answer: correct iff equal after normalisation; score = token F1 (1 when
/// correct); nothing readable → unparseable.
pub(crate) fn verify_open<'a>(reference: &Reference, answer: &'a str) -> Judgement<'a> {
    let mut buffer = [0u8; ASCII_NORMALIZED_CAPACITY];
    let (empty, equal) = match ascii_normalized(answer, &mut buffer) {
        // The reference's normalised text was prepared once: only the answer is normalised.
        Some(normalized) => (
            normalized.is_empty(),
            *normalized == *reference.prepared().normalized.as_bytes(),
        ),
        None => (
            normalized_words(answer).next().is_none(),
            normalized_eq(answer, reference.answer()),
        ),
    };
    if empty {
        return Judgement::unparseable();
    }
    if equal {
        return Judgement::judged(Extracted::Text(answer), true);
    }
    Judgement {
        verdict: Verdict::Incorrect,
        score: reference.token_overlap(answer).f1,
        extracted: Extracted::Text(answer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_counts_distinct_tokens_case_insensitively() {
        let overlap = token_overlap("Left LEFT lower lobe", "left upper lobe");
        assert!((overlap.precision - 2.0 / 3.0).abs() < 1e-6);
        assert!((overlap.recall - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(token_overlap("", "x").f1, 0.0);
    }

    #[test]
    fn token_mask_marks_exactly_the_ascii_letters_and_digits() {
        let all: Vec<u8> = (0u8..128).collect();
        for chunk in all.chunks(64).chain(all[3..].chunks(61)) {
            let expected = chunk
                .iter()
                .enumerate()
                .filter(|(_, byte)| byte.is_ascii_alphanumeric())
                .fold(0u64, |mask, (index, _)| mask | 1 << index);
            assert_eq!(token_mask(chunk), expected);
        }
        // Every pattern of letters and other bytes in one word (the gathering must not carry).
        for pattern in 0u64..256 {
            let word: Vec<u8> = (0..8)
                .map(|bit| if pattern >> bit & 1 == 1 { b'Z' } else { b'~' })
                .collect();
            assert_eq!(token_mask(&word), pattern);
        }
        for byte in 0u8..128 {
            let bit = u64::from(byte.is_ascii_alphanumeric());
            assert_eq!(token_mask(&[byte]), bit, "{byte}");
            assert_eq!(token_mask(&[b'a', byte, b'-']), 1 | bit << 1, "{byte}");
        }
    }

    #[test]
    fn long_tokens_compare_past_their_first_eight_bytes() {
        let overlap = token_overlap(
            "PNEUMOTHORAX pneumothorix 123456789",
            "pneumothorax 123456780",
        );
        assert!((overlap.precision - 1.0 / 3.0).abs() < 1e-6);
        assert!((overlap.recall - 1.0 / 2.0).abs() < 1e-6);
        assert_eq!(token_overlap("Hepatomegaly", "hepatomegalY").f1, 1.0);
        assert_eq!(token_overlap("abc", "abd").f1, 0.0);
    }

    #[test]
    fn reference_overlap_uses_its_prepared_tokens() {
        let prediction = "small left PLEURAL effusion";
        for (answer, recall) in [("Pleural effusion", 1.0), ("left lung", 0.5)] {
            let reference = match Reference::new(answer, crate::AnswerType::Open) {
                Ok(reference) => reference,
                Err(err) => panic!("{err}"),
            };
            assert_eq!(
                reference.token_overlap(prediction),
                token_overlap(prediction, answer)
            );
            assert_eq!(reference.token_overlap(prediction).recall, recall);
        }
    }

    #[test]
    fn prepared_overlap_counts_repeats_once_and_overflows_to_the_general_path() {
        let reference = "pleural effusion";
        let prepared = PreparedTokens::new(reference);
        let overlap = prepared.overlap(reference, "Effusion effusion PLEURAL x X y");
        // Distinct prediction tokens: effusion, pleural, x, y.
        assert!((overlap.precision - 0.5).abs() < 1e-6);
        assert_eq!(overlap.recall, 1.0);
        let padded = |pad: usize, word: &str| format!("{}{word}", " ".repeat(pad));
        let at_the_edges = [
            padded(56, "Effusion"),
            padded(53, "effusion"),
            padded(57, "pleuralx"),
            "o0 o1 o2 o3 o4 o5 o6 o7 o8 pleural o1 effusion O0".to_owned(),
        ];
        for prediction in at_the_edges.iter().map(String::as_str).chain([
            "Effusion effusion PLEURAL x X y",
            "a b c d e f g h effusion",
            "a b c d e f g h i effusion a",
            "effusion a b c d e f g h i j k l m n o p q r s t u v w x y z aa bb cc dd ee ff",
        ]) {
            assert_eq!(
                prepared.overlap(reference, prediction),
                token_overlap(prediction, reference),
                "{prediction}"
            );
        }
    }

    #[test]
    fn long_texts_take_the_hashed_path_with_the_same_result() {
        let long: String = (0..100).map(|i| format!("w{i} ")).collect();
        let overlap = token_overlap(&long, "w1 w2 zz");
        assert!((overlap.recall - 2.0 / 3.0).abs() < 1e-6);
        assert!((overlap.precision - 2.0 / 100.0).abs() < 1e-6);
    }
}
