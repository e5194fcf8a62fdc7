//! The first, straightforward implementations of the scoring hot path, kept so that property
//! tests can check that the byte-level fast paths give exactly the same results.

mod choice;
mod extract;
mod parse;
mod text;

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::normalize::{ascii_normalized, normalized_eq, trim_edge_punctuation};
use crate::reference::Reference;
use crate::verify::choice::{read_choice, verify_choice};
use crate::verify::option_index::OptionIndex;
use crate::verify::text::{token_overlap, PreparedTokens, TokenOverlap};

/// Pieces that stress the fast paths: tags, option letters in their spellings, list words,
/// articles, mixed case, letters inside words, ASCII and Unicode whitespace and punctuation.
fn piece() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "<think>",
        "</think>",
        "<answer>",
        "</answer>",
        "<THINK>",
        "</Answer>",
        "< answer >",
        "</ think>",
        "<answer",
        "</answer",
        "</think",
        "<think",
        "</",
        "<",
        ">",
        " >",
        "<thinker>",
        "<b>",
        " ",
        "  ",
        "\n",
        "\t",
        "\u{b}",
        "\u{c}",
        "\r",
        "\u{a0}",
        "\u{3000}",
        "\u{2028}",
        "A",
        "B",
        "b",
        "C",
        "d",
        "I",
        "(B)",
        "(c)",
        "B.",
        "b)",
        "C:",
        "D-",
        "BB",
        "or",
        "and",
        "Or",
        "option",
        "Option ",
        "options",
        "the",
        "The",
        "THE",
        "a",
        "An",
        "an",
        "Bone",
        "bone",
        "BONE",
        "Liver",
        "lung.",
        "Lung",
        "Brain",
        "brain",
        "e.g.",
        "\\boxed{",
        "}",
        "{",
        "The answer is ",
        "Answer:",
        "**Answer**:",
        ",",
        ";",
        "/",
        "&",
        "+",
        "|",
        ".",
        "...",
        "!",
        "?",
        "'",
        "\"",
        "`",
        "[",
        "]",
        "*",
        "_",
        "(",
        ")",
        ":",
        "-",
        "%",
        "\u{2019}",
        "\u{201C}",
        "\u{2026}",
        "\u{3002}",
        "\u{ff0c}",
        "\u{ff08}",
        "é",
        "É",
        "ß",
        "Σ",
        "ΣΑΣ",
        "İ",
        // The Kelvin sign lower-cases to ASCII "k", so a non-ASCII option can equal an ASCII
        // answer.
        "\u{212a}",
        "k",
        "K",
        "ǅ",
        "中",
        "😀",
        "pleural",
        "Pleural",
        "effusion",
        "EFFUSION",
        "effusions",
        "pneumothorax",
        "PNEUMOTHORAX",
        "Pneumothoraces",
        "pneumothorix",
        "12345678",
        "123456789",
        "left",
        "3",
        "5mg",
        "x1",
        "the Bone",
        "The liver",
        "a b",
        "(bone)",
        "an  Lung",
    ]);
    prop_oneof![
        8 => fixed.prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
        1 => "[a-dA-D .()]{0,3}",
    ]
}

/// Concatenated pieces.
fn soup(max_pieces: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..max_pieces).prop_map(|parts| parts.concat())
}

/// Responses in the usual shape, with pieces of soup inside and blank text of any kind or a
/// few words around the blocks, sometimes without the think block or the closing answer tag,
/// so that the in-order fast path and its near misses are both exercised.
fn wrapped() -> impl Strategy<Value = String> {
    let around = prop::sample::select(vec![
        "", " ", "\n", "\t\r\n", "\u{b}", "\u{a0}", "\u{3000}", "x", " So: ", "a < b",
    ]);
    (
        around.clone(),
        prop::option::weighted(0.8, soup(6)),
        around.clone(),
        soup(4),
        prop::bool::weighted(0.8),
        prop_oneof![
            around.prop_map(str::to_owned),
            soup(3),
            // Repeated answer blocks.
            prop::sample::select(vec!["<answer>B</answer>", " <answer> </answer>x<answer>"])
                .prop_map(str::to_owned),
        ],
    )
        .prop_map(|(before, think, between, answer, closed, after)| {
            let think = think.map_or_else(String::new, |think| format!("<think>{think}</think>"));
            let close = if closed { "</answer>" } else { "" };
            format!("{before}{think}{between}<answer>{answer}{close}{after}")
        })
}

/// Predictions of many short words, or of reference words after padding, so that the prepared
/// overlap meets texts on both sides of 64 bytes and more distinct other tokens than it keeps.
fn long_prediction() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        4 => "[a-z]{1,3}",
        1 => prop::sample::select(vec!["pleural", "Effusion", "EFFUSION", "effusions", "7"])
            .prop_map(str::to_owned),
    ];
    prop_oneof![
        prop::collection::vec(word, 0..28).prop_map(|words| words.join(" ")),
        "[ab0 .]{56,70}",
        (
            0usize..72,
            prop::sample::select(vec!["effusion", "Pleural", "pleural effusion", "x"])
        )
            .prop_map(|(pad, word)| format!("{}{word}", " ".repeat(pad))),
    ]
}

/// An overlap's precision, recall and F1 as bits, so that results compare exactly.
fn overlap_bits(overlap: TokenOverlap) -> [u32; 3] {
    [overlap.precision, overlap.recall, overlap.f1].map(f32::to_bits)
}

/// [`overlap_bits`] of the prepared overlap of `prediction` against `reference`.
fn prepared_overlap_bits(prediction: &str, reference: &str) -> [u32; 3] {
    overlap_bits(PreparedTokens::new(reference).overlap(reference, prediction))
}

/// Adversarial text or an arbitrary string.
fn text(max_pieces: usize) -> impl Strategy<Value = String> {
    prop_oneof![4 => soup(max_pieces), 1 => any::<String>()]
}

/// Option texts for letters A.., made non-empty and trimmed like the constructor does.
fn options() -> impl Strategy<Value = BTreeMap<String, String>> {
    // Keys are usually A, B, C…; gapped keys are tried too (the constructors accept only
    // single letters A..J, so no other key reaches the verifier).
    let key = prop_oneof![
        6 => Just(None),
        1 => prop::sample::select(vec!["C", "E", "G", "J"]).prop_map(Some),
    ];
    prop::collection::vec((soup(4), key), 1..6).prop_map(|entries| {
        entries
            .into_iter()
            .zip('A'..='J')
            .map(|((text, key), letter)| {
                let text = text.trim();
                let text = if text.is_empty() { "Bone" } else { text };
                let key = key.map_or_else(|| letter.to_string(), str::to_owned);
                (key, text.to_owned())
            })
            .collect()
    })
}

/// Options and an answer derived from one option's text (re-cased, with an article, edge
/// punctuation or a letter in front), so that text matches are common.
fn options_and_derived_answer() -> impl Strategy<Value = (BTreeMap<String, String>, String)> {
    let decorations = prop::sample::select(vec![
        ("", ""),
        ("the ", ""),
        ("The ", "."),
        ("a ", "!"),
        ("An\t", ""),
        ("(", ")"),
        ("B. ", ""),
        ("(c) ", ""),
        ("option ", ""),
        ("  ", " \u{a0}"),
        ("\"", "\""),
        ("the ( ", ""),
        ("\u{3000}", "\u{3002}"),
        ("THE  ", " ..."),
    ]);
    (
        options(),
        any::<prop::sample::Index>(),
        decorations,
        any::<bool>(),
    )
        .prop_map(|(options, index, (before, after), upper)| {
            let texts: Vec<&String> = options.values().collect();
            let text = texts[index.index(texts.len())];
            let text = if upper {
                text.to_uppercase()
            } else {
                text.to_lowercase()
            };
            let answer = format!("{before}{text}{after}");
            (options, answer)
        })
}

/// The usual four options of the benchmark corpus.
fn four_options() -> BTreeMap<String, String> {
    [("A", "Liver"), ("B", "Bone"), ("C", "Lung"), ("D", "Brain")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn parse_view_matches_the_first_parser(text in prop_oneof![text(24), wrapped()]) {
        prop_assert_eq!(crate::parse::parse_view(&text), parse::parse_view(&text));
    }

    #[test]
    fn normalisation_helpers_match_the_first_versions(a in text(8), b in text(8)) {
        prop_assert_eq!(trim_edge_punctuation(&a), choice::trim_edge_punctuation(&a));
        let mut new_buffer = [0u8; choice::ASCII_NORMALIZED_CAPACITY];
        let mut old_buffer = [0u8; choice::ASCII_NORMALIZED_CAPACITY];
        prop_assert_eq!(
            ascii_normalized(&a, &mut new_buffer),
            choice::ascii_normalized(&a, &mut old_buffer)
        );
        prop_assert_eq!(normalized_eq(&a, &b), choice::normalized_eq(&a, &b));
        prop_assert_eq!(normalized_eq(&a, &a.to_uppercase()), choice::normalized_eq(&a, &a.to_uppercase()));
    }

    #[test]
    fn choice_reading_matches_the_first_reader(answer in text(10), options in options()) {
        prop_assert_eq!(read_choice(&answer, &OptionIndex::new(&options)), choice::read_choice(&answer, &options));
        let usual = four_options();
        prop_assert_eq!(read_choice(&answer, &OptionIndex::new(&usual)), choice::read_choice(&answer, &usual));
    }

    #[test]
    fn choice_reading_of_option_texts_matches_the_first_reader(
        (options, answer) in options_and_derived_answer()
    ) {
        prop_assert_eq!(read_choice(&answer, &OptionIndex::new(&options)), choice::read_choice(&answer, &options));
        prop_assert_eq!(normalized_eq(&answer, &answer.to_uppercase()), choice::normalized_eq(&answer, &answer.to_uppercase()));
        for text in options.values() {
            prop_assert_eq!(normalized_eq(&answer, text), choice::normalized_eq(&answer, text));
        }
    }

    #[test]
    fn choice_verdicts_match_the_first_verifier(answer in text(10), options in options(), pick in 0usize..6) {
        let letters: Vec<String> = options.keys().cloned().collect();
        let letter = &letters[pick % letters.len()];
        if let Ok(reference) = Reference::multiple_choice(letter, options) {
            prop_assert_eq!(
                verify_choice(&reference, &answer),
                choice::verify_choice(&reference, &answer)
            );
        }
    }

    #[test]
    fn answer_phrase_matches_the_first_search(text in text(40)) {
        prop_assert_eq!(crate::extract::answer_phrase(&text), extract::answer_phrase(&text));
    }

    #[test]
    fn token_overlap_matches_the_first_version(a in text(12), b in text(6)) {
        prop_assert_eq!(overlap_bits(token_overlap(&a, &b)), overlap_bits(text::token_overlap(&a, &b)));
    }

    #[test]
    fn open_verification_matches_the_first_version(answer in text(8), reference in text(4)) {
        if let Ok(reference) = Reference::new(&reference, crate::AnswerType::Open) {
            let new = crate::verify::judge_answer(&reference, &answer);
            let old = text::verify_open(&reference, &answer);
            prop_assert_eq!(new.verdict, old.verdict);
            prop_assert_eq!(new.score.to_bits(), old.score.to_bits());
            prop_assert_eq!(new.extracted, old.extracted);
        }
    }

    #[test]
    fn prepared_overlap_of_long_predictions_matches_the_first_version(
        a in long_prediction(),
        b in prop_oneof![Just("pleural effusion".to_owned()), text(4)],
    ) {
        prop_assert_eq!(prepared_overlap_bits(&a, &b), overlap_bits(text::token_overlap(&a, &b)));
    }

    #[test]
    fn prepared_overlap_matches_the_first_version(a in text(12), b in text(6)) {
        prop_assert_eq!(prepared_overlap_bits(&a, &b), overlap_bits(text::token_overlap(&a, &b)));
    }
}

#[test]
fn long_inputs_match_the_first_versions() {
    let words = "Bone the B. (C) pleural EFFUSION Σ é and ".repeat(40);
    let tagged = format!("<think>{words}</think>\n<answer>{words}</answer> {words}");
    assert_eq!(
        crate::parse::parse_view(&tagged),
        parse::parse_view(&tagged)
    );
    for text in [
        &words,
        &tagged,
        "Answer: C. Final answer: D",
        "answer is B\nthe answer: C",
    ] {
        assert_eq!(
            crate::extract::answer_phrase(text),
            extract::answer_phrase(text)
        );
    }
    let overlap = token_overlap(&words, "pleural effusion bone");
    let first = text::token_overlap(&words, "pleural effusion bone");
    assert_eq!(overlap, first);
    // ASCII only, past both stack buffers (8 and 32 tokens): the hashed path of the ASCII side.
    let ascii: String = (0..40)
        .map(|i| format!("Word{} PNEUMOTHORAX{i} ", i % 9))
        .collect();
    for reference in [
        "word3 pneumothorax7 WORD8",
        "pleural effusion",
        &ascii[..60],
    ] {
        assert_eq!(
            token_overlap(&ascii, reference),
            text::token_overlap(&ascii, reference)
        );
        assert_eq!(
            token_overlap(reference, &ascii),
            text::token_overlap(reference, &ascii)
        );
        for (prediction, against) in [(&ascii[..], reference), (reference, &ascii[..])] {
            assert_eq!(
                PreparedTokens::new(against).overlap(against, prediction),
                text::token_overlap(prediction, against)
            );
        }
    }
    let options = four_options();
    assert_eq!(
        read_choice(&words, &OptionIndex::new(&options)),
        choice::read_choice(&words, &options)
    );
    assert_eq!(
        normalized_eq(&words, &words.to_lowercase()),
        choice::normalized_eq(&words, &words.to_lowercase())
    );
}
