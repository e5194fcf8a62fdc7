//! Which build of the row loops the CPU sampler runs: the best the processor supports, unless
//! [`set_cpu_instruction_set`] chose another (to compare their speed; their results are equal).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use super::{RowLoops, PORTABLE};
use crate::error::KernelError;

/// The instruction sets the CPU sampler's row loops are built for; every build gives the same
/// bits, only the speed differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CpuInstructionSet {
    /// 512-bit vectors (AVX-512 F, DQ, BW and VL, with AVX2 and FMA).
    Avx512 = 1,
    /// 256-bit vectors (AVX2 and FMA).
    Avx2 = 2,
    /// Plain Rust, on any processor.
    Portable = 3,
}

/// The instruction set chosen by [`set_cpu_instruction_set`]: 0 for the best supported, else
/// the chosen set's discriminant.
static SELECTED_SET: AtomicU8 = AtomicU8::new(0);

impl CpuInstructionSet {
    /// Every build, fastest first.
    pub const ALL: [Self; 3] = [Self::Avx512, Self::Avx2, Self::Portable];

    /// Lower-case name, as command lines spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512",
            Self::Avx2 => "avx2",
            Self::Portable => "portable",
        }
    }

    /// Whether this processor runs the build.
    pub fn is_supported(self) -> bool {
        self.loops().is_some()
    }

    /// The fastest build this processor supports (found once per process).
    pub fn best() -> Self {
        static BEST: OnceLock<CpuInstructionSet> = OnceLock::new();
        *BEST.get_or_init(|| {
            Self::ALL
                .into_iter()
                .find(|set| set.is_supported())
                .unwrap_or(Self::Portable)
        })
    }

    /// The build's loops, when this processor runs it (detected once per process).
    pub(super) fn loops(self) -> Option<RowLoops> {
        static AVX512: OnceLock<Option<RowLoops>> = OnceLock::new();
        static AVX2: OnceLock<Option<RowLoops>> = OnceLock::new();
        match self {
            Self::Avx512 => *AVX512.get_or_init(avx512_loops),
            Self::Avx2 => *AVX2.get_or_init(avx2_loops),
            Self::Portable => Some(PORTABLE),
        }
    }

    /// The set chosen by [`set_cpu_instruction_set`], if any.
    fn selected() -> Option<Self> {
        let code = SELECTED_SET.load(Ordering::Relaxed);
        Self::ALL.into_iter().find(|&set| set as u8 == code)
    }
}

/// The build the CPU sampler uses now: the one [`set_cpu_instruction_set`] chose, else the
/// fastest this processor supports.
pub fn cpu_instruction_set() -> CpuInstructionSet {
    CpuInstructionSet::selected().unwrap_or_else(CpuInstructionSet::best)
}

/// Makes the CPU sampler use `set` (`None`: the fastest supported, the default) for the rows it
/// samples from now on, process-wide; an error when this processor lacks it. Results do not
/// change, only the speed: this exists to compare the builds.
pub fn set_cpu_instruction_set(set: Option<CpuInstructionSet>) -> Result<(), KernelError> {
    let code = match set {
        None => 0,
        Some(set) if set.is_supported() => set as u8,
        Some(set) => {
            return Err(KernelError::InstructionSetUnsupported {
                instruction_set: set.name(),
            })
        }
    };
    SELECTED_SET.store(code, Ordering::Relaxed);
    Ok(())
}

/// The AVX-512 loops when the processor supports them.
#[cfg(target_arch = "x86_64")]
fn avx512_loops() -> Option<RowLoops> {
    super::avx512::loops()
}

/// The AVX2 + FMA loops when the processor supports both.
#[cfg(target_arch = "x86_64")]
fn avx2_loops() -> Option<RowLoops> {
    super::avx2::loops()
}

/// No AVX-512 build on this architecture.
#[cfg(not(target_arch = "x86_64"))]
fn avx512_loops() -> Option<RowLoops> {
    None
}

/// No AVX2 build on this architecture.
#[cfg(not(target_arch = "x86_64"))]
fn avx2_loops() -> Option<RowLoops> {
    None
}

/// Every accelerated build this processor supports, by name (for tests).
#[cfg(test)]
pub(crate) fn accelerated_builds() -> Vec<(&'static str, RowLoops)> {
    CpuInstructionSet::ALL
        .into_iter()
        .filter(|&set| set != CpuInstructionSet::Portable)
        .filter_map(|set| set.loops().map(|loops| (set.name(), loops)))
        .collect()
}
