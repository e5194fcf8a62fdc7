//! A settled thread count for candle's CPU matrix products.
//!
//! candle looks up its thread count on every CPU matmul. Unless `RAYON_NUM_THREADS` is set, that
//! lookup parses `/proc/cpuinfo` again each time: about 40 µs, longer than the small attention
//! products of a decode step themselves (a 24-layer model makes 48 of them per token).
//! [`settle_thread_count`] sets the variable once, at start-up, to the count rayon uses by default.

/// The variable candle and rayon read their thread count from.
pub const THREAD_COUNT_ENV: &str = "RAYON_NUM_THREADS";

/// Sets `RAYON_NUM_THREADS` to the available parallelism unless it is already set to a positive
/// count, and returns the count in force. Call it at the start of `main`, before any other thread
/// starts (the environment is shared, unsynchronised state).
pub fn settle_thread_count() -> usize {
    if let Some(count) = std::env::var(THREAD_COUNT_ENV)
        .ok()
        .and_then(|value| value.trim().parse::<usize>().ok())
        .filter(|&count| count > 0)
    {
        return count;
    }
    let count = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    std::env::set_var(THREAD_COUNT_ENV, count.to_string());
    count
}
