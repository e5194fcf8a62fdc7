//! `medgym bench rewards`: reward scoring against a plain `memchr` scan of the same corpus,
//! measured side by side. Each round times every workload once, in turn, so a ratio compares
//! times taken moments apart; the medians of the per-round ratios stay steady on a noisy
//! machine where separately timed benchmarks drift.

use std::hint::black_box;
use std::time::Instant;

use crate::reward_corpus::{
    format_and_verdict, memchr_scan, parse_only, reward_corpora, token_recall, RewardCorpus,
    CORPUS_SIZE,
};
use crate::{MedgymError, Result};

/// Arguments of `medgym bench rewards`.
#[derive(Debug, clap::Args)]
pub struct RewardBenchArgs {
    /// Rounds; each times every workload once.
    #[arg(long, default_value_t = 1000)]
    rounds: usize,
    /// Passes over the 1,024 responses per workload and round.
    #[arg(long, default_value_t = 10)]
    passes: usize,
}

/// One timed workload: a pass over a corpus that returns a checksum.
struct Workload<'c> {
    name: &'static str,
    run: Box<dyn Fn() -> u64 + 'c>,
}

/// The workloads of the criterion bench's `combined` group, the `memchr` scan first.
fn workloads<'c>(multiple_choice: &'c RewardCorpus, open: &'c RewardCorpus) -> Vec<Workload<'c>> {
    vec![
        Workload {
            name: "memchr scan for '<'",
            run: Box::new(move || memchr_scan(multiple_choice)),
        },
        Workload {
            name: "format + multiple choice",
            run: Box::new(move || format_and_verdict(multiple_choice)),
        },
        Workload {
            name: "open token recall",
            run: Box::new(move || token_recall(open).to_bits().into()),
        },
        Workload {
            name: "parse only",
            run: Box::new(move || parse_only(multiple_choice)),
        },
    ]
}

/// The value at quantile `q` (0..=1) of sorted `values`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
    sorted.get(index).copied().unwrap_or(f64::NAN)
}

/// Sorts a copy of `values`.
fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// Runs `medgym bench rewards`.
pub fn run(args: &RewardBenchArgs) -> Result<()> {
    if args.rounds == 0 || args.passes == 0 {
        return Err(MedgymError::InvalidSetting {
            field: if args.rounds == 0 {
                "--rounds"
            } else {
                "--passes"
            }
            .to_owned(),
            reason: "must be at least 1".to_owned(),
        });
    }
    let corpora = reward_corpora()?;
    let (Some(multiple_choice), Some(open)) = (corpora.first(), corpora.get(3)) else {
        return Err(MedgymError::InvalidSetting {
            field: "corpus".to_owned(),
            reason: "the reward corpora lack the multiple-choice or open corpus".to_owned(),
        });
    };
    let workloads = workloads(multiple_choice, open);
    // Per workload, microseconds per pass over the corpus, one entry per round.
    let mut micros = vec![Vec::with_capacity(args.rounds); workloads.len()];
    let mut checksum = 0u64;
    for workload in &workloads {
        checksum = checksum.wrapping_add((workload.run)());
    }
    for _ in 0..args.rounds {
        for (workload, times) in workloads.iter().zip(&mut micros) {
            let start = Instant::now();
            for _ in 0..args.passes {
                checksum = checksum.wrapping_add((workload.run)());
            }
            times.push(start.elapsed().as_secs_f64() * 1e6 / args.passes as f64);
        }
    }
    black_box(checksum);
    println!(
        "corpus: {CORPUS_SIZE} responses, mean {} bytes; {} rounds of {} passes, one thread",
        multiple_choice.response_bytes() / CORPUS_SIZE,
        args.rounds,
        args.passes
    );
    println!(
        "{:<26} {:>13} {:>13} {:>20}",
        "workload", "µs per 1,024", "M responses/s", "× memchr (p10–p90)"
    );
    let scan = &micros[0];
    for (workload, times) in workloads.iter().zip(&micros) {
        let median = quantile(&sorted(times.clone()), 0.5);
        let ratios = sorted(times.iter().zip(scan).map(|(t, s)| t / s).collect());
        println!(
            "{:<26} {:>13.1} {:>13.1} {:>8.2} ({:.2}–{:.2})",
            workload.name,
            median,
            CORPUS_SIZE as f64 / median,
            quantile(&ratios, 0.5),
            quantile(&ratios, 0.1),
            quantile(&ratios, 0.9),
        );
    }
    Ok(())
}
