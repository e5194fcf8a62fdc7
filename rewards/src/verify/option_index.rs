//! A multiple-choice reference's options, prepared once for the verifier: the option letters as
//! a bit set, and each option text in the normalised form answers are compared in.

use std::collections::BTreeMap;

use crate::ascii::{is_space, HIGH_BITS, LOW_BITS};
use crate::normalize::{
    ascii_core, for_each_collapsed_lower, normalize_text, normalized_eq, normalized_words,
};

/// The bit of an upper-case ASCII letter in a set over `A..=Z`.
pub(crate) fn letter_bit(letter: char) -> u32 {
    if letter.is_ascii_uppercase() {
        1 << (letter as u32 - 'A' as u32)
    } else {
        0
    }
}

/// One option text, ready for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PreparedOption {
    /// Bit of the option's letter (see [`letter_bit`]); 0 for a key that is not one letter.
    bit: u32,
    /// The text as given.
    text: Box<str>,
    /// Its normalisation (lower-cased, whitespace collapsed) when the text is ASCII.
    normalized: Option<Box<[u8]>>,
}

/// The options of a reference, prepared for [`crate::verify::choice`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OptionIndex {
    /// Bits of the keys that are one upper-case ASCII letter.
    letters: u32,
    /// Every option, in key order.
    options: Vec<PreparedOption>,
    /// One bit per ASCII byte that starts a lettered option's normalised text, when every
    /// lettered option is ASCII (`None` otherwise): an ASCII probe starting with another byte
    /// names no option.
    first_bytes: Option<u128>,
    /// When every lettered option is ASCII, the packed normalised text (see [`packed_word`])
    /// and bit of each lettered option that has one, in key order: the only options a short
    /// one-word probe can name.
    short_words: Option<Vec<(u64, u32)>>,
}

impl OptionIndex {
    /// Prepares `options` (letter → text).
    pub(crate) fn new(options: &BTreeMap<String, String>) -> Self {
        let options: Vec<PreparedOption> = options
            .iter()
            .map(|(key, text)| PreparedOption {
                bit: single_letter_bit(key),
                text: text.as_str().into(),
                normalized: text
                    .is_ascii()
                    .then(|| normalize_text(text).into_bytes().into_boxed_slice()),
            })
            .collect();
        let lettered = || options.iter().filter(|option| option.bit != 0);
        // The shortcuts below hold only when every lettered option has an ASCII normalisation.
        let normalized =
            || lettered().filter_map(|option| Some((option.normalized.as_deref()?, option.bit)));
        let all_ascii = lettered().all(|option| option.normalized.is_some());
        let first_bytes = all_ascii.then(|| {
            normalized().fold(0u128, |set, (text, _)| {
                set | text.first().map_or(0, |&byte| 1 << (byte & 0x7f))
            })
        });
        let short_words = all_ascii.then(|| {
            normalized()
                .filter_map(|(text, bit)| Some((packed_word(text)?, bit)))
                .collect()
        });
        Self {
            letters: lettered().fold(0, |set, option| set | option.bit),
            options,
            first_bytes,
            short_words,
        }
    }

    /// True when `letter` is one of the option keys.
    #[inline]
    pub(crate) fn has_letter(&self, letter: char) -> bool {
        self.letters & letter_bit(letter) != 0
    }

    /// Bits of the options whose text normalises like `probe`'s, stopping early once `stop`
    /// says the set found so far settles the question.
    #[inline(always)]
    pub(crate) fn named_by(&self, probe: &OptionProbe<'_>, stop: impl Fn(u32) -> bool) -> u32 {
        if let (Some(word), Some(short_words)) = (probe.short_word, &self.short_words) {
            // A probe of one short word can only name the options packed alike; the others
            // differ in length or hold whitespace.
            let mut found = 0;
            for &(option_word, bit) in short_words {
                if option_word == word {
                    found |= bit;
                    if stop(found) {
                        break;
                    }
                }
            }
            return found;
        }
        if let (Some(first_bytes), Some(&first)) =
            (self.first_bytes, probe.span.and_then(|span| span.first()))
        {
            // The comparison starts with the lower-cased first bytes (see
            // `collapsed_lower_equals`).
            if first_bytes & (1 << (first.to_ascii_lowercase() & 0x7f)) == 0 {
                return 0;
            }
        }
        let mut found = 0;
        for option in &self.options {
            if option.bit != 0 && probe.names(option) {
                found |= option.bit;
                if stop(found) {
                    break;
                }
            }
        }
        found
    }
}

/// The bit of `key` if it is exactly one upper-case ASCII letter.
fn single_letter_bit(key: &str) -> u32 {
    match key.as_bytes() {
        [byte] => letter_bit(char::from(*byte)),
        _ => 0,
    }
}

/// Up to eight ASCII bytes above the space (no whitespace, no control bytes), packed
/// little-endian with zero padding, so that equal words are equal texts; `None` for other text.
fn packed_word(bytes: &[u8]) -> Option<u64> {
    let len = bytes.len();
    if len > 8 {
        return None;
    }
    // Two overlapping loads (or the first, middle and last byte) place every byte.
    let word = match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        (Some(head), Some(tail)) => {
            u64::from(u32::from_le_bytes(*head))
                | u64::from(u32::from_le_bytes(*tail)) << (8 * (len - 4))
        }
        _ => match bytes {
            [] => return None,
            [first, .., last] | [first @ last] => {
                u64::from(*first)
                    | u64::from(bytes[len / 2]) << (8 * (len / 2))
                    | u64::from(*last) << (8 * (len - 1))
            }
        },
    };
    // Every byte below 0x80, and at least `!`: adding 0x5f then sets its high bit (without a
    // carry into the next byte). The padding bytes are not looked at.
    let used = HIGH_BITS >> (8 * (8 - len));
    (word & HIGH_BITS == 0 && (word + LOW_BITS * 0x5f) & used == used).then_some(word)
}

/// A packed word (bytes below 0x80) with its upper-case ASCII letters lower-cased.
fn lower_packed(word: u64) -> u64 {
    // Adding 0x80 - c to a byte below 0x80 sets its high bit exactly when the byte is at least
    // c, and never carries into the next byte.
    let at_least_upper_a = word + LOW_BITS * u64::from(0x80 - b'A');
    let past_upper_z = word + LOW_BITS * u64::from(0x80 - b'Z' - 1);
    let upper_case = at_least_upper_a & !past_upper_z & HIGH_BITS;
    // The high bit shifted down to 0x20, the lower-case bit.
    word | (upper_case >> 2)
}

/// A text prepared for comparison with option texts after normalisation.
pub(crate) struct OptionProbe<'a> {
    /// The text as given.
    text: &'a str,
    /// Its normalised span (before lower-casing and collapsing) when it is ASCII.
    span: Option<&'a [u8]>,
    /// The span lower-cased and packed, when it is one short word (see [`packed_word`]).
    short_word: Option<u64>,
}

impl<'a> OptionProbe<'a> {
    /// `None` when `text` normalises to nothing, so that it names no option.
    #[inline(always)]
    pub(crate) fn new(text: &'a str) -> Option<Self> {
        if text.is_ascii() {
            return Self::of_ascii(text);
        }
        normalized_words(text).next().is_some().then_some(Self {
            text,
            span: None,
            short_word: None,
        })
    }

    /// [`OptionProbe::new`] for text already known to be ASCII, which skips that check.
    #[inline(always)]
    pub(crate) fn of_ascii(text: &'a str) -> Option<Self> {
        let span = ascii_core(text.as_bytes());
        (!span.is_empty()).then_some(Self {
            text,
            span: Some(span),
            short_word: packed_word(span).map(lower_packed),
        })
    }

    /// Whether `option`'s text normalises like the probe's text.
    #[inline(always)]
    fn names(&self, option: &PreparedOption) -> bool {
        match (self.span, option.normalized.as_deref()) {
            (Some(span), Some(normalized)) => collapsed_lower_equals(span, normalized),
            _ => normalized_eq(&option.text, self.text),
        }
    }
}

/// Whether the ASCII span, lower-cased with each whitespace run as one space, equals
/// `normalized` (already in that form, so only one side is collapsed).
#[inline(always)]
fn collapsed_lower_equals(span: &[u8], normalized: &[u8]) -> bool {
    // Collapsing never lengthens the text, and both start with a byte that is not whitespace.
    match (span.first(), normalized.first()) {
        (Some(first), Some(wanted)) if first.to_ascii_lowercase() == *wanted => {}
        _ => return span.is_empty() && normalized.is_empty(),
    }
    if normalized.len() == span.len() {
        // Nothing can be collapsed away, so the bytes correspond one to one (`normalized` has
        // no two whitespace bytes in a row).
        // `normalized` is lower-case with single spaces, so a byte matches when it lower-cases
        // to the wanted byte, or is whitespace where a space is wanted.
        return span.iter().zip(normalized).all(|(&byte, &wanted)| {
            byte.to_ascii_lowercase() == wanted || (wanted == b' ' && is_space(byte))
        });
    }
    if normalized.len() > span.len() {
        return false;
    }
    let mut at = 0;
    for_each_collapsed_lower(span, |byte| {
        let same = normalized.get(at) == Some(&byte);
        at += 1;
        same
    }) && at == normalized.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn index(texts: &[&str]) -> OptionIndex {
        let options: BTreeMap<String, String> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| (char::from(b'A' + i as u8).to_string(), text.to_string()))
            .collect();
        OptionIndex::new(&options)
    }

    #[test]
    fn letters_are_a_bit_set_of_single_letter_keys() {
        let options: BTreeMap<String, String> = [("A", "x"), ("AB", "y"), ("C", "z"), ("d", "w")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let index = OptionIndex::new(&options);
        assert!(index.has_letter('A') && index.has_letter('C'));
        assert!(!index.has_letter('B') && !index.has_letter('D') && !index.has_letter('é'));
    }

    #[test]
    fn names_by_normalised_text() {
        let index = index(&["Pleural  effusion", "The liver", "Ödem", "."]);
        let bits = |text: &str| {
            OptionProbe::new(text).map_or(0, |probe| index.named_by(&probe, |_| false))
        };
        assert_eq!(bits("pleural effusion."), 0b0001);
        assert_eq!(bits("  LIVER "), 0b0010);
        assert_eq!(bits("ödem"), 0b0100);
        assert_eq!(bits("..."), 0);
        assert_eq!(bits("pleural"), 0);
    }

    #[test]
    fn short_words_pack_and_lower_case() {
        assert_eq!(
            packed_word(b"Lung"),
            Some(u64::from_le_bytes(*b"Lung\0\0\0\0"))
        );
        assert_eq!(packed_word(b""), None);
        assert_eq!(packed_word(b"a b"), None);
        assert_eq!(packed_word(b"a\tb"), None);
        assert_eq!(packed_word(b"\x80"), None);
        assert_eq!(packed_word(b"123456789"), None);
        let lowered = packed_word(b"@AZ[`az{").map(lower_packed);
        assert_eq!(lowered, packed_word(b"@az[`az{"));
        // A non-ASCII option (the Kelvin sign lower-cases to "k") keeps the full comparison.
        let index = index(&["\u{212a}", "k"]);
        let probe = OptionProbe::of_ascii("K").map(|probe| index.named_by(&probe, |_| false));
        assert_eq!(probe, Some(0b11));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Packing agrees with packing byte by byte.
        #[test]
        fn packed_word_packs_byte_by_byte(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b' '), Just(b'!'), Just(0x7f_u8), Just(0x80), b'a'..=b'z', any::<u8>()],
                0..11,
            ),
        ) {
            let expected = (!bytes.is_empty() && bytes.len() <= 8)
                .then(|| {
                    bytes.iter().enumerate().try_fold(0u64, |word, (index, &byte)| {
                        matches!(byte, b'!'..=0x7f).then(|| word | u64::from(byte) << (8 * index))
                    })
                })
                .flatten();
            prop_assert_eq!(packed_word(&bytes), expected);
        }

        /// Packing then lower-casing equals lower-casing then packing.
        #[test]
        fn lower_packed_is_ascii_lower_case(text in "[!-~]{1,8}") {
            let lowered = text.to_ascii_lowercase();
            prop_assert_eq!(
                packed_word(text.as_bytes()).map(lower_packed),
                packed_word(lowered.as_bytes())
            );
        }

        /// The prepared comparison agrees with comparing both normalisations.
        #[test]
        fn agrees_with_normalize_text(
            option in "[ a-cA-C.()\t]{0,8}|[ aé.]{0,6}|the [ab ]{0,4}|[kK\u{212a}\0]{1,3}|[a-c]{7,10}",
            probe in "[ a-cA-C.()\t]{0,8}|[ aé.]{0,6}|(the|a) [ab ]{0,4}|[kK\0]{1,3}|[a-cA-C]{7,10}",
        ) {
            prop_assume!(!option.trim().is_empty());
            let index = index(&[&option]);
            let expected = !normalize_text(&probe).is_empty()
                && normalize_text(&probe) == normalize_text(&option);
            let found = OptionProbe::new(&probe)
                .is_some_and(|probe| index.named_by(&probe, |_| false) == 1);
            prop_assert_eq!(found, expected, "option {:?} probe {:?}", option, probe);
        }
    }
}
