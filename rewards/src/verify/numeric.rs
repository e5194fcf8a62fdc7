//! Numeric answers: the first number in the text with an optional unit, compared with a tight
//! tolerance after converting units of the same dimension.

use super::units::{convert, unit_prefix, Unit};
use super::{Extracted, Judgement};
use crate::reference::Reference;

/// Relative tolerance for numeric equality.
pub const NUMERIC_RELATIVE_TOLERANCE: f64 = 1e-6;
/// Absolute tolerance for numeric equality (matters near zero).
pub const NUMERIC_ABSOLUTE_TOLERANCE: f64 = 1e-9;

/// The first number in `text` (optional sign, digits, optional decimals), if finite.
///
/// A sign counts only when it does not follow a letter or digit, so "T-2" reads as 2
/// rather than -2; ".5" reads as 0.5.
pub(crate) fn first_number(text: &str) -> Option<f64> {
    first_number_at(text).map(|(value, _)| value)
}

/// The first number in `text` and the byte index just after it.
pub(crate) fn first_number_at(text: &str) -> Option<(f64, usize)> {
    let bytes = text.as_bytes();
    let is_digit_at = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let starts_unsigned = |i: usize| is_digit_at(i) || (bytes[i] == b'.' && is_digit_at(i + 1));
    let start = (0..bytes.len()).find(|&i| starts_unsigned(i))?;
    let signed_start = match start.checked_sub(1) {
        Some(sign) if matches!(bytes[sign], b'-' | b'+') => {
            let glued_to_word = sign
                .checked_sub(1)
                .is_some_and(|before| bytes[before].is_ascii_alphanumeric());
            if glued_to_word {
                start
            } else {
                sign
            }
        }
        _ => start,
    };
    let mut end = start;
    while is_digit_at(end) {
        end += 1;
    }
    if bytes.get(end) == Some(&b'.') && is_digit_at(end + 1) {
        end += 1;
        while is_digit_at(end) {
            end += 1;
        }
    }
    // Every index used is at an ASCII byte, so the slice is on char boundaries.
    let value: f64 = text.get(signed_start..end)?.parse().ok()?;
    value.is_finite().then_some((value, end))
}

/// The first number in `text` and the unit written right after it, if any.
pub(crate) fn first_quantity(text: &str) -> Option<(f64, Option<Unit>)> {
    let (value, end) = first_number_at(text)?;
    Some((value, text.get(end..).and_then(unit_prefix)))
}

/// Equality with relative tolerance 1e-6 and absolute tolerance 1e-9.
pub(crate) fn numbers_match(expected: f64, actual: f64) -> bool {
    let scale = expected.abs().max(actual.abs());
    (expected - actual).abs() <= NUMERIC_ABSOLUTE_TOLERANCE.max(NUMERIC_RELATIVE_TOLERANCE * scale)
}

/// Verifies a numeric answer; no number means unparseable.
///
/// When both sides carry units of one dimension the answer is converted to the reference's
/// unit (0.5 g = 500 mg); units of different dimensions are incorrect; a missing unit on
/// either side compares the bare numbers.
pub(crate) fn verify_numeric<'a>(reference: &Reference, answer: &'a str) -> Judgement<'a> {
    let Some((actual, actual_unit)) = first_quantity(answer) else {
        return Judgement::unparseable();
    };
    let extracted = Extracted::Number(actual, actual_unit.map(|unit| unit.symbol));
    let Some((expected, expected_unit)) = reference.prepared().quantity else {
        return Judgement::judged(extracted, false);
    };
    let comparable = match (actual_unit, expected_unit) {
        (Some(from), Some(target)) => convert(actual, from, target),
        _ => Some(actual),
    };
    let correct = comparable.is_some_and(|value| numbers_match(expected, value));
    Judgement::judged(extracted, correct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_signs_decimals_and_skips_words() {
        assert_eq!(first_number("about 12.5 mm"), Some(12.5));
        assert_eq!(first_number("-3"), Some(-3.0));
        assert_eq!(first_number("(+4.25)"), Some(4.25));
        assert_eq!(first_number(".5 cm"), Some(0.5));
        assert_eq!(first_number("T-2 weighted"), Some(2.0));
        assert_eq!(first_number("7. Next"), Some(7.0));
        assert_eq!(first_number("none"), None);
        assert_eq!(first_number("-"), None);
    }

    #[test]
    fn reads_units_after_numbers() {
        let unit_of = |text| {
            first_quantity(text)
                .and_then(|(_, unit)| unit)
                .map(|u| u.symbol)
        };
        assert_eq!(unit_of("take 5 mg daily"), Some("mg"));
        assert_eq!(unit_of("120mmHg"), Some("mmHg"));
        assert_eq!(unit_of("3 lesions"), None);
    }

    #[test]
    fn tolerance_is_relative_and_absolute() {
        assert!(numbers_match(1_000_000.0, 1_000_000.5));
        assert!(!numbers_match(1_000_000.0, 1_000_002.0));
        assert!(numbers_match(0.0, 1e-10));
        assert!(!numbers_match(0.0, 1e-8));
    }
}
