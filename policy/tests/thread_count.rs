//! `settle_thread_count` in a process of its own, as it changes the environment.

use medgym_policy::threads::{settle_thread_count, THREAD_COUNT_ENV};

#[test]
fn settles_once_and_candle_reads_the_same_count() {
    let expected = match std::env::var(THREAD_COUNT_ENV)
        .ok()
        .and_then(|value| value.trim().parse::<usize>().ok())
        .filter(|&count| count > 0)
    {
        Some(count) => count,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let count = settle_thread_count();
    assert_eq!(count, expected);
    let in_force: Option<usize> = std::env::var(THREAD_COUNT_ENV)
        .ok()
        .and_then(|value| value.trim().parse().ok());
    assert_eq!(in_force, Some(count));
    assert_eq!(candle_core::utils::get_num_threads(), count);
    assert_eq!(settle_thread_count(), count);
}
