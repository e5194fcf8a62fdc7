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

/// `normalize_text(a) == normalize_text(b)` without allocating.
pub(crate) fn normalized_eq(a: &str, b: &str) -> bool {
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
    fn lone_article_is_kept_and_empty_stays_empty() {
        assert_eq!(normalize_text("A"), "a");
        assert_eq!(normalize_text(" ...  "), "");
    }
}
