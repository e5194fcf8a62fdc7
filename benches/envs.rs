//! Procedural item generation and environment stepping throughput.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medgym::envs::{make, task, Split};

/// One task per generator kind: v1 scan, v2 scan with levels, RGB shapes, text-only clinical.
const IDS: [&str; 4] = [
    "medsynth/lesion-count-v1",
    "medsynth/lesion-count-v2",
    "shapes/count-v1",
    "clinical/creatinine-clearance-v1",
];

fn item_generation(c: &mut Criterion) {
    let mut group = c.benchmark_group("envs_items");
    group.throughput(Throughput::Elements(1));
    for id in IDS {
        let Ok(family) = task(id) else {
            continue;
        };
        let mut index = 0u64;
        group.bench_function(id, |b| {
            b.iter(|| {
                index += 1;
                black_box(
                    family
                        .item(Split::Train, 0, index)
                        .map(|item| item.images.len()),
                )
            })
        });
    }
    group.finish();
}

fn env_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("envs_reset_step");
    group.throughput(Throughput::Elements(1));
    for id in IDS {
        let Ok(mut env) = make(id, Split::Train) else {
            continue;
        };
        group.bench_function(id, |b| {
            b.iter(|| {
                let reset = env
                    .reset(None)
                    .map(|(observation, _)| observation.images.len());
                let response = env
                    .current_item()
                    .map(|item| item.reference_response.clone())
                    .unwrap_or_default();
                black_box((reset, env.step(&response).map(|step| step.reward)))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, item_generation, env_steps);
criterion_main!(benches);
