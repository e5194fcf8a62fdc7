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
    fn lone_article_is_kept_and_empty_stays_empty() {
        assert_eq!(normalize_text("A"), "a");
        assert_eq!(normalize_text(" ...  "), "");
    }
}
