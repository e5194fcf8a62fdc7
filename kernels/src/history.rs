//! Token histories for the penalties: per-row occurrence counts.

use crate::error::KernelError;

/// Occurrences of each distinct token of one row's history, sorted by token id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// (token id, occurrences) pairs, strictly increasing in token id.
    pub pairs: Vec<(u32, u32)>,
}

impl TokenCounts {
    /// Counts a history; a token id outside the vocabulary is an error naming row and position.
    pub fn from_history(
        history: &[u32],
        vocab_size: usize,
        row: usize,
    ) -> Result<Self, KernelError> {
        if let Some((position, &token)) = history
            .iter()
            .enumerate()
            .find(|(_, &token)| token as usize >= vocab_size)
        {
            return Err(KernelError::HistoryTokenOutOfRange {
                row,
                position,
                token,
                vocab_size,
            });
        }
        let mut sorted = history.to_vec();
        sorted.sort_unstable();
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for token in sorted {
            match pairs.last_mut() {
                Some((last, count)) if *last == token => *count = count.saturating_add(1),
                _ => pairs.push((token, 1)),
            }
        }
        Ok(Self { pairs })
    }

    /// Occurrences of `token` (0 when absent).
    pub fn count(&self, token: u32) -> u32 {
        self.pairs
            .binary_search_by_key(&token, |&(id, _)| id)
            .map(|position| self.pairs[position].1)
            .unwrap_or(0)
    }

    /// Whether the history is empty.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Checks that `histories` is empty (no history for any row) or holds one entry per row.
pub fn check_histories(histories: &[&[u32]], rows: usize) -> Result<(), KernelError> {
    if histories.is_empty() || histories.len() == rows {
        Ok(())
    } else {
        Err(KernelError::HistoryCountMismatch {
            rows,
            histories: histories.len(),
        })
    }
}

/// The history of `row` (empty when no histories were given).
pub fn row_history<'a>(histories: &[&'a [u32]], row: usize) -> &'a [u32] {
    histories.get(row).copied().unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_sorted_and_deduplicated() {
        let counts = TokenCounts::from_history(&[5, 2, 5, 9, 5], 10, 0).expect("valid");
        assert_eq!(counts.pairs, vec![(2, 1), (5, 3), (9, 1)]);
        assert_eq!(counts.count(5), 3);
        assert_eq!(counts.count(3), 0);
        assert!(TokenCounts::from_history(&[], 10, 0)
            .expect("valid")
            .is_empty());
    }

    #[test]
    fn out_of_range_token_names_row_and_position() {
        let error = TokenCounts::from_history(&[1, 10], 10, 4).expect_err("out of range");
        assert_eq!(
            error,
            KernelError::HistoryTokenOutOfRange {
                row: 4,
                position: 1,
                token: 10,
                vocab_size: 10
            }
        );
    }
}
