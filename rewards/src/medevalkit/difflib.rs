//! `difflib.SequenceMatcher(None, a, b).ratio()` from the Python standard library, reproduced
//! exactly (over Unicode code points, with the default "autojunk" heuristic).

use std::collections::HashMap;

/// Python's `SequenceMatcher(None, a, b).ratio()`: `2 * matches / (len(a) + len(b))`, 1.0 when
/// both are empty.
pub(crate) fn ratio(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let total = a.len() + b.len();
    if total == 0 {
        return 1.0;
    }
    let matches = Matcher::new(&a, &b).matching_characters();
    2.0 * matches as f64 / total as f64
}

/// The state of one `SequenceMatcher`.
struct Matcher<'a> {
    a: &'a [char],
    b: &'a [char],
    /// Positions of each character of `b`, popular characters removed.
    b2j: HashMap<char, Vec<usize>>,
}

impl<'a> Matcher<'a> {
    /// `__chain_b` with `autojunk=True`: characters making up more than 1% of a `b` of at
    /// least 200 characters are "popular" and not indexed.
    fn new(a: &'a [char], b: &'a [char]) -> Self {
        let mut b2j: HashMap<char, Vec<usize>> = HashMap::new();
        for (j, &c) in b.iter().enumerate() {
            b2j.entry(c).or_default().push(j);
        }
        if b.len() >= 200 {
            let limit = b.len() / 100 + 1;
            b2j.retain(|_, positions| positions.len() <= limit);
        }
        Self { a, b, b2j }
    }

    /// `find_longest_match(alo, ahi, blo, bhi)` without junk (no `isjunk` function is given, so
    /// only the extension over popular characters applies).
    fn longest_match(
        &self,
        alo: usize,
        ahi: usize,
        blo: usize,
        bhi: usize,
    ) -> (usize, usize, usize) {
        let (mut best_i, mut best_j, mut best_size) = (alo, blo, 0usize);
        let mut j2len: HashMap<usize, usize> = HashMap::new();
        for i in alo..ahi {
            let mut next: HashMap<usize, usize> = HashMap::new();
            if let Some(positions) = self.b2j.get(&self.a[i]) {
                for &j in positions {
                    if j < blo {
                        continue;
                    }
                    if j >= bhi {
                        break;
                    }
                    let k = j
                        .checked_sub(1)
                        .and_then(|p| j2len.get(&p))
                        .copied()
                        .unwrap_or(0)
                        + 1;
                    next.insert(j, k);
                    if k > best_size {
                        best_i = i + 1 - k;
                        best_j = j + 1 - k;
                        best_size = k;
                    }
                }
            }
            j2len = next;
        }
        while best_i > alo && best_j > blo && self.a[best_i - 1] == self.b[best_j - 1] {
            best_i -= 1;
            best_j -= 1;
            best_size += 1;
        }
        while best_i + best_size < ahi
            && best_j + best_size < bhi
            && self.a[best_i + best_size] == self.b[best_j + best_size]
        {
            best_size += 1;
        }
        (best_i, best_j, best_size)
    }

    /// Sum of the sizes of `get_matching_blocks()`.
    fn matching_characters(&self) -> usize {
        let mut queue = vec![(0, self.a.len(), 0, self.b.len())];
        let mut total = 0;
        while let Some((alo, ahi, blo, bhi)) = queue.pop() {
            let (i, j, k) = self.longest_match(alo, ahi, blo, bhi);
            if k == 0 {
                continue;
            }
            total += k;
            if alo < i && blo < j {
                queue.push((alo, i, blo, j));
            }
            if i + k < ahi && j + k < bhi {
                queue.push((i + k, ahi, j + k, bhi));
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by CPython 3's `difflib.SequenceMatcher(None, a, b).ratio()`.
    #[test]
    fn agrees_with_cpython() {
        let cases: [(&str, &str, f64); 5] = [
            ("abcd", "bcde", 0.75),
            ("focal uptake pattern", "(b)", 0.0),
            ("", "", 1.0),
            (
                "private thread",
                "private volatile thread",
                0.7567567567567568,
            ),
            (
                "diffuse uptake",
                "focal uptake pattern",
                0.47058823529411764,
            ),
        ];
        for (a, b, expected) in cases {
            assert!(
                (ratio(a, b) - expected).abs() < 1e-12,
                "{a:?} {b:?} {}",
                ratio(a, b)
            );
        }
    }
}
