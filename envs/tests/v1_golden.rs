//! The version-1 medsynth items (what the pipeline trains on) are frozen: a digest over their
//! scans, questions, references, reasoning and scene facts must never change.

use medgym_envs::medsynth::fnv1a64;
use medgym_envs::{task, Split, MEDSYNTH_V1_TASK_IDS};

/// Digest of 4 tasks x 2 splits x seeds {0, 1, 42} x indices 0..8.
const V1_DIGEST: u64 = 0x76a8_6e2c_e47d_dc43;

/// FNV-1a over raw bytes.
fn fnv_bytes(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn digest_v1_items() -> u64 {
    let mut text = String::new();
    for id in MEDSYNTH_V1_TASK_IDS {
        let family = task(id).unwrap();
        for split in [Split::Train, Split::Eval] {
            for seed in [0u64, 1, 42] {
                for index in 0..8 {
                    let item = family.item(split, seed, index).unwrap();
                    let pixels = &item.scan().unwrap().pixels;
                    text.push_str(&format!("{:016x}", fnv_bytes(pixels)));
                    text.push_str(&item.id);
                    text.push_str(&item.question);
                    text.push_str(&item.reference_cot);
                    text.push_str(&item.reference_response);
                    text.push_str(&serde_json::to_string(&item.reference).unwrap());
                    text.push_str(&serde_json::to_string(&item.meta).unwrap());
                }
            }
        }
    }
    fnv1a64(&text)
}

#[test]
fn v1_items_match_the_frozen_digest() {
    assert_eq!(
        digest_v1_items(),
        V1_DIGEST,
        "digest {:#018x}",
        digest_v1_items()
    );
}
