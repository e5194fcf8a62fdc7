//! Backend selection behind the [`Sampler`] trait.

use crate::cpu::CpuSampler;
use crate::cuda::{unavailable_reason, CudaSampler};
use crate::error::KernelError;
use crate::Sampler;

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// CUDA when the driver, NVRTC and a device are present, otherwise the CPU.
    Auto,
    /// Always the CPU.
    Cpu,
    /// CUDA or a clear error saying why it cannot run.
    Cuda,
}

impl std::str::FromStr for BackendChoice {
    type Err = KernelError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(KernelError::BackendUnavailable {
                backend: "unknown",
                reason: format!("no backend named {other:?} (expected auto, cpu or cuda)"),
            }),
        }
    }
}

/// A selected backend and, when `Auto` fell back to the CPU, why CUDA was not used.
pub struct SelectedBackend {
    /// The sampler to use.
    pub sampler: Box<dyn Sampler>,
    /// Why CUDA was skipped (only for `Auto` on a machine without CUDA).
    pub fallback_reason: Option<String>,
}

/// Builds the requested backend. CUDA is only attempted after probing the driver and NVRTC
/// libraries, so a machine without CUDA gets an error (or, for `Auto`, the CPU), never a panic.
pub fn select_backend(choice: BackendChoice) -> Result<SelectedBackend, KernelError> {
    match choice {
        BackendChoice::Cpu => Ok(SelectedBackend {
            sampler: Box::new(CpuSampler),
            fallback_reason: None,
        }),
        BackendChoice::Cuda => Ok(SelectedBackend {
            sampler: Box::new(CudaSampler::new(0)?),
            fallback_reason: None,
        }),
        BackendChoice::Auto => match unavailable_reason() {
            Some(reason) => Ok(SelectedBackend {
                sampler: Box::new(CpuSampler),
                fallback_reason: Some(reason),
            }),
            None => match CudaSampler::new(0) {
                Ok(sampler) => Ok(SelectedBackend {
                    sampler: Box::new(sampler),
                    fallback_reason: None,
                }),
                Err(error) => Ok(SelectedBackend {
                    sampler: Box::new(CpuSampler),
                    fallback_reason: Some(error.to_string()),
                }),
            },
        },
    }
}
