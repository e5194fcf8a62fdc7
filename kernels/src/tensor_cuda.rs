//! Sampling candle CUDA tensors in place (feature `candle-cuda`).

use candle_core::{DType, Device, Storage, Tensor};

use crate::cuda::CudaSampler;
use crate::error::KernelError;
use crate::params::{SampledToken, SamplingParams};
use crate::philox::RandomKey;
use crate::tensor::TensorSampler;

/// Maps a candle error into the crate's error.
fn tensor_error(error: candle_core::Error) -> KernelError {
    KernelError::Tensor(error.to_string())
}

/// Samples the rows of a `(rows, vocab)` logits tensor that lives on a candle CUDA device, reading
/// its device buffer without a copy. `sampler` should run on the tensor's stream
/// ([`CudaSampler::on_stream`] with `device.as_cuda_device()?.cuda_stream()`).
pub fn sample_cuda_tensor(
    sampler: &CudaSampler,
    logits: &Tensor,
    params: &[SamplingParams],
    keys: &[RandomKey],
    histories: &[&[u32]],
) -> Result<Vec<SampledToken>, KernelError> {
    let (_, vocab_size) = logits.dims2().map_err(tensor_error)?;
    let logits = logits
        .to_dtype(DType::F32)
        .and_then(|tensor| tensor.contiguous())
        .map_err(tensor_error)?;
    let (storage, layout) = logits.storage_and_layout();
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| KernelError::Tensor("tensor is not contiguous".into()))?;
    match &*storage {
        Storage::Cuda(cuda) => {
            let slice = cuda.as_cuda_slice::<f32>().map_err(tensor_error)?;
            let view = slice.slice(start..end);
            sampler.sample_device(&view, vocab_size, params, keys, histories)
        }
        _ => Err(KernelError::Tensor(
            "expected a tensor on a CUDA device".into(),
        )),
    }
}

/// The CUDA backend on a candle CUDA device's stream, sampling its tensors without a host copy.
///
/// candle queues work on a per-thread stream: sample from the thread that computed the logits, so
/// the kernel runs after them.
pub struct CudaTensorSampler {
    /// The device whose tensors this sampler reads.
    device: Device,
    /// The kernel, loaded on the device's stream.
    sampler: CudaSampler,
}

impl TensorSampler for CudaTensorSampler {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn sample_tensor(
        &self,
        logits: &Tensor,
        params: &[SamplingParams],
        keys: &[RandomKey],
        histories: &[&[u32]],
    ) -> Result<Vec<SampledToken>, KernelError> {
        if !logits.device().same_device(&self.device) {
            return Err(KernelError::Tensor(format!(
                "the tensor is on {:?} through another candle device handle than the sampler's \
                 (build the sampler from the tensor's own device)",
                logits.device().location()
            )));
        }
        sample_cuda_tensor(&self.sampler, logits, params, keys, histories)
    }
}

impl CudaTensorSampler {
    /// Loads the kernel on the stream candle hands this thread for `device`.
    pub fn new(device: &Device) -> Result<Self, KernelError> {
        let stream = device.as_cuda_device().map_err(tensor_error)?.cuda_stream();
        Ok(Self {
            device: device.clone(),
            sampler: CudaSampler::on_stream(stream)?,
        })
    }
}

/// The CUDA tensor sampler of a candle CUDA device.
pub(crate) fn tensor_sampler(device: &Device) -> Result<Box<dyn TensorSampler>, KernelError> {
    Ok(Box::new(CudaTensorSampler::new(device)?))
}
