//! Reward scoring throughput.

use criterion::{criterion_group, criterion_main, Criterion};

fn memchr_scan(c: &mut Criterion) {
    let corpus = vec![b'x'; 340];
    c.bench_function("memchr_scan", |b| {
        b.iter(|| memchr::memchr_iter(b'<', std::hint::black_box(&corpus)).count())
    });
}

criterion_group!(benches, memchr_scan);
criterion_main!(benches);
