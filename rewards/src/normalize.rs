//! Text normalisation shared by the verifiers.

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

/// Removes edge punctuation and whitespace from both ends.
pub(crate) fn trim_edge_punctuation(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || is_edge_punctuation(c))
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

/// Content tokens for token overlap: maximal runs of letters and digits.
pub(crate) fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

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
