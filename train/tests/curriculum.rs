//! The pass-rate curriculum shares prompts by learnability, deterministically.

use std::sync::Arc;

use medgym_envs::{medsynth_v1_task_ids, task, Split, TaskFamily};
use medgym_train::data::{PassRateCurriculum, TaskStream};

fn curriculum() -> PassRateCurriculum {
    let tasks: Vec<Arc<dyn TaskFamily>> = medsynth_v1_task_ids()
        .iter()
        .map(|id| task(id).unwrap())
        .collect();
    PassRateCurriculum::new(TaskStream::new(tasks, Split::Train, 3).unwrap(), 0.05, 0.0)
}

#[test]
fn equal_shares_until_pass_rates_differ_then_solved_tasks_shrink() {
    let mut c = curriculum();
    assert_eq!(c.allocation(32), vec![8, 8, 8, 8]);
    let ids = medsynth_v1_task_ids();
    c.observe(&ids[0], 5, 10); // p = 0.5: most to learn
    c.observe(&ids[1], 10, 10); // solved
    c.observe(&ids[2], 9, 10);
    c.observe(&ids[3], 0, 10); // hopeless
    let shares = c.allocation(32);
    assert_eq!(shares.iter().sum::<usize>(), 32);
    assert!(shares[0] > shares[2] && shares[2] > shares[1], "{shares:?}");
    assert!(
        shares[1].abs_diff(shares[3]) <= 1,
        "p = 0 and p = 1 both keep only the floor (up to rounding): {shares:?}"
    );
    assert!(shares[1] >= 1, "every task keeps a floor share: {shares:?}");
}

#[test]
fn jobs_are_fresh_items_and_repeat_exactly() {
    let mut a = curriculum();
    let mut b = curriculum();
    let first: Vec<String> = a
        .next_jobs(12)
        .unwrap()
        .into_iter()
        .map(|j| j.item.id)
        .collect();
    let again: Vec<String> = b
        .next_jobs(12)
        .unwrap()
        .into_iter()
        .map(|j| j.item.id)
        .collect();
    assert_eq!(first, again);
    let second: Vec<String> = a
        .next_jobs(12)
        .unwrap()
        .into_iter()
        .map(|j| j.item.id)
        .collect();
    assert!(
        first.iter().all(|id| !second.contains(id)),
        "items are never repeated"
    );
}
