//! Shared fixtures for the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use medgym_rewards::{AnswerType, Reference};

/// Four-option multiple-choice reference with the given correct letter.
pub fn four_options(answer: &str) -> Reference {
    choice_reference(
        answer,
        &[("A", "Liver"), ("B", "Bone"), ("C", "Lung"), ("D", "Brain")],
    )
}

/// Multiple-choice reference from (letter, text) pairs; must be valid.
pub fn choice_reference(answer: &str, pairs: &[(&str, &str)]) -> Reference {
    let options: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match Reference::multiple_choice(answer, options) {
        Ok(reference) => reference,
        Err(err) => panic!("valid reference rejected: {err}"),
    }
}

/// A plain reference that must be valid.
pub fn plain(answer: &str, answer_type: AnswerType) -> Reference {
    match Reference::new(answer, answer_type) {
        Ok(reference) => reference,
        Err(err) => panic!("valid reference rejected: {err}"),
    }
}

/// Wraps an answer in a well-formed response.
pub fn respond(answer: &str) -> String {
    format!("<think>Looking at the scan.</think><answer>{answer}</answer>")
}
