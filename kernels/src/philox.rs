//! Philox4x32-10 counter-based random numbers (Random123) and the per-draw key.

use serde::{Deserialize, Serialize};

/// First Philox round multiplier.
const PHILOX_M0: u32 = 0xD251_1F53;
/// Second Philox round multiplier.
const PHILOX_M1: u32 = 0xCD9E_8D57;
/// Weyl increment applied to the first key word between rounds.
const PHILOX_W0: u32 = 0x9E37_79B9;
/// Weyl increment applied to the second key word between rounds.
const PHILOX_W1: u32 = 0xBB67_AE85;
/// Number of Philox rounds.
const PHILOX_ROUNDS: usize = 10;
/// 2^-53, the spacing of the uniform grid produced by [`uniform`].
const UNIFORM_SCALE: f64 = 1.0 / 9_007_199_254_740_992.0;

/// Full 64-bit product of two 32-bit words, returned as (high word, low word).
fn multiply_high_low(left: u32, right: u32) -> (u32, u32) {
    let product = u64::from(left) * u64::from(right);
    ((product >> 32) as u32, product as u32)
}

/// One Philox4x32 round.
fn philox_round(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (high0, low0) = multiply_high_low(PHILOX_M0, counter[0]);
    let (high1, low1) = multiply_high_low(PHILOX_M1, counter[2]);
    [
        high1 ^ counter[1] ^ key[0],
        low1,
        high0 ^ counter[3] ^ key[1],
        low0,
    ]
}

/// Philox4x32-10 counter-based generator (Random123). Hand-written.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut state = counter;
    let mut round_key = key;
    for round_index in 0..PHILOX_ROUNDS {
        if round_index > 0 {
            round_key[0] = round_key[0].wrapping_add(PHILOX_W0);
            round_key[1] = round_key[1].wrapping_add(PHILOX_W1);
        }
        state = philox_round(state, round_key);
    }
    state
}

/// Identifies one random draw: counter = [step lo, step hi, sequence lo, sequence hi], key = [seed lo, seed hi].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RandomKey {
    /// Run-level seed (the Philox key).
    pub seed: u64,
    /// Sequence (row / rollout) identifier.
    pub sequence: u64,
    /// Decoding step within the sequence.
    pub step: u64,
}

impl RandomKey {
    /// Builds a key from its three parts.
    pub fn new(seed: u64, sequence: u64, step: u64) -> Self {
        Self {
            seed,
            sequence,
            step,
        }
    }

    /// The Philox counter words: [step lo, step hi, sequence lo, sequence hi].
    pub fn counter(&self) -> [u32; 4] {
        [
            self.step as u32,
            (self.step >> 32) as u32,
            self.sequence as u32,
            (self.sequence >> 32) as u32,
        ]
    }

    /// The Philox key words: [seed lo, seed hi].
    pub fn key_words(&self) -> [u32; 2] {
        [self.seed as u32, (self.seed >> 32) as u32]
    }

    /// The four Philox output words for this key.
    pub fn block(&self) -> [u32; 4] {
        philox4x32_10(self.counter(), self.key_words())
    }
}

/// A uniform f64 in [0, 1) with 53 random bits built from the first two philox output words of the key's block.
///
/// With output words `w0, w1`: `bits = ((w0 << 32) | w1) >> 11` (all 32 bits of `w0` followed by the top
/// 21 bits of `w1`), and the result is `bits × 2^-53`, which is exact in f64.
pub fn uniform(key: RandomKey) -> f64 {
    let block = key.block();
    let combined = (u64::from(block[0]) << 32) | u64::from(block[1]);
    (combined >> 11) as f64 * UNIFORM_SCALE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_and_key_words_split_low_then_high() {
        let key = RandomKey::new(
            0x1111_2222_3333_4444,
            0x5555_6666_7777_8888,
            0x9999_aaaa_bbbb_cccc,
        );
        assert_eq!(
            key.counter(),
            [0xbbbb_cccc, 0x9999_aaaa, 0x7777_8888, 0x5555_6666]
        );
        assert_eq!(key.key_words(), [0x3333_4444, 0x1111_2222]);
    }

    #[test]
    fn uniform_matches_bit_construction() {
        let key = RandomKey::new(7, 3, 11);
        let block = key.block();
        let expected =
            (f64::from(block[0]) * 2f64.powi(32) + f64::from(block[1] >> 11 << 11)) / 2f64.powi(64);
        assert_eq!(uniform(key), expected);
    }

    #[test]
    fn multiply_high_low_splits_product() {
        assert_eq!(multiply_high_low(u32::MAX, u32::MAX), (0xffff_fffe, 1));
        assert_eq!(multiply_high_low(0x1_0000, 0x1_0000), (1, 0));
    }
}
