//! `medgym bench`: sampling times every supported CPU build in one run and refuses flags that do
//! not apply; the reward bench times its workloads against the scan on the shared corpus.

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_medgym"))
        .args(["bench", "sampling", "--batch", "2", "--vocab", "300"])
        .args(["--iterations", "1", "--mode", "top-p"])
        .args(args)
        .output()
        .expect("run medgym")
}

#[test]
fn all_times_every_supported_build_in_one_run() {
    let output = bench(&["--instruction-set", "all"]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let builds: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("instruction set "))
        .collect();
    let supported: Vec<&str> = medgym::kernels::CpuInstructionSet::ALL
        .into_iter()
        .filter(|set| set.is_supported())
        .map(|set| set.name())
        .collect();
    assert_eq!(builds, supported, "{stdout}");
    assert_eq!(
        stdout.matches("top-p 0.9").count(),
        supported.len(),
        "{stdout}"
    );
}

#[test]
fn portable_alone_and_refusals_name_the_flag() {
    let output = bench(&["--instruction-set", "portable"]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("instruction set portable"));
    let refused = bench(&["--backend", "cuda", "--instruction-set", "avx2"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--instruction-set"),
        "{refused:?}"
    );
}

/// FNV-1a over every response and answer of a corpus, each followed by a zero byte.
fn corpus_checksum(corpus: &medgym::reward_corpus::RewardCorpus) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for text in corpus.responses.iter().chain(&corpus.answers) {
        for &byte in text.as_bytes().iter().chain([0u8].iter()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[test]
fn reward_corpus_is_the_one_published_figures_were_measured_on() {
    // Checksums of the corpus the reward benchmarks generated before it became shared with
    // `medgym bench rewards`: a change here makes new figures incomparable with the README's.
    let expected = [
        0x9329_1a7b_3cb8_d5b0_u64,
        0x5943_5e3b_1225_1dbb,
        0x654d_3fd8_0573_e253,
        0x24f0_0cc4_44a9_6386,
        0xcbae_3882_41f5_6e39,
        0xfbc5_33f8_5d54_4458,
    ];
    let corpora = medgym::reward_corpus::reward_corpora().expect("corpora");
    let checksums: Vec<u64> = corpora.iter().map(corpus_checksum).collect();
    assert_eq!(checksums, expected);
    assert!(corpora
        .iter()
        .all(|corpus| corpus.responses.len() == medgym::reward_corpus::CORPUS_SIZE));
}

#[test]
fn rewards_bench_prints_each_workload_against_the_scan() {
    let output = Command::new(env!("CARGO_BIN_EXE_medgym"))
        .args(["bench", "rewards", "--rounds", "3", "--passes", "1"])
        .output()
        .expect("run medgym");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for workload in [
        "memchr scan for '<'",
        "format + multiple choice",
        "open token recall",
        "parse only",
    ] {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(workload))
            .unwrap_or_else(|| panic!("no line for {workload}: {stdout}"));
        let ratio: f64 = line
            .split_whitespace()
            .rev()
            .nth(1)
            .and_then(|field| field.parse().ok())
            .unwrap_or_else(|| panic!("no ratio in {line:?}"));
        assert!(ratio > 0.0 && ratio.is_finite(), "{line}");
    }
    let refused = Command::new(env!("CARGO_BIN_EXE_medgym"))
        .args(["bench", "rewards", "--passes", "0"])
        .output()
        .expect("run medgym");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--passes"),
        "{refused:?}"
    );
}
