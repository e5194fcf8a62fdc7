//! Closed-set medical labels compared through synonym tables (laterality, imaging modality,
//! plane, common organs), extendable by the user.

use std::collections::HashMap;
use std::sync::LazyLock;

use foldhash::fast::FixedState;

use serde::{Deserialize, Serialize};

use super::{Extracted, Judgement};
use crate::error::RewardError;
use crate::normalize::{
    ascii_normalized, normalize_text, normalized_words, ASCII_NORMALIZED_CAPACITY,
};
use crate::reference::Reference;

/// Built-in synonym groups: canonical label first, then its synonyms.
const STANDARD_GROUPS: &[&[&str]] = &[
    // Laterality.
    &["left", "lt", "left side", "left-sided", "sinistral"],
    &["right", "rt", "right side", "right-sided", "dextral"],
    &[
        "bilateral",
        "both",
        "both sides",
        "both left and right",
        "left and right",
    ],
    // Imaging modality.
    &[
        "ct",
        "computed tomography",
        "ct scan",
        "cat scan",
        "computerized tomography",
    ],
    &[
        "mri",
        "mr",
        "magnetic resonance imaging",
        "magnetic resonance",
        "mr imaging",
    ],
    &[
        "x-ray",
        "xray",
        "x ray",
        "radiograph",
        "radiography",
        "plain film",
        "plain radiograph",
    ],
    &[
        "ultrasound",
        "us",
        "sonography",
        "ultrasonography",
        "sonogram",
        "echography",
    ],
    &["pet", "positron emission tomography", "pet scan"],
    &["mammography", "mammogram"],
    // Imaging plane.
    &[
        "axial",
        "transverse",
        "transaxial",
        "axial plane",
        "transverse plane",
    ],
    &["coronal", "frontal plane", "coronal plane"],
    &["sagittal", "sagittal plane", "lateral plane"],
    // Common organs.
    &["lung", "lungs", "pulmonary"],
    &["liver", "hepatic"],
    &["heart", "cardiac"],
    &["kidney", "kidneys", "renal"],
    &["brain", "cerebral", "cerebrum"],
    &["spleen", "splenic"],
    &["pancreas", "pancreatic"],
    &["stomach", "gastric"],
    &["colon", "large intestine", "large bowel"],
    &["small intestine", "small bowel"],
    &["bladder", "urinary bladder"],
    &["gallbladder", "gall bladder"],
];

/// A table mapping normalised labels to their canonical label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynonymTable {
    /// Normalised label → canonical label, hashed with foldhash's fixed-seed hash (lookups of
    /// short labels dominate scoring). The fixed seed keeps the serialised order the same from
    /// run to run of one build; foldhash does not promise it across versions or platforms.
    canonical: HashMap<String, String, FixedState>,
}

impl SynonymTable {
    /// An empty table (labels only match themselves).
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in groups: laterality, imaging modality, plane and common organs.
    pub fn standard() -> Self {
        let mut table = Self::new();
        for group in STANDARD_GROUPS {
            table.insert_group(group[0], &group[1..]);
        }
        table
    }

    /// Adds (or extends) a group; later entries override earlier ones for the same synonym.
    fn insert_group(&mut self, canonical: &str, synonyms: &[&str]) {
        let canonical = normalize_text(canonical);
        for synonym in synonyms {
            self.canonical
                .insert(normalize_text(synonym), canonical.clone());
        }
        self.canonical.insert(canonical.clone(), canonical);
    }

    /// Adds a group of synonyms for `canonical`; rejects labels that are empty after
    /// normalisation.
    pub fn with_group(mut self, canonical: &str, synonyms: &[&str]) -> Result<Self, RewardError> {
        for label in std::iter::once(&canonical).chain(synonyms) {
            if normalize_text(label).is_empty() {
                return Err(RewardError::invalid_config(
                    "synonyms",
                    label,
                    "a synonym label is empty after normalisation",
                ));
            }
        }
        self.insert_group(canonical, synonyms);
        Ok(self)
    }

    /// The canonical label of `label` (its normalised form when it is in no group).
    pub fn canonical(&self, label: &str) -> String {
        let normalized = normalize_text(label);
        match self.canonical.get(&normalized) {
            Some(canonical) => canonical.clone(),
            None => normalized,
        }
    }

    /// True when both labels have the same canonical label.
    pub fn same_label(&self, a: &str, b: &str) -> bool {
        let mut buffer = [0u8; ASCII_NORMALIZED_CAPACITY];
        match ascii_normalized(b, &mut buffer).and_then(|b| std::str::from_utf8(b).ok()) {
            Some(normalized) => self.same_label_as_normalized(a, normalized),
            None => self.same_label_as_normalized(a, &normalize_text(b)),
        }
    }

    /// True when `label` has the canonical label of `normalized`, a label already normalised.
    pub(crate) fn same_label_as_normalized(&self, label: &str, normalized: &str) -> bool {
        let mut buffer = [0u8; ASCII_NORMALIZED_CAPACITY];
        match ascii_normalized(label, &mut buffer).and_then(|b| std::str::from_utf8(b).ok()) {
            Some(own) => self.canonical_of(own) == self.canonical_of(normalized),
            None => self.canonical_of(&normalize_text(label)) == self.canonical_of(normalized),
        }
    }

    /// The canonical label of an already normalised label, borrowed.
    fn canonical_of<'s>(&'s self, normalized: &'s str) -> &'s str {
        self.canonical
            .get(normalized)
            .map_or(normalized, String::as_str)
    }

    /// Number of labels in the table.
    pub fn len(&self) -> usize {
        self.canonical.len()
    }

    /// True when the table has no labels.
    pub fn is_empty(&self) -> bool {
        self.canonical.is_empty()
    }
}

/// The built-in table, built once.
pub(crate) fn standard_synonyms() -> &'static SynonymTable {
    static STANDARD: LazyLock<SynonymTable> = LazyLock::new(SynonymTable::standard);
    &STANDARD
}

/// Verifies a closed-set label through `table`; nothing readable → unparseable.
pub(crate) fn verify_closed<'a>(
    reference: &Reference,
    answer: &'a str,
    table: &SynonymTable,
) -> Judgement<'a> {
    if normalized_words(answer).next().is_none() {
        return Judgement::unparseable();
    }
    Judgement::judged(
        Extracted::Text(answer),
        table.same_label_as_normalized(answer, &reference.prepared().normalized),
    )
}

/// Verifies a closed-set label with a user table (the public entry point).
pub fn verify_closed_with(
    reference: &Reference,
    answer: &str,
    table: &SynonymTable,
) -> super::Verification {
    verify_closed(reference, answer, table).to_verification()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_groups_map_synonyms_together() {
        let table = SynonymTable::standard();
        assert!(table.same_label("Computed Tomography", "CT"));
        assert!(table.same_label("Rt.", "right"));
        assert!(table.same_label("transverse", "Axial"));
        assert!(table.same_label("the lungs", "Lung"));
        assert!(!table.same_label("left", "right"));
        assert!(!table.same_label("MRI", "CT"));
    }

    proptest::proptest! {
        /// Comparing with a reference normalised beforehand gives what comparing both does.
        #[test]
        fn prepared_comparison_matches_same_label(
            a in "(?i)(the |a )?(left|lt\\.?|ct|computed  tomography|cat scan|lung|lungs|\u{e9}|x| )(  |\\.)?",
            b in "(?i)(the |a )?(left|lt\\.?|ct|computed  tomography|cat scan|lung|lungs|\u{e9}|x| )(  |\\.)?",
        ) {
            let table = SynonymTable::standard();
            proptest::prop_assert_eq!(
                table.same_label_as_normalized(&a, &normalize_text(&b)),
                table.same_label(&a, &b)
            );
            // Both agree with comparing the canonical labels, allocated the plain way.
            proptest::prop_assert_eq!(table.same_label(&a, &b), table.canonical(&a) == table.canonical(&b));
        }
    }

    #[test]
    fn user_groups_extend_the_table() -> Result<(), RewardError> {
        let table = SynonymTable::standard().with_group("t2-weighted", &["t2", "t2w"])?;
        assert!(table.same_label("T2W", "T2-weighted"));
        assert!(SynonymTable::new().with_group("x", &["  "]).is_err());
        Ok(())
    }
}
