//! Philox4x32-10 known-answer vectors and properties of `uniform`.

mod common;

use medgym_kernels::{philox4x32_10, uniform, RandomKey};

#[test]
fn philox_known_answer_zero() {
    assert_eq!(
        philox4x32_10([0, 0, 0, 0], [0, 0]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
}

#[test]
fn philox_known_answer_all_ones() {
    assert_eq!(
        philox4x32_10([0xffffffff; 4], [0xffffffff; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
}

#[test]
fn philox_known_answer_pi_digits() {
    assert_eq!(
        philox4x32_10(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

#[test]
fn random_key_block_uses_documented_word_layout() {
    let key = RandomKey {
        seed: 0x299f31d0_a4093822,
        sequence: 0x03707344_13198a2e,
        step: 0x85a308d3_243f6a88,
    };
    assert_eq!(
        key.block(),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

#[test]
fn uniform_stays_in_unit_interval_including_extreme_keys() {
    let mut keys = vec![
        RandomKey::new(0, 0, 0),
        RandomKey::new(u64::MAX, u64::MAX, u64::MAX),
    ];
    for index in 0..5_000u64 {
        keys.push(RandomKey::new(
            index.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            index / 7,
            index % 7,
        ));
    }
    for key in keys {
        let value = uniform(key);
        assert!((0.0..1.0).contains(&value), "{key:?} -> {value}");
    }
}

#[test]
fn uniform_is_deterministic_and_key_sensitive() {
    let base = RandomKey::new(42, 3, 9);
    assert_eq!(uniform(base), uniform(base));
    let neighbours = [
        RandomKey::new(43, 3, 9),
        RandomKey::new(42, 4, 9),
        RandomKey::new(42, 3, 10),
        RandomKey::new(42 + (1 << 32), 3, 9),
        RandomKey::new(42, 3 + (1 << 32), 9),
        RandomKey::new(42, 3, 9 + (1 << 32)),
    ];
    for neighbour in neighbours {
        assert_ne!(uniform(base), uniform(neighbour), "{neighbour:?}");
    }
}

#[test]
fn uniform_passes_chi_square_over_ten_bins() {
    let bins = 10usize;
    let mut counts = vec![0u64; bins];
    for index in 0..20_000u64 {
        let value = uniform(RandomKey::new(7, index / 100, index % 100));
        counts[(value * bins as f64) as usize] += 1;
    }
    let statistic = common::chi_square(&counts, &vec![1.0 / bins as f64; bins]);
    // 9 degrees of freedom: the 0.9999 quantile is about 33.7.
    assert!(
        statistic < 40.0,
        "chi-square {statistic}, counts {counts:?}"
    );
}

#[test]
fn random_key_round_trips_through_serde() {
    let key = RandomKey::new(u64::MAX, 12, 34);
    let text = serde_json::to_string(&key).expect("serialise");
    let back: RandomKey = serde_json::from_str(&text).expect("deserialise");
    assert_eq!(back, key);
}
