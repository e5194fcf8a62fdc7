//! The group-aware vector environment and DAPO dynamic sampling.

use medgym_envs::{task, uniform_reward, EnvError, GroupVectorEnv, Split};

fn vector(group_size: usize) -> GroupVectorEnv {
    GroupVectorEnv::new(
        task("clinical/bmi-v1").unwrap(),
        Split::Train,
        5,
        group_size,
    )
    .unwrap()
}

#[test]
fn batches_repeat_each_prompt_group_size_times() {
    let mut env = vector(4);
    let batch = env.reset_batch(3).unwrap();
    assert_eq!(batch.len(), 3);
    let observations = env.observations(&batch);
    assert_eq!(observations.len(), 12);
    for (position, observation) in observations.iter().enumerate() {
        assert_eq!(observation, &batch[position / 4].observation);
    }
    let indices: Vec<u64> = batch.iter().map(|group| group.item.index).collect();
    assert_eq!(indices, [0, 1, 2]);
    assert_eq!(env.next_index(), 3);
}

#[test]
fn step_batch_scores_each_response_against_its_group() {
    let mut env = vector(2);
    let batch = env.reset_batch(2).unwrap();
    let responses = vec![
        batch[0].item.reference_response.clone(),
        "<think>x</think><answer>0</answer>".to_string(),
        batch[1].item.reference_response.clone(),
        batch[1].item.reference_response.clone(),
    ];
    let scores = env.step_batch(&batch, &responses).unwrap();
    assert!(scores[0][0].correct && !scores[0][1].correct);
    assert!(scores[1][0].correct && scores[1][1].correct);
    assert!(env.step_batch(&batch, &responses[..3]).is_err());
}

#[test]
fn uniform_groups_are_dropped_replaced_and_counted() {
    let mut env = vector(3);
    let batch = env.reset_batch(4).unwrap();
    let ids: Vec<String> = batch.iter().map(|group| group.item.id.clone()).collect();
    let rewards = vec![
        vec![1.2, 1.2, 1.2],
        vec![1.2, 0.2, 1.2],
        vec![0.0, 0.0, 0.0],
        vec![0.2, 0.2, 0.200_000_1],
    ];
    let outcome = env.dynamic_sample(batch, &rewards, true).unwrap();
    assert_eq!(outcome.dropped, [0, 2]);
    let kept: Vec<&str> = outcome
        .kept
        .iter()
        .map(|(group, _)| group.item.id.as_str())
        .collect();
    assert_eq!(kept, [ids[1].as_str(), ids[3].as_str()]);
    assert_eq!(outcome.kept[1].1, rewards[3]);
    let replaced: Vec<u64> = outcome
        .replacements
        .iter()
        .map(|group| group.item.index)
        .collect();
    assert_eq!(replaced, [4, 5]);
    let stats = env.stats();
    assert_eq!(
        (stats.groups_scored, stats.groups_kept, stats.groups_dropped),
        (4, 2, 2)
    );
    assert_eq!(stats.replacements_drawn, 2);
    assert_eq!(stats.dropped_by_reward.get("1.2000"), Some(&1));
    assert_eq!(stats.dropped_by_reward.get("0.0000"), Some(&1));
}

#[test]
fn without_replacement_nothing_is_drawn_and_singletons_are_kept() {
    let mut env = vector(1);
    let batch = env.reset_batch(2).unwrap();
    let outcome = env
        .dynamic_sample(batch, &[vec![1.0], vec![0.0]], false)
        .unwrap();
    assert_eq!(outcome.kept.len(), 2);
    assert!(outcome.dropped.is_empty() && outcome.replacements.is_empty());
    assert_eq!(env.next_index(), 2);
}

#[test]
fn mismatched_or_non_finite_rewards_are_errors_naming_the_group() {
    let mut env = vector(2);
    let batch = env.reset_batch(2).unwrap();
    let error = env
        .dynamic_sample(batch.clone(), &[vec![1.0, 0.0], vec![1.0]], true)
        .unwrap_err();
    assert!(
        matches!(error, EnvError::GroupRewards { group: 1, .. }),
        "{error}"
    );
    let error = env
        .dynamic_sample(batch.clone(), &[vec![1.0, 0.0], vec![f32::NAN, 0.0]], true)
        .unwrap_err();
    assert!(error.to_string().contains("group 1"), "{error}");
    assert!(env.dynamic_sample(batch, &[vec![1.0, 0.0]], true).is_err());
    assert!(GroupVectorEnv::new(task("clinical/bmi-v1").unwrap(), Split::Train, 0, 0).is_err());
}

#[test]
fn uniformity_is_exact_equality() {
    assert_eq!(uniform_reward(&[0.5, 0.5]), Some(0.5));
    assert_eq!(uniform_reward(&[0.5, 0.5 + f32::EPSILON]), None);
    assert_eq!(uniform_reward(&[]), None);
}

#[test]
fn the_stream_matches_the_task_items() {
    let family = task("shapes/count-v1").unwrap();
    let mut env = GroupVectorEnv::new(family.clone(), Split::Eval, 9, 2).unwrap();
    let batch = env.reset_batch(2).unwrap();
    let direct = family.item(Split::Eval, 9, 1).unwrap();
    assert_eq!(batch[1].item.id, direct.id);
    assert_eq!(batch[1].observation, family.observation(&direct));
}
