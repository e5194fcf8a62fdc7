//! Keeping freed tensor memory in the process.
//!
//! candle allocates a fresh buffer for every op result and frees it when the tensor drops. glibc
//! serves blocks above 32 MB with `mmap` and unmaps them on free, so every training step faults
//! each large buffer back in, page by page: with a 151,936-token vocabulary that is about half of
//! an SFT step. Threads other than the main one allocate from arenas of their own, whose heaps
//! glibc unmaps whenever one is wholly free: the rollout workers faulted about 160,000 pages back
//! in per GRPO step of the pipeline. [`retain_freed_memory`] makes glibc serve every block from
//! the main heap and never trim it, so freed buffers are reused; the process keeps its peak
//! memory, as a caching GPU allocator does.

/// Environment variable that, set to `0`, leaves glibc's defaults alone.
pub const RETAIN_MEMORY_ENV: &str = "MEDGYM_RETAIN_FREED_MEMORY";

/// Serves every block, large ones and other threads' included, from the main heap and never
/// returns freed memory to the OS (glibc only; a no-op elsewhere or when
/// `MEDGYM_RETAIN_FREED_MEMORY=0`). Returns whether the setting took effect.
pub fn retain_freed_memory() -> bool {
    if std::env::var(RETAIN_MEMORY_ENV).is_ok_and(|value| value.trim() == "0") {
        return false;
    }
    allocator::retain()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod allocator {
    /// glibc: no `mmap` for large blocks, one arena for every thread (a thread arena's heap is
    /// unmapped once wholly free, whatever the trim threshold), and a trim threshold no heap
    /// reaches. glibc stores the threshold as a `size_t`, so -1 means "never" (2^31 − 1 would
    /// still trim the GB-sized frees of a training step).
    pub fn retain() -> bool {
        // SAFETY: mallopt only changes allocator tuning parameters; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_ARENA_MAX, 1) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, -1) == 1
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod allocator {
    /// Other allocators keep their own policy.
    pub fn retain() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_accepts_the_settings() {
        let expected = cfg!(all(target_os = "linux", target_env = "gnu"))
            && std::env::var(RETAIN_MEMORY_ENV).map_or(true, |value| value.trim() != "0");
        assert_eq!(retain_freed_memory(), expected);
        // Allocation still works afterwards, large blocks included.
        let block = vec![1u8; 64 << 20];
        assert_eq!(block.iter().map(|&b| b as usize).sum::<usize>(), 64 << 20);
    }
}
