//! Every scoring entry point on arbitrary text: nothing may panic, and the results must be
//! self-consistent.

#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use medgym_rewards::{
    extract_answer, medevalkit, parse_response, parse_view, score_item, AnswerType,
    ComponentRegistry, Reference, Rubric, ScoringMode,
};

const RUBRIC: &str = r#"
[[component]]
name = "accuracy"
weight = 1.0
[[component]]
name = "accuracy_extracted"
weight = 0.5
[[component]]
name = "format"
weight = 0.2
[[component]]
name = "boxed_format"
weight = 0.1
[[component]]
name = "partial_credit"
weight = 0.3
[[component]]
name = "overlong"
weight = 1.0
max_length = 512
cache_length = 128
[[component]]
name = "reflection"
weight = 0.1
"#;

fn references() -> Vec<Reference> {
    let options: BTreeMap<String, String> = [
        ("A", "Diffuse uptake pattern"),
        ("B", "Focal uptake pattern"),
        ("C", "No uptake"),
        ("D", "Ring-like uptake"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut references = vec![Reference::multiple_choice("B", options).expect("valid")];
    for (answer, answer_type) in [
        ("yes", AnswerType::YesNo),
        ("no", AnswerType::YesNo),
        ("left", AnswerType::Closed),
        ("pleural effusion", AnswerType::Open),
        ("5 mg", AnswerType::Numeric),
        ("3", AnswerType::Count),
    ] {
        references.push(Reference::new(answer, answer_type).expect("valid"));
    }
    references
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    static FIXTURES: OnceLock<(Rubric, Vec<Reference>)> = OnceLock::new();
    let (rubric, references) = FIXTURES.get_or_init(|| {
        let rubric = ComponentRegistry::standard()
            .rubric_from_toml(RUBRIC)
            .expect("valid rubric");
        (rubric, references())
    });
    let (low, high) = rubric.reward_range();
    let parsed = parse_response(&text);
    assert_eq!(parsed.format_ok, parsed.problems.is_empty());
    assert_eq!(parse_view(&text).format_ok(), parsed.format_ok);
    let _ = extract_answer(&text);
    let _ = medevalkit::parse_response(&text);
    for reference in references {
        let breakdown = rubric.score(&text, reference);
        assert!(breakdown.total >= low - 1e-4 && breakdown.total <= high + 1e-4);
        for mode in ScoringMode::ALL {
            let item = score_item(mode, &text, reference);
            assert!((0.0..=1.0).contains(&item.score));
            assert!(!item.correct || item.score == 1.0);
        }
    }
});
