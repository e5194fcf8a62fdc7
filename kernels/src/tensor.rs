//! Sampling straight from candle tensors (CPU tensors are read in place, without a copy).

use candle_core::{DType, Device, Storage, Tensor};

use crate::error::KernelError;
use crate::params::{SampledToken, SamplingParams};
use crate::philox::RandomKey;
use crate::Sampler;

/// Maps a candle error into the crate's error.
fn tensor_error(error: candle_core::Error) -> KernelError {
    KernelError::Tensor(error.to_string())
}

/// Samples the rows of a `(rows, vocab)` f32 logits tensor on the CPU device with any backend.
///
/// A contiguous f32 tensor is read in place; other dtypes or layouts are converted first.
pub fn sample_tensor(
    sampler: &dyn Sampler,
    logits: &Tensor,
    params: &[SamplingParams],
    keys: &[RandomKey],
    histories: &[&[u32]],
) -> Result<Vec<SampledToken>, KernelError> {
    let (_, vocab_size) = logits.dims2().map_err(tensor_error)?;
    if !logits.device().is_cpu() {
        return Err(KernelError::Tensor(format!(
            "expected a CPU tensor, got one on {:?}",
            logits.device().location()
        )));
    }
    let logits = logits
        .to_dtype(DType::F32)
        .and_then(|tensor| tensor.contiguous())
        .map_err(tensor_error)?;
    let (storage, layout) = logits.storage_and_layout();
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| KernelError::Tensor("tensor is not contiguous".into()))?;
    match &*storage {
        Storage::Cpu(cpu) => {
            let values = cpu.as_slice::<f32>().map_err(tensor_error)?;
            let row_major = values.get(start..end).ok_or_else(|| {
                KernelError::Tensor(format!(
                    "layout offsets {start}..{end} exceed the storage of {} values",
                    values.len()
                ))
            })?;
            sampler.sample_with_history(row_major, vocab_size, params, keys, histories)
        }
        _ => Err(KernelError::Tensor("expected CPU storage".into())),
    }
}

/// Samples candle logits tensors where they live, without copying them to the host first.
pub trait TensorSampler: Send + Sync {
    /// Short backend name ("cpu" or "cuda").
    fn name(&self) -> &'static str;

    /// Samples the rows of a `(rows, vocab)` logits tensor (any float dtype or layout).
    fn sample_tensor(
        &self,
        logits: &Tensor,
        params: &[SamplingParams],
        keys: &[RandomKey],
        histories: &[&[u32]],
    ) -> Result<Vec<SampledToken>, KernelError>;
}

/// CPU tensors through the CPU backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTensorSampler;

impl TensorSampler for CpuTensorSampler {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn sample_tensor(
        &self,
        logits: &Tensor,
        params: &[SamplingParams],
        keys: &[RandomKey],
        histories: &[&[u32]],
    ) -> Result<Vec<SampledToken>, KernelError> {
        sample_tensor(&crate::CpuSampler, logits, params, keys, histories)
    }
}

/// The sampler for tensors on `device` (CPU, or CUDA with feature `candle-cuda`), else an error.
pub fn tensor_sampler_for(device: &Device) -> Result<Box<dyn TensorSampler>, KernelError> {
    match device {
        Device::Cpu => Ok(Box::new(CpuTensorSampler)),
        Device::Cuda(_) => crate::tensor_cuda::tensor_sampler(device),
        other => Err(KernelError::BackendUnavailable {
            backend: "tensor",
            reason: format!(
                "no sampler for tensors on {:?}; use the CPU or a CUDA device",
                other.location()
            ),
        }),
    }
}
