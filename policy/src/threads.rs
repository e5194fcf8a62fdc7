//! A settled thread count for candle's CPU matrix products.
//!
//! candle looks up its thread count on every CPU matmul. Unless `RAYON_NUM_THREADS` holds a
//! count, that lookup parses `/proc/cpuinfo` again each time: about 40 µs, longer than the small
//! attention products of a decode step themselves (a 24-layer model makes 48 of them per token).
//! [`settle_thread_count`] works the count out once, as candle would, and stores it there.

use std::str::FromStr;

/// The variable candle (and rayon) read their thread count from.
pub const THREAD_COUNT_ENV: &str = "RAYON_NUM_THREADS";

/// The count `RAYON_NUM_THREADS` holds, read as candle and rayon read it (no trimming).
fn count_in_force() -> Option<usize> {
    std::env::var(THREAD_COUNT_ENV)
        .ok()
        .and_then(|value| usize::from_str(&value).ok())
        .filter(|&count| count > 0)
}

/// Stores candle's own thread count (its default: physical cores, or `CANDLE_CPU_MASK`) in
/// `RAYON_NUM_THREADS` unless the variable already holds a count, and returns the count in force.
/// It does nothing once the variable holds a count; call it at the start of `main`, before any
/// other thread starts, as the environment is shared, unsynchronised state.
pub fn settle_thread_count() -> usize {
    if let Some(count) = count_in_force() {
        return count;
    }
    // With no usable count in the variable, candle falls back to its default: ask it once.
    let count = candle_core::utils::get_num_threads();
    std::env::set_var(THREAD_COUNT_ENV, count.to_string());
    count
}
