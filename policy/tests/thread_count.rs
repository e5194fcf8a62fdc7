//! `settle_thread_count` in a process of its own, as it changes the environment.

use medgym_policy::threads::{settle_thread_count, THREAD_COUNT_ENV};

#[test]
fn stores_candles_own_count_once() {
    // A value candle cannot read (it does not trim) is replaced by candle's default count.
    std::env::set_var(THREAD_COUNT_ENV, " 3");
    let default = candle_core::utils::get_num_threads();
    let count = settle_thread_count();
    assert_eq!(count, default);
    assert_eq!(
        std::env::var(THREAD_COUNT_ENV).ok(),
        Some(count.to_string())
    );
    assert_eq!(candle_core::utils::get_num_threads(), count);
    // A count already in force is left as it is.
    std::env::set_var(THREAD_COUNT_ENV, "5");
    assert_eq!(settle_thread_count(), 5);
    assert_eq!(std::env::var(THREAD_COUNT_ENV).ok().as_deref(), Some("5"));
}
