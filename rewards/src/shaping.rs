//! Format and shaping signals: the `<think>…</think> … \boxed{…}` format, DAPO's soft overlong
//! penalty and a reflection detector.

use crate::error::RewardError;
use crate::extract::last_boxed;

/// True when the response is `<think>…</think>` followed by text containing a closed
/// `\boxed{…}` (EasyR1's math format; tags case-insensitive, whitespace-tolerant, leading
/// whitespace allowed).
pub fn boxed_format_ok(response: &str) -> bool {
    let text = response.trim_start();
    let bytes = text.as_bytes();
    let Some(after_open) = tag_end_at(bytes, 0, false) else {
        return false;
    };
    let mut cursor = after_open;
    while let Some(offset) = memchr::memchr(b'<', &bytes[cursor..]) {
        let at = cursor + offset;
        if let Some(after_close) = tag_end_at(bytes, at, true) {
            return text
                .get(after_close..)
                .is_some_and(|rest| last_boxed(rest).is_some());
        }
        cursor = at + 1;
    }
    false
}

/// If a think tag (closing or opening as asked) starts at `at`, the index after it.
fn tag_end_at(bytes: &[u8], at: usize, closing: bool) -> Option<usize> {
    let skip = |mut i: usize| {
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    if bytes.get(at) != Some(&b'<') {
        return None;
    }
    let mut i = skip(at + 1);
    if closing {
        if bytes.get(i) != Some(&b'/') {
            return None;
        }
        i = skip(i + 1);
    }
    let name = bytes.get(i..i + 5)?;
    if !name.eq_ignore_ascii_case(b"think") {
        return None;
    }
    i = skip(i + 5);
    (bytes.get(i) == Some(&b'>')).then_some(i + 1)
}

/// DAPO's soft overlong punishment: 0 up to `max_length - cache_length`, then falling
/// linearly to -1 at `max_length`, and -1 beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverlongPenalty {
    max_length: usize,
    cache_length: usize,
}

impl OverlongPenalty {
    /// Checks `0 < cache_length <= max_length`.
    pub fn new(max_length: usize, cache_length: usize) -> Result<Self, RewardError> {
        if max_length == 0 || cache_length == 0 || cache_length > max_length {
            return Err(RewardError::invalid_config(
                "cache_length",
                &cache_length.to_string(),
                &format!("need 0 < cache_length <= max_length (max_length = {max_length})"),
            ));
        }
        Ok(Self {
            max_length,
            cache_length,
        })
    }

    /// The penalty for a response of `length` units (tokens or characters), in [-1, 0].
    pub fn penalty(&self, length: usize) -> f32 {
        let free = self.max_length - self.cache_length;
        if length <= free {
            0.0
        } else if length <= self.max_length {
            (free as f64 - length as f64) as f32 / self.cache_length as f32
        } else {
            -1.0
        }
    }
}

/// Self-checking phrases counted by default.
pub const DEFAULT_REFLECTION_PHRASES: [&str; 10] = [
    "wait",
    "let me re-check",
    "let me recheck",
    "let me check again",
    "let me double-check",
    "on second look",
    "on second thought",
    "re-examine",
    "double-check",
    "looking again",
];

/// Counts self-checking phrases ("wait", "let me re-check", ...) as whole words,
/// case-insensitively; usable as a metric or, through the rubric, as a reward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReflectionDetector {
    phrases: Vec<String>,
}

impl Default for ReflectionDetector {
    fn default() -> Self {
        Self {
            phrases: DEFAULT_REFLECTION_PHRASES
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
        }
    }
}

impl ReflectionDetector {
    /// A detector for the given phrases (each non-empty after trimming; matched lower-cased).
    pub fn new<I, S>(phrases: I) -> Result<Self, RewardError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Vec::new();
        for phrase in phrases {
            let phrase = phrase.as_ref().trim().to_lowercase();
            if phrase.is_empty() {
                return Err(RewardError::invalid_config(
                    "phrases",
                    "",
                    "reflection phrases must not be empty",
                ));
            }
            list.push(phrase);
        }
        Ok(Self { phrases: list })
    }

    /// The phrases looked for.
    pub fn phrases(&self) -> &[String] {
        &self.phrases
    }

    /// Number of phrase occurrences in `text` that start and end at word boundaries.
    /// Linear in `text.len()` times the number of phrases.
    pub fn count(&self, text: &str) -> usize {
        let lowered = text.to_lowercase();
        let bytes = lowered.as_bytes();
        let is_word = |i: usize| bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric());
        self.phrases
            .iter()
            .map(|phrase| {
                memchr::memmem::find_iter(bytes, phrase.as_bytes())
                    .filter(|&at| {
                        let starts_word = at == 0 || !is_word(at - 1);
                        starts_word && !is_word(at + phrase.len())
                    })
                    .count()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxed_format() {
        assert!(boxed_format_ok("<think>x</think> so \\boxed{B}."));
        assert!(boxed_format_ok(
            " < THINK >x</ think >\\boxed{\\frac{1}{2}}"
        ));
        assert!(!boxed_format_ok("<think>x</think> B"));
        assert!(!boxed_format_ok("\\boxed{B}<think>x</think>"));
        assert!(!boxed_format_ok("<think>x \\boxed{B}"));
    }

    #[test]
    fn overlong_ramp() -> Result<(), RewardError> {
        let penalty = OverlongPenalty::new(100, 20)?;
        assert_eq!(penalty.penalty(80), 0.0);
        assert!((penalty.penalty(90) + 0.5).abs() < 1e-6);
        assert_eq!(penalty.penalty(100), -1.0);
        assert_eq!(penalty.penalty(1000), -1.0);
        assert!(OverlongPenalty::new(10, 20).is_err());
        Ok(())
    }

    #[test]
    fn reflection_counts_whole_phrases() -> Result<(), RewardError> {
        let detector = ReflectionDetector::default();
        assert_eq!(
            detector.count("Wait, let me re-check. On second look it is B. Awaiting"),
            3
        );
        let custom = ReflectionDetector::new(["hmm"])?;
        assert_eq!(custom.count("Hmm... hmm"), 2);
        assert!(ReflectionDetector::new([" "]).is_err());
        Ok(())
    }
}
