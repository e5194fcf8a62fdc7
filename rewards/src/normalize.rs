//! Text normalisation shared by the verifiers.

use crate::ascii::{ascii_table, is_space, tokens as class_tokens, trim_class, CharClass, Tokens};

/// Articles removed from the start of a normalised answer.
const LEADING_ARTICLES: [&str; 3] = ["a", "an", "the"];

/// True for punctuation stripped from the edges of an answer.
///
/// Signs that carry clinical meaning (`+`, `-`, `%`, `/`, `#`) are deliberately kept, so that
/// e.g. "HER2+" and "HER2-" stay distinct.
pub(crate) fn is_edge_punctuation(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | ';'
            | ':'
            | '!'
            | '?'
            | '\''
            | '"'
            | '`'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '*'
            | '_'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{201C}'
            | '\u{201D}'
            | '\u{2026}'
            | '\u{3002}'
            | '\u{FF0C}'
            | '\u{FF1A}'
            | '\u{FF1B}'
            | '\u{FF01}'
            | '\u{FF1F}'
            | '\u{FF08}'
            | '\u{FF09}'
    )
}

/// Whitespace or edge punctuation.
fn is_edge_or_space(c: char) -> bool {
    c.is_whitespace() || is_edge_punctuation(c)
}

/// Whitespace and edge punctuation, as a class with an ASCII table.
const EDGE: CharClass = CharClass::new(is_edge_or_space, ASCII_EDGE);

/// Removes edge punctuation and whitespace from both ends.
#[inline]
pub(crate) fn trim_edge_punctuation(text: &str) -> &str {
    trim_class(text, &EDGE)
}

/// Lower-case, trim, collapse whitespace, strip surrounding punctuation and a leading article
/// (a/an/the) — used by open/closed matching.
///
/// Only a *leading* article is removed: "hepatitis a" must not collapse onto "hepatitis".
pub fn normalize_text(text: &str) -> String {
    let lowered = text.to_lowercase();
    let mut words: Vec<&str> = trim_edge_punctuation(&lowered).split_whitespace().collect();
    if words.len() > 1 && LEADING_ARTICLES.contains(&words[0]) {
        words.remove(0);
    }
    let joined = words.join(" ");
    trim_edge_punctuation(&joined).to_owned()
}

/// Case-insensitive word equality (ASCII fast path, full Unicode lower-casing otherwise).
pub(crate) fn same_word(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
    }
}

/// Index of the first of `words` equal to the ASCII `word`, ASCII case ignored.
#[inline]
pub(crate) fn ascii_word_index(word: &[u8], words: &[&str]) -> Option<usize> {
    words.iter().position(|candidate| {
        candidate.len() == word.len() && candidate.as_bytes().eq_ignore_ascii_case(word)
    })
}

/// Index of the first of `words` (ASCII) that [`same_word`] finds equal to `word`.
#[inline]
pub(crate) fn word_index(word: &str, words: &[&str]) -> Option<usize> {
    if word.is_ascii() {
        ascii_word_index(word.as_bytes(), words)
    } else {
        words
            .iter()
            .position(|candidate| same_word(candidate, word))
    }
}

/// The words [`normalize_text`] would produce, borrowed from `text` (compare with [`same_word`]).
pub(crate) fn normalized_words(text: &str) -> impl Iterator<Item = &str> {
    let mut words = trim_edge_punctuation(text).split_whitespace().peekable();
    let first = words.next();
    let skip_article = first.is_some_and(|word| {
        words.peek().is_some() && LEADING_ARTICLES.iter().any(|a| same_word(a, word))
    });
    let mut leading = true;
    first
        .filter(|_| !skip_article)
        .into_iter()
        .chain(words)
        .filter_map(move |word| {
            if !leading {
                return Some(word);
            }
            let trimmed = word.trim_start_matches(is_edge_punctuation);
            if trimmed.is_empty() {
                return None;
            }
            leading = false;
            Some(trimmed)
        })
}

/// For each ASCII byte: is it whitespace or edge punctuation?
const ASCII_EDGE: [bool; 128] = ascii_table!(|byte| is_space(byte)
    || matches!(
        byte,
        b'.' | b','
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
    ));

/// Whether an ASCII byte is whitespace or edge punctuation.
#[inline]
pub(crate) fn is_ascii_edge(byte: u8) -> bool {
    ASCII_EDGE[usize::from(byte & 0x7f)]
}

/// ASCII bytes without the edge punctuation at either end ([`trim_edge_punctuation`] on bytes).
#[inline(always)]
pub(crate) fn trim_ascii_edges(bytes: &[u8]) -> &[u8] {
    let mut core = bytes;
    while let [first, rest @ ..] = core {
        if !is_ascii_edge(*first) {
            break;
        }
        core = rest;
    }
    while let [rest @ .., last] = core {
        if !is_ascii_edge(*last) {
            break;
        }
        core = rest;
    }
    core
}

/// For ASCII text, the span whose lower-cased, whitespace-collapsed form is its normalisation:
/// edges trimmed, then a leading article (when more words follow) and the whitespace and edge
/// punctuation after it dropped. Starts and ends with a byte that is neither, or is empty.
#[inline(always)]
pub(crate) fn ascii_core(bytes: &[u8]) -> &[u8] {
    let core = trim_ascii_edges(bytes);
    if !matches!(core.first(), Some(b'a' | b'A' | b't' | b'T')) {
        return core;
    }
    let article_len = LEADING_ARTICLES.iter().map(|a| a.len()).find(|&len| {
        core.get(len).is_some_and(|&b| is_space(b))
            && LEADING_ARTICLES
                .iter()
                .any(|article| article.as_bytes().eq_ignore_ascii_case(&core[..len]))
    });
    let Some(article_len) = article_len else {
        return core;
    };
    // A space follows the article and the core ends with a byte that is not edge punctuation,
    // so another word follows and this always stops inside the core.
    let mut lead = article_len;
    while lead < core.len() && is_ascii_edge(core[lead]) {
        lead += 1;
    }
    &core[lead..]
}

/// Calls `emit` with each normalised byte of an ASCII core (lower-cased, each whitespace run as
/// one space) until it returns false; true when every byte was taken.
#[inline]
pub(crate) fn for_each_collapsed_lower(core: &[u8], mut emit: impl FnMut(u8) -> bool) -> bool {
    let mut after_space = false;
    for &byte in core {
        let out = if is_space(byte) {
            if after_space {
                continue;
            }
            after_space = true;
            b' '
        } else {
            after_space = false;
            byte.to_ascii_lowercase()
        };
        if !emit(out) {
            return false;
        }
    }
    true
}

/// Capacity of the stack buffer used by [`ascii_normalized`].
pub(crate) const ASCII_NORMALIZED_CAPACITY: usize = 128;

/// [`normalize_text`] for ASCII text of moderate length, written into a stack buffer: `None`
/// when the text is not ASCII or does not fit (callers then fall back to the general path).
pub(crate) fn ascii_normalized<'b>(
    text: &str,
    buffer: &'b mut [u8; ASCII_NORMALIZED_CAPACITY],
) -> Option<&'b [u8]> {
    let bytes = text.as_bytes();
    if bytes.len() > 4 * ASCII_NORMALIZED_CAPACITY || !bytes.is_ascii() {
        return None;
    }
    let mut len = 0;
    let fits = for_each_collapsed_lower(ascii_core(bytes), |byte| match buffer.get_mut(len) {
        Some(slot) => {
            *slot = byte;
            len += 1;
            true
        }
        None => false,
    });
    fits.then_some(&buffer[..len])
}

/// For ASCII text, the span of `text` that [`normalize_text`] keeps, before lower-casing and
/// collapsing whitespace; `None` when `text` is not ASCII. Empty iff the normalisation is.
#[inline(always)]
pub(crate) fn ascii_normalized_span(text: &str) -> Option<&[u8]> {
    let bytes = text.as_bytes();
    bytes.is_ascii().then(|| ascii_core(bytes))
}

/// Whether two spans from [`ascii_normalized_span`] normalise to the same text: equal up to
/// ASCII case, with every whitespace run matching every other whitespace run.
#[inline]
fn spans_match(left: &[u8], right: &[u8]) -> bool {
    let (mut i, mut j) = (0, 0);
    while let (Some(&x), Some(&y)) = (left.get(i), right.get(j)) {
        match (is_space(x), is_space(y)) {
            (true, true) => {
                while left.get(i).is_some_and(|&b| is_space(b)) {
                    i += 1;
                }
                while right.get(j).is_some_and(|&b| is_space(b)) {
                    j += 1;
                }
            }
            (false, false) if x.eq_ignore_ascii_case(&y) => {
                i += 1;
                j += 1;
            }
            _ => return false,
        }
    }
    i == left.len() && j == right.len()
}

/// `normalize_text(a) == normalize_text(b)` without allocating.
pub(crate) fn normalized_eq(a: &str, b: &str) -> bool {
    if let (Some(left), Some(right)) = (ascii_normalized_span(a), ascii_normalized_span(b)) {
        return spans_match(left, right);
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

/// Anything but a letter or digit.
const NOT_ALPHANUMERIC: CharClass = CharClass::new(
    |c| !c.is_alphanumeric(),
    ascii_table!(|byte| !byte.is_ascii_alphanumeric()),
);

/// Content tokens for token overlap: maximal runs of letters and digits.
pub(crate) fn tokens(text: &str) -> Tokens<'_> {
    class_tokens(text, &NOT_ALPHANUMERIC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The length-first lookup finds what comparing with `same_word` one by one finds.
        #[test]
        fn word_index_matches_same_word(word in "(?i)(no|none|nor|three|and|k\u{212a}|\u{212a}|[a-z\u{130}\u{212a}]{0,4})") {
            let words = ["no", "none", "nor", "three", "k", "and", "kk"];
            let expected = words.iter().position(|candidate| same_word(candidate, &word));
            prop_assert_eq!(word_index(&word, &words), expected);
        }
    }

    #[test]
    fn word_index_keeps_unicode_case_folding() {
        // The Kelvin sign lower-cases to an ASCII "k".
        assert_eq!(word_index("\u{212a}", &["x", "k"]), Some(1));
        assert_eq!(word_index("THREE", &["two", "three"]), Some(1));
        assert_eq!(word_index("thre", &["three"]), None);
    }

    #[test]
    fn lowercases_collapses_and_strips() {
        assert_eq!(normalize_text("  The   LEFT\tLung. "), "left lung");
        assert_eq!(normalize_text("An apple."), "apple");
        assert_eq!(normalize_text("\"Liver\"!"), "liver");
    }

    #[test]
    fn keeps_meaningful_signs_and_inner_articles() {
        assert_eq!(normalize_text("HER2+"), "her2+");
        assert_ne!(normalize_text("HER2+"), normalize_text("HER2-"));
        assert_eq!(normalize_text("Hepatitis A"), "hepatitis a");
    }

    #[test]
    fn borrowed_words_agree_with_normalize_text() {
        for (a, b) in [
            ("The (left) lung.", "left) lung"),
            ("the ( left", "LEFT"),
            ("A", "a"),
            ("HER2+", "her2-"),
            ("  ", "..."),
        ] {
            assert_eq!(
                normalized_eq(a, b),
                normalize_text(a) == normalize_text(b),
                "{a} / {b}"
            );
        }
    }

    #[test]
    fn ascii_edge_table_matches_the_char_rules() {
        for byte in 0u8..128 {
            let c = char::from(byte);
            assert_eq!(
                ASCII_EDGE[usize::from(byte)],
                c.is_whitespace() || is_edge_punctuation(c),
                "{byte}"
            );
        }
    }

    #[test]
    fn ascii_path_agrees_with_normalize_text() {
        for text in [
            "The (left) lung.",
            "the ( left",
            "A",
            "  An\tMRI ",
            "HER2+",
            "...",
            "",
            "x\u{b}y",
            "the",
            "(the) lung",
        ] {
            let mut buffer = [0u8; ASCII_NORMALIZED_CAPACITY];
            let fast = ascii_normalized(text, &mut buffer).map(|b| b.to_vec());
            assert_eq!(fast, Some(normalize_text(text).into_bytes()), "{text:?}");
        }
        let mut buffer = [0u8; ASCII_NORMALIZED_CAPACITY];
        assert_eq!(ascii_normalized("é", &mut buffer), None);
        assert_eq!(ascii_normalized(&"word ".repeat(40), &mut buffer), None);
    }

    #[test]
    fn lone_article_is_kept_and_empty_stays_empty() {
        assert_eq!(normalize_text("A"), "a");
        assert_eq!(normalize_text(" ...  "), "");
    }
}
