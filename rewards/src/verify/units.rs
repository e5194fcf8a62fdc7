//! Measurement units that numeric answers may carry, with conversion within a dimension.

/// What a unit measures; values convert only within one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dimension {
    /// Mass (base: milligram).
    Mass,
    /// Volume (base: millilitre).
    Volume,
    /// Length (base: millimetre).
    Length,
    /// Percentage points.
    Percent,
    /// Pressure in millimetres of mercury.
    Pressure,
}

/// A known unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Unit {
    /// Canonical spelling.
    pub(crate) symbol: &'static str,
    /// What it measures.
    pub(crate) dimension: Dimension,
    /// Size in the dimension's base unit.
    pub(crate) scale: f64,
}

/// Spellings (matched case-insensitively, longest first) and the unit they name.
const SPELLINGS: [(&str, Unit); 16] = [
    ("mmhg", unit("mmHg", Dimension::Pressure, 1.0)),
    ("mcg", unit("mcg", Dimension::Mass, 0.001)),
    ("\u{b5}g", unit("mcg", Dimension::Mass, 0.001)),
    ("\u{3bc}g", unit("mcg", Dimension::Mass, 0.001)),
    ("ug", unit("mcg", Dimension::Mass, 0.001)),
    ("mg", unit("mg", Dimension::Mass, 1.0)),
    ("kg", unit("kg", Dimension::Mass, 1_000_000.0)),
    ("g", unit("g", Dimension::Mass, 1000.0)),
    ("ml", unit("mL", Dimension::Volume, 1.0)),
    ("cc", unit("mL", Dimension::Volume, 1.0)),
    ("dl", unit("dL", Dimension::Volume, 100.0)),
    ("l", unit("L", Dimension::Volume, 1000.0)),
    ("mm", unit("mm", Dimension::Length, 1.0)),
    ("cm", unit("cm", Dimension::Length, 10.0)),
    ("m", unit("m", Dimension::Length, 1000.0)),
    ("%", unit("%", Dimension::Percent, 1.0)),
];

/// Const constructor for the table.
const fn unit(symbol: &'static str, dimension: Dimension, scale: f64) -> Unit {
    Unit {
        symbol,
        dimension,
        scale,
    }
}

/// Reads a unit at the start of `text` (after optional spaces); the unit must not run on into
/// more letters ("mg" in "mgs" is not read, "g" in "grams" is not read).
pub(crate) fn unit_prefix(text: &str) -> Option<Unit> {
    let text = text.trim_start_matches([' ', '\t']);
    // Every spelling starts with a lower-case ASCII letter, `%` or a non-ASCII byte, so one whose
    // first byte differs from the text's lower-cased first byte cannot match.
    let first = text.as_bytes().first()?.to_ascii_lowercase();
    SPELLINGS
        .iter()
        .filter(|(spelling, _)| spelling.as_bytes().first() == Some(&first))
        .find_map(|(spelling, unit)| {
            let head = text.get(..spelling.len())?;
            if !head.eq_ignore_ascii_case(spelling) {
                return None;
            }
            let runs_on = text[spelling.len()..].starts_with(|c: char| c.is_alphanumeric());
            (!runs_on).then_some(*unit)
        })
}

/// `value` of `unit` expressed in `target` (same dimension only).
pub(crate) fn convert(value: f64, from: Unit, target: Unit) -> Option<f64> {
    (from.dimension == target.dimension).then(|| value * from.scale / target.scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_units_without_running_into_words() {
        assert_eq!(unit_prefix(" mg/day").map(|u| u.symbol), Some("mg"));
        assert_eq!(unit_prefix("ML").map(|u| u.symbol), Some("mL"));
        assert_eq!(unit_prefix("\u{b5}g").map(|u| u.symbol), Some("mcg"));
        assert_eq!(unit_prefix("mmHg").map(|u| u.symbol), Some("mmHg"));
        assert_eq!(unit_prefix("grams"), None);
        assert_eq!(unit_prefix("lesions"), None);
    }

    /// The first reading: every spelling tried in order.
    fn unit_prefix_by_trying_all(text: &str) -> Option<Unit> {
        let text = text.trim_start_matches([' ', '\t']);
        SPELLINGS.iter().find_map(|(spelling, unit)| {
            let head = text.get(..spelling.len())?;
            let runs_on = text[spelling.len()..].starts_with(|c: char| c.is_alphanumeric());
            (head.eq_ignore_ascii_case(spelling) && !runs_on).then_some(*unit)
        })
    }

    proptest::proptest! {
        #[test]
        fn first_byte_filter_reads_like_trying_every_spelling(
            text in "[ \t]{0,2}(MMHG|mmHg|mcg|\u{b5}g|\u{3bc}g|Ug|mg|KG|g|mL|cc|dl|L|mm|cm|M|%|\u{b5}|x|)[a-z0-9 /.\u{e9}]{0,3}"
        ) {
            proptest::prop_assert_eq!(unit_prefix(&text), unit_prefix_by_trying_all(&text));
        }
    }

    #[test]
    fn converts_within_a_dimension_only() {
        let (Some(g), Some(mg), Some(ml)) =
            (unit_prefix("g"), unit_prefix("mg"), unit_prefix("ml"))
        else {
            panic!("units missing");
        };
        assert_eq!(convert(0.5, g, mg), Some(500.0));
        assert_eq!(convert(1.0, g, ml), None);
    }
}
