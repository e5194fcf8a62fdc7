//! Reward scoring throughput on one thread, over a deterministic corpus of ~340-byte responses
//! (well-formed and malformed, right and wrong), next to a plain `memchr` byte scan of the same
//! corpus; and 1 KB against 1 MB responses to show linear time. `medgym bench rewards` times the
//! `combined` group's workloads side by side, round by round, for steadier ratios.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use medgym::reward_corpus::{
    format_and_verdict, memchr_scan, parse_only, reward_corpora, token_recall, RewardCorpus,
    CORPUS_SIZE,
};
use medgym::rewards::{extract_answer, judge_answer, parse_view, score_item, ScoringMode};

/// The shared benchmark corpora (see `medgym::reward_corpus`).
fn corpora() -> Vec<RewardCorpus> {
    match reward_corpora() {
        Ok(corpora) => corpora,
        Err(err) => panic!("bench corpus: {err}"),
    }
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
    let total_bytes = multiple_choice.response_bytes();
    let mut group = c.benchmark_group("combined");
    group.throughput(Throughput::Elements(CORPUS_SIZE as u64));
    group.bench_function("format_and_multiple_choice", |b| {
        b.iter(|| format_and_verdict(multiple_choice))
    });
    group.bench_function("open_token_recall", |b| b.iter(|| token_recall(open)));
    group.bench_function("parse_only", |b| b.iter(|| parse_only(multiple_choice)));
    group.bench_function("memchr_scan", |b| b.iter(|| memchr_scan(multiple_choice)));
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
