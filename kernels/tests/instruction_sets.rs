//! Every build of the CPU backend's row loops this processor runs (AVX-512, AVX2, portable) gives
//! the same tokens and log-probs, bit for bit, on a vocabulary the size of Qwen's; a build the
//! processor lacks is refused by name.

use std::sync::{Mutex, PoisonError};

use medgym_kernels::{
    cpu_instruction_set, set_cpu_instruction_set, CpuInstructionSet, CpuSampler, KernelError,
    RandomKey, SampledToken, Sampler, SamplingParams,
};

/// The build choice is process-wide: the tests take turns.
static CHOICE: Mutex<()> = Mutex::new(());

const VOCAB: usize = 151_936;
const ROWS: usize = 12;

/// LM-like logits: a spread bulk, a few strong tokens, ties and banned tokens.
fn logits() -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..ROWS * VOCAB)
        .map(|index| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let word = (state >> 33) as u32;
            match word % 4096 {
                0 => 14.0,
                1 => f32::NEG_INFINITY,
                2 => 9.5,
                _ => (word % 10_000) as f32 * 0.0016 - 8.0 + (index % 7) as f32 * 0.01,
            }
        })
        .collect()
}

/// One row of each kind: greedy, plain, top-k, top-p, min-p, combined, with penalties.
fn params() -> Vec<SamplingParams> {
    let plain = SamplingParams::default();
    let kinds = [
        SamplingParams::greedy(),
        plain,
        SamplingParams { top_k: 50, ..plain },
        SamplingParams {
            top_p: 0.9,
            ..plain
        },
        SamplingParams {
            min_p: 0.05,
            ..plain
        },
        SamplingParams::new(0.7, 40, 0.8),
        SamplingParams {
            repetition_penalty: 1.3,
            top_p: 0.95,
            ..plain
        },
        SamplingParams::new(1.3, 0, 0.5),
    ];
    (0..ROWS).map(|row| kinds[row % kinds.len()]).collect()
}

fn sample_under(set: Option<CpuInstructionSet>) -> Vec<SampledToken> {
    set_cpu_instruction_set(set).expect("supported build");
    assert_eq!(
        cpu_instruction_set(),
        set.unwrap_or_else(CpuInstructionSet::best)
    );
    let logits = logits();
    let keys: Vec<RandomKey> = (0..ROWS as u64)
        .map(|row| RandomKey::new(11, row, 4))
        .collect();
    let histories: Vec<&[u32]> = vec![&[3, 3, 17, 140_000]; ROWS];
    let sampled = CpuSampler
        .sample_with_history(&logits, VOCAB, &params(), &keys, &histories)
        .expect("sampling");
    set_cpu_instruction_set(None).expect("best build");
    sampled
}

#[test]
fn every_supported_build_gives_the_same_bits() {
    let _turn = CHOICE.lock().unwrap_or_else(PoisonError::into_inner);
    let reference = sample_under(Some(CpuInstructionSet::Portable));
    let supported: Vec<CpuInstructionSet> = CpuInstructionSet::ALL
        .into_iter()
        .filter(|set| set.is_supported())
        .collect();
    eprintln!(
        "builds compared: {:?}",
        supported.iter().map(|s| s.name()).collect::<Vec<_>>()
    );
    for set in supported {
        let got = sample_under(Some(set));
        for (row, (a, b)) in got.iter().zip(&reference).enumerate() {
            assert_eq!(a.token, b.token, "{} row {row}", set.name());
            assert_eq!(
                a.logprob.to_bits(),
                b.logprob.to_bits(),
                "{} row {row}",
                set.name()
            );
            assert_eq!(
                a.processed_logprob.to_bits(),
                b.processed_logprob.to_bits(),
                "{} row {row}",
                set.name()
            );
        }
    }
    assert_eq!(sample_under(None), reference);
}

#[test]
fn portable_is_always_supported_and_unsupported_builds_are_refused() {
    let _turn = CHOICE.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(CpuInstructionSet::Portable.is_supported());
    assert!(CpuInstructionSet::best().is_supported());
    for set in CpuInstructionSet::ALL {
        let result = set_cpu_instruction_set(Some(set));
        if set.is_supported() {
            assert_eq!(result, Ok(()));
        } else {
            match result {
                Err(KernelError::InstructionSetUnsupported { instruction_set }) => {
                    assert_eq!(instruction_set, set.name())
                }
                other => panic!("{}: expected a refusal, got {other:?}", set.name()),
            }
        }
    }
    set_cpu_instruction_set(None).expect("best build");
}

#[test]
fn the_builds_this_processor_can_run_are_offered() {
    #[cfg(target_arch = "x86_64")]
    {
        let has = |feature: &str| match feature {
            "avx512" => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            _ => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
        };
        assert_eq!(CpuInstructionSet::Avx512.is_supported(), has("avx512"));
        assert_eq!(CpuInstructionSet::Avx2.is_supported(), has("avx2"));
    }
    let expected_best = CpuInstructionSet::ALL
        .into_iter()
        .find(|set| set.is_supported())
        .expect("portable is always supported");
    assert_eq!(CpuInstructionSet::best(), expected_best);
}
