//! Items are pure functions of (task, split, seed, index).

mod common;

use common::{get_task, MEDSYNTH_IDS};
use medgym_envs::medsynth::{fnv1a64, item_rng};
use medgym_envs::Split;
use rand::RngCore;

#[test]
fn same_key_gives_byte_identical_items() {
    for id in MEDSYNTH_IDS {
        let task = get_task(id);
        for split in [Split::Train, Split::Eval] {
            for (seed, index) in [(0, 0), (7, 3), (u64::MAX, 12345)] {
                let first = task.item(split, seed, index).unwrap();
                let second = task.item(split, seed, index).unwrap();
                assert_eq!(first.scan().unwrap(), second.scan().unwrap(), "{id} image");
                assert_eq!(
                    first.scan().unwrap().to_pgm(),
                    second.scan().unwrap().to_pgm(),
                    "{id} pgm"
                );
                assert_eq!(first.question, second.question, "{id} question");
                assert_eq!(first.reference_response, second.reference_response);
                assert_eq!(first.reference, second.reference);
                assert_eq!(first.meta, second.meta, "{id} meta");
                assert_eq!(first.id, second.id);
                assert_eq!(first.index, index);
                assert_eq!(first.seed, seed);
                assert_eq!(first.split, split);
                assert_eq!(first.task_id, id);
            }
        }
    }
}

#[test]
fn train_and_eval_items_differ() {
    for id in MEDSYNTH_IDS {
        let task = get_task(id);
        for index in 0..50 {
            let train = task.item(Split::Train, 3, index).unwrap();
            let eval = task.item(Split::Eval, 3, index).unwrap();
            assert_ne!(
                train.scan().unwrap(),
                eval.scan().unwrap(),
                "{id} index {index}"
            );
            assert_ne!(train.id, eval.id);
        }
    }
}

#[test]
fn seeds_indices_and_tasks_give_different_images() {
    let count = get_task("medsynth/lesion-count-v1");
    let presence = get_task("medsynth/lesion-presence-v1");
    let base = count.item(Split::Train, 1, 0).unwrap();
    assert_ne!(
        base.scan().unwrap(),
        count.item(Split::Train, 2, 0).unwrap().scan().unwrap()
    );
    assert_ne!(
        base.scan().unwrap(),
        count.item(Split::Train, 1, 1).unwrap().scan().unwrap()
    );
    assert_ne!(
        base.scan().unwrap(),
        presence.item(Split::Train, 1, 0).unwrap().scan().unwrap()
    );
}

#[test]
fn item_seed_follows_the_documented_key_layout() {
    // FNV-1a reference values.
    assert_eq!(fnv1a64(""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64("a"), 0xaf63_dc4c_8601_ec8c);
    let mut key = [0u8; 32];
    let words = [fnv1a64("medsynth/modality-v1"), 1, 9, 4];
    for (chunk, word) in key.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let mut expected = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::from_seed(key);
    let mut actual = item_rng("medsynth/modality-v1", Split::Eval, 9, 4);
    assert_eq!(expected.next_u64(), actual.next_u64());
}

#[test]
fn pgm_has_header_and_all_pixels() {
    let item = get_task("medsynth/modality-v1")
        .item(Split::Train, 0, 0)
        .unwrap();
    let pgm = item.scan().unwrap().to_pgm();
    let header = b"P5\n64 64\n255\n";
    assert_eq!(&pgm[..header.len()], header);
    assert_eq!(&pgm[header.len()..], item.scan().unwrap().pixels.as_slice());
    assert_eq!(item.scan().unwrap().pixels.len(), 64 * 64);
}
