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

fn v1_tasks() -> Vec<Arc<dyn TaskFamily>> {
    medsynth_v1_task_ids()
        .iter()
        .map(|id| task(id).unwrap())
        .collect()
}

fn stream_ids(stream: &TaskStream, start: u64, count: usize) -> Vec<String> {
    stream
        .jobs(start, count)
        .unwrap()
        .into_iter()
        .map(|j| j.item.id)
        .collect()
}

#[test]
fn equal_weights_are_plain_round_robin() {
    let tasks = v1_tasks();
    let plain = TaskStream::new(tasks.clone(), Split::Train, 5).unwrap();
    let jobs = plain.jobs(0, 12).unwrap();
    for (k, job) in jobs.iter().enumerate() {
        let expected = tasks[k % 4].item(Split::Train, 5, (k / 4) as u64).unwrap();
        assert_eq!(job.item.id, expected.id, "position {k}");
    }
    let ones = TaskStream::weighted(tasks, &[1, 1, 1, 1], Split::Train, 5).unwrap();
    assert_eq!(stream_ids(&plain, 7, 30), stream_ids(&ones, 7, 30));
}

#[test]
fn weighted_stream_gives_each_task_its_share_of_fresh_items() {
    let tasks = v1_tasks();
    let stream = TaskStream::weighted(tasks.clone(), &[1, 3, 0, 2], Split::Train, 9).unwrap();
    let jobs = stream.jobs(0, 60).unwrap();
    for (task_index, expected_share) in [(0usize, 10usize), (1, 30), (2, 0), (3, 20)] {
        let id = &tasks[task_index].spec().id;
        let of_task: Vec<&str> = jobs
            .iter()
            .filter(|j| &j.task.spec().id == id)
            .map(|j| j.item.id.as_str())
            .collect();
        assert_eq!(of_task.len(), expected_share, "{id}");
        // Items of one task are consecutive indices 0, 1, 2, ... in stream order.
        for (index, item_id) in of_task.iter().enumerate() {
            let expected = tasks[task_index]
                .item(Split::Train, 9, index as u64)
                .unwrap();
            assert_eq!(*item_id, expected.id, "{id} item {index}");
        }
    }
    // Positions are a pure function: a later window equals the same slice of a longer one.
    assert_eq!(
        stream_ids(&stream, 13, 20),
        stream_ids(&stream, 0, 33)[13..]
    );
}

#[test]
fn bad_weights_are_rejected_with_a_reason() {
    let tasks = v1_tasks();
    let zero = TaskStream::weighted(tasks.clone(), &[0, 0, 0, 0], Split::Train, 1)
        .err()
        .expect("all-zero weights fail");
    assert!(zero.to_string().contains("every weight is 0"), "{zero}");
    let short = TaskStream::weighted(tasks, &[1, 2], Split::Train, 1)
        .err()
        .expect("a weight per task");
    assert!(
        short.to_string().contains("2 weights for 4 tasks"),
        "{short}"
    );
}
