//! The deterministic corpus the reward benchmarks score (`benches/rewards.rs` and
//! `medgym bench rewards`): 1,024 responses of about 340 bytes per answer type, half of them
//! malformed in some way, with right and wrong answers in common spellings; and the passes over
//! it that both benchmarks time side by side with a plain byte scan.

use std::collections::BTreeMap;
use std::hint::black_box;

use medgym_rewards::{judge_answer, parse_view, AnswerType, Reference};

use crate::Result;

/// Responses per corpus.
pub const CORPUS_SIZE: usize = 1024;
/// Seed of the corpus generator (mixed with the answer type).
const SEED: u64 = 0x5eed_2026;

/// SplitMix64: a tiny deterministic generator, so the corpus is the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// One of `items` (which must not be empty).
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let index = (self.next() % items.len().max(1) as u64) as usize;
        items.get(index).copied().unwrap_or_default()
    }
}

/// Sentences the thinking parts are made of.
const THOUGHTS: [&str; 8] = [
    "The scan shows a well-defined opacity in the lower zone. ",
    "Wait, let me re-check the margins of the lesion. ",
    "There is no midline shift and the ventricles look normal. ",
    "Comparing both sides, the density differs on one side. ",
    "The cortex appears intact without erosion. ",
    "Considering the options, the pattern fits best. ",
    "On second look the contour is smooth. ",
    "No calcification is seen in this region. ",
];

/// Wraps an answer into a response of about 340 bytes; one in two is malformed in some way
/// (no think block, a repeated answer, text between the blocks, an unclosed answer).
fn response(rng: &mut SplitMix, answer: &str) -> String {
    let mut think = String::new();
    while think.len() < 300 - answer.len().min(250) {
        think.push_str(rng.pick(&THOUGHTS));
    }
    match rng.next() % 8 {
        0..=3 => format!("<think>{think}</think>\n<answer>{answer}</answer>"),
        4 => format!("{think}\n<answer>{answer}</answer>"),
        5 => format!("<think>{think}</think><answer>{answer}</answer><answer>{answer}</answer>"),
        6 => format!("<think>{think}</think> So: <answer>{answer}</answer>"),
        _ => format!("<think>{think}</think>\n<answer>{answer}"),
    }
}

/// Responses and the answer texts inside them, for one reference.
pub struct RewardCorpus {
    /// The reference every response is scored against.
    pub reference: Reference,
    /// Whole responses.
    pub responses: Vec<String>,
    /// The answer inside each response, as written.
    pub answers: Vec<String>,
}

impl RewardCorpus {
    /// A corpus of answers drawn from `forms`.
    fn new(reference: Reference, forms: &[&str]) -> Self {
        let mut rng = SplitMix(SEED ^ reference.answer_type as u64);
        let answers: Vec<String> = (0..CORPUS_SIZE)
            .map(|_| rng.pick(forms).to_owned())
            .collect();
        let responses = answers.iter().map(|a| response(&mut rng, a)).collect();
        Self {
            reference,
            responses,
            answers,
        }
    }

    /// Total bytes of the responses.
    pub fn response_bytes(&self) -> usize {
        self.responses.iter().map(String::len).sum()
    }
}

/// The corpora, in this order: multiple choice (options Liver, Bone, Lung, Brain; answer B),
/// yes/no, closed, open, numeric and count.
pub fn reward_corpora() -> Result<Vec<RewardCorpus>> {
    let options: BTreeMap<String, String> =
        [("A", "Liver"), ("B", "Bone"), ("C", "Lung"), ("D", "Brain")]
            .into_iter()
            .map(|(key, text)| (key.to_owned(), text.to_owned()))
            .collect();
    Ok(vec![
        RewardCorpus::new(
            Reference::multiple_choice("B", options)?,
            &[
                "B",
                "(B)",
                "B. Bone",
                "C",
                "The answer is B.",
                "Lung",
                "b",
                "A or B",
            ],
        ),
        RewardCorpus::new(
            Reference::new("no", AnswerType::YesNo)?,
            &[
                "No",
                "Yes.",
                "no evidence of effusion",
                "Yes, there is a nodule.",
                "maybe",
            ],
        ),
        RewardCorpus::new(
            Reference::new("left", AnswerType::Closed)?,
            &["Left", "lt.", "right", "the left side", "Bilateral"],
        ),
        RewardCorpus::new(
            Reference::new("pleural effusion", AnswerType::Open)?,
            &[
                "Pleural effusion",
                "small left pleural effusion",
                "pneumothorax",
                "effusion.",
            ],
        ),
        RewardCorpus::new(
            Reference::new("5 mg", AnswerType::Numeric)?,
            &["5 mg", "5000 mcg", "0.5 g", "50 mg", "five"],
        ),
        RewardCorpus::new(
            Reference::new("3", AnswerType::Count)?,
            &["3", "three lesions", "4", "none", "2.5"],
        ),
    ])
}

/// One pass of a plain `memchr` scan for `<` over the responses: the count found.
pub fn memchr_scan(corpus: &RewardCorpus) -> u64 {
    corpus
        .responses
        .iter()
        .map(|r| memchr::memchr_iter(b'<', black_box(r.as_bytes())).count() as u64)
        .sum()
}

/// One pass of format checking and answer verification over the responses: format points plus
/// correct answers.
pub fn format_and_verdict(corpus: &RewardCorpus) -> u64 {
    corpus
        .responses
        .iter()
        .map(|r| {
            let view = parse_view(black_box(r));
            let correct = view
                .answer
                .is_some_and(|a| judge_answer(&corpus.reference, a).is_correct());
            u64::from(view.format_ok()) + u64::from(correct)
        })
        .sum()
}

/// One pass of answer extraction and token recall against the reference over the responses:
/// the recalls summed.
pub fn token_recall(corpus: &RewardCorpus) -> f32 {
    corpus
        .responses
        .iter()
        .map(|r| {
            parse_view(black_box(r))
                .answer
                .map_or(0.0, |a| corpus.reference.token_overlap(a).recall)
        })
        .sum()
}

/// One pass of the structural parse alone over the responses: the well-formed count.
pub fn parse_only(corpus: &RewardCorpus) -> u64 {
    corpus
        .responses
        .iter()
        .map(|r| u64::from(parse_view(black_box(r)).format_ok()))
        .sum()
}
