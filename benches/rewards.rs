//! Reward scoring throughput on one thread, over a deterministic corpus of ~340-byte responses
//! (well-formed and malformed, right and wrong), next to a plain `memchr` byte scan of the same
//! corpus; and 1 KB against 1 MB responses to show linear time.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use medgym::rewards::{
    extract_answer, judge_answer, parse_view, score_item, AnswerType, Reference, ScoringMode,
};

/// Responses per corpus.
const CORPUS_SIZE: usize = 1024;
/// Seed of the corpus generator.
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

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

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

/// Wraps an answer into a response of about 340 bytes; one in two is malformed in some way.
fn response(rng: &mut SplitMix, answer: &str) -> String {
    let mut think = String::new();
    while think.len() < 300 - answer.len().min(250) {
        let thought: &&str = rng.pick(&THOUGHTS);
        think.push_str(thought);
    }
    match rng.next() % 8 {
        0..=3 => format!("<think>{think}</think>\n<answer>{answer}</answer>"),
        4 => format!("{think}\n<answer>{answer}</answer>"),
        5 => format!("<think>{think}</think><answer>{answer}</answer><answer>{answer}</answer>"),
        6 => format!("<think>{think}</think> So: <answer>{answer}</answer>"),
        _ => format!("<think>{think}</think>\n<answer>{answer}"),
    }
}

/// A corpus of responses and the answer texts inside them, for one reference.
struct Corpus {
    reference: Reference,
    responses: Vec<String>,
    answers: Vec<String>,
}

fn corpus(reference: Reference, forms: &[&str]) -> Corpus {
    let mut rng = SplitMix(SEED ^ reference.answer_type as u64);
    let answers: Vec<String> = (0..CORPUS_SIZE)
        .map(|_| (*rng.pick(forms)).to_owned())
        .collect();
    let responses = answers.iter().map(|a| response(&mut rng, a)).collect();
    Corpus {
        reference,
        responses,
        answers,
    }
}

fn corpora() -> Vec<Corpus> {
    let options: BTreeMap<String, String> =
        [("A", "Liver"), ("B", "Bone"), ("C", "Lung"), ("D", "Brain")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let build = |answer: &str, kind: AnswerType| match Reference::new(answer, kind) {
        Ok(reference) => reference,
        Err(err) => panic!("bench reference: {err}"),
    };
    let multiple_choice = match Reference::multiple_choice("B", options) {
        Ok(reference) => reference,
        Err(err) => panic!("bench reference: {err}"),
    };
    vec![
        corpus(
            multiple_choice,
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
        corpus(
            build("no", AnswerType::YesNo),
            &[
                "No",
                "Yes.",
                "no evidence of effusion",
                "Yes, there is a nodule.",
                "maybe",
            ],
        ),
        corpus(
            build("left", AnswerType::Closed),
            &["Left", "lt.", "right", "the left side", "Bilateral"],
        ),
        corpus(
            build("pleural effusion", AnswerType::Open),
            &[
                "Pleural effusion",
                "small left pleural effusion",
                "pneumothorax",
                "effusion.",
            ],
        ),
        corpus(
            build("5 mg", AnswerType::Numeric),
            &["5 mg", "5000 mcg", "0.5 g", "50 mg", "five"],
        ),
        corpus(
            build("3", AnswerType::Count),
            &["3", "three lesions", "4", "none", "2.5"],
        ),
    ]
}

fn verifiers(c: &mut Criterion) {
    let corpora = corpora();
    let mut group = c.benchmark_group("verifier");
    group.throughput(Throughput::Elements(CORPUS_SIZE as u64));
    for corpus in &corpora {
        group.bench_function(corpus.reference.answer_type.as_str(), |b| {
            b.iter(|| {
                corpus
                    .answers
                    .iter()
                    .filter(|a| judge_answer(&corpus.reference, black_box(a)).is_correct())
                    .count()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("response");
    group.throughput(Throughput::Elements(CORPUS_SIZE as u64));
    for corpus in &corpora {
        group.bench_function(corpus.reference.answer_type.as_str(), |b| {
            b.iter(|| {
                corpus
                    .responses
                    .iter()
                    .filter(|r| {
                        let view = parse_view(black_box(r));
                        view.answer
                            .is_some_and(|a| judge_answer(&corpus.reference, a).is_correct())
                    })
                    .count()
            })
        });
    }
    group.finish();

    let multiple_choice = &corpora[0];
    let open = &corpora[3];
    let total_bytes: usize = multiple_choice.responses.iter().map(String::len).sum();
    let mut group = c.benchmark_group("combined");
    group.throughput(Throughput::Elements(CORPUS_SIZE as u64));
    group.bench_function("format_and_multiple_choice", |b| {
        b.iter(|| {
            multiple_choice
                .responses
                .iter()
                .map(|r| {
                    let view = parse_view(black_box(r));
                    let accuracy = view
                        .answer
                        .is_some_and(|a| judge_answer(&multiple_choice.reference, a).is_correct());
                    u32::from(view.format_ok()) + u32::from(accuracy)
                })
                .sum::<u32>()
        })
    });
    group.bench_function("open_token_recall", |b| {
        b.iter(|| {
            open.responses
                .iter()
                .map(|r| {
                    parse_view(black_box(r))
                        .answer
                        .map_or(0.0, |a| open.reference.token_overlap(a).recall)
                })
                .sum::<f32>()
        })
    });
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            multiple_choice
                .responses
                .iter()
                .filter(|r| parse_view(black_box(r)).format_ok())
                .count()
        })
    });
    group.bench_function("memchr_scan", |b| {
        b.iter(|| {
            multiple_choice
                .responses
                .iter()
                .map(|r| memchr::memchr_iter(b'<', black_box(r.as_bytes())).count())
                .sum::<usize>()
        })
    });
    group.finish();
    eprintln!(
        "corpus: {CORPUS_SIZE} responses, mean {} bytes",
        total_bytes / CORPUS_SIZE
    );
}

/// A response of about `bytes` bytes whose answer is at the end.
fn long_response(bytes: usize) -> String {
    let filler =
        "The scan shows a well-defined opacity; wait, let me re-check {x} <b> the answer is C. ";
    let mut think = String::with_capacity(bytes);
    while think.len() + filler.len() < bytes.saturating_sub(40) {
        think.push_str(filler);
    }
    format!("<think>{think}</think><answer>(B)</answer>")
}

fn length_scaling(c: &mut Criterion) {
    let corpora = corpora();
    let reference = &corpora[0].reference;
    let mut group = c.benchmark_group("length_scaling");
    for bytes in [1 << 10, 1 << 20] {
        let text = long_response(bytes);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("format_and_multiple_choice", bytes),
            &text,
            |b, t| {
                b.iter(|| {
                    let view = parse_view(black_box(t));
                    view.format_ok()
                        && view
                            .answer
                            .is_some_and(|a| judge_answer(reference, a).is_correct())
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("strict_extraction", bytes),
            &text,
            |b, t| b.iter(|| extract_answer(black_box(t)).text.len()),
        );
        group.bench_with_input(BenchmarkId::new("strict_score", bytes), &text, |b, t| {
            b.iter(|| score_item(ScoringMode::Strict, black_box(t), reference).correct)
        });
    }
    group.finish();
}

criterion_group!(benches, verifiers, length_scaling);
criterion_main!(benches);
