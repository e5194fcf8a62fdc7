//! Reflective references verify as correct, items are pure functions of their key, and train
//! and eval streams never share an item.

use std::collections::HashSet;

use medgym_envs::medsynth::item_rng;
use medgym_envs::{builtin_task_ids, rewards::Rubric, task, task_at, Split, TaskFamily};

fn levels(family: &dyn TaskFamily) -> Vec<Option<u8>> {
    match family.difficulty() {
        Some(_) => (1..=5).map(Some).collect(),
        None => vec![None],
    }
}

#[test]
fn reflective_and_plain_references_score_as_correct() {
    let rubric = Rubric::standard();
    for id in builtin_task_ids() {
        for level in levels(task(&id).unwrap().as_ref()) {
            let family = task_at(&id, level).unwrap();
            for index in 0..6 {
                let item = family.item(Split::Train, 2, index).unwrap();
                let plain = rubric.score(&item.reference_response, &item.reference);
                assert!(plain.correct && plain.format_ok, "{}: {plain:?}", item.id);
                let reflective = item.reflective_response.as_deref().unwrap();
                assert!(
                    reflective.contains("Wait, let me re-check."),
                    "{reflective}"
                );
                let (first, _) = reflective.split_once("Wait, let me re-check.").unwrap();
                assert!(
                    first.len() > "<think>".len() + 5,
                    "{}: no first reading",
                    item.id
                );
                let score = rubric.score(reflective, &item.reference);
                assert!(
                    score.correct && score.format_ok,
                    "{}: {reflective} {score:?}",
                    item.id
                );
                assert!((score.total - plain.total).abs() < 1e-6);
            }
        }
    }
}

#[test]
fn items_are_pure_functions_of_their_key() {
    for id in builtin_task_ids() {
        let family = task(&id).unwrap();
        let again = task(&id).unwrap();
        for index in [0, 5] {
            let first = family.item(Split::Eval, 8, index).unwrap();
            let second = again.item(Split::Eval, 8, index).unwrap();
            assert_eq!(first.images, second.images, "{id}");
            assert_eq!(first.question, second.question, "{id}");
            assert_eq!(first.reference_response, second.reference_response, "{id}");
            assert_eq!(
                first.reflective_response, second.reflective_response,
                "{id}"
            );
            assert_eq!(first.meta, second.meta, "{id}");
        }
    }
}

/// Serialized content of an item (images, question, answer), without its id.
fn content(family: &dyn TaskFamily, split: Split, seed: u64, index: u64) -> String {
    let item = family.item(split, seed, index).unwrap();
    format!(
        "{}|{}|{}",
        serde_json::to_string(&item.images).unwrap(),
        item.question,
        serde_json::to_string(&item.meta).unwrap()
    )
}

#[test]
fn train_and_eval_generator_keys_never_coincide() {
    use rand::RngCore;
    for id in builtin_task_ids() {
        let mut train = HashSet::new();
        for seed in 0..8 {
            for index in 0..32 {
                train.insert(item_rng(&id, Split::Train, seed, index).next_u64());
            }
        }
        for seed in 0..8 {
            for index in 0..32 {
                let eval = item_rng(&id, Split::Eval, seed, index).next_u64();
                assert!(!train.contains(&eval), "{id}: eval ({seed}, {index})");
            }
        }
    }
}

#[test]
fn train_and_eval_image_items_never_coincide() {
    for id in builtin_task_ids() {
        let family = task(&id).unwrap();
        if family.item(Split::Train, 0, 0).unwrap().images.is_empty() {
            continue;
        }
        let mut train = HashSet::new();
        for seed in 0..4 {
            for index in 0..12 {
                train.insert(content(family.as_ref(), Split::Train, seed, index));
            }
        }
        for seed in 0..4 {
            for index in 0..12 {
                let eval = content(family.as_ref(), Split::Eval, seed, index);
                assert!(
                    !train.contains(&eval),
                    "{id}: eval seed {seed} index {index} is a train item"
                );
            }
        }
    }
}
