//! [`CudaSampler`]: launches `sample_rows` on host slices or on device buffers.

use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, CudaView, DriverError, LaunchConfig,
    PushKernelArg,
};

use super::{
    compile_kernel, decode_status, pack_row_params, unavailable_reason, BLOCK_THREADS, KERNEL_NAME,
    PARAM_WORDS, STATUS_WORDS,
};
use crate::cpu::check_batch_len;
use crate::error::KernelError;
use crate::history::{row_history, TokenCounts};
use crate::params::{SampledToken, SamplingParams};
use crate::philox::RandomKey;
use crate::Sampler;

/// Maps a driver error into the crate's error, naming the operation.
fn driver_error(operation: &'static str) -> impl Fn(DriverError) -> KernelError {
    move |error| KernelError::Cuda {
        operation,
        message: error.to_string(),
    }
}

/// The CUDA backend: one compiled `sample_rows` kernel on one device stream.
pub struct CudaSampler {
    /// The stream every copy and launch is queued on.
    stream: Arc<CudaStream>,
    /// The loaded kernel.
    function: CudaFunction,
}

impl std::fmt::Debug for CudaSampler {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("CudaSampler")
    }
}

/// Per-batch kernel inputs built on the host.
struct PackedBatch {
    /// PARAM_WORDS words per row.
    params: Vec<u32>,
    /// Concatenated distinct history tokens of every row with active penalties.
    history_tokens: Vec<u32>,
    /// Their occurrence counts.
    history_counts: Vec<u32>,
}

/// Packs parameters and histories (only rows with active penalties carry a history).
fn pack_batch(
    vocab_size: usize,
    params: &[SamplingParams],
    keys: &[RandomKey],
    histories: &[&[u32]],
) -> Result<PackedBatch, KernelError> {
    let mut packed = PackedBatch {
        params: Vec::with_capacity(params.len() * PARAM_WORDS),
        history_tokens: Vec::new(),
        history_counts: Vec::new(),
    };
    for (row, (row_params, key)) in params.iter().zip(keys).enumerate() {
        let counts = TokenCounts::from_history(row_history(histories, row), vocab_size, row)?;
        let offset = packed.history_tokens.len() as u32;
        let length = if row_params.has_penalties() {
            packed
                .history_tokens
                .extend(counts.pairs.iter().map(|&(token, _)| token));
            packed
                .history_counts
                .extend(counts.pairs.iter().map(|&(_, count)| count));
            counts.pairs.len() as u32
        } else {
            0
        };
        packed.params.extend(pack_row_params(
            row_params, *key, vocab_size, offset, length,
        ));
    }
    if packed.history_tokens.is_empty() {
        packed.history_tokens.push(0);
        packed.history_counts.push(0);
    }
    Ok(packed)
}

impl CudaSampler {
    /// Compiles and loads the kernel on device `ordinal`; a clear error when CUDA is unavailable.
    pub fn new(ordinal: usize) -> Result<Self, KernelError> {
        if let Some(reason) = unavailable_reason() {
            return Err(KernelError::BackendUnavailable {
                backend: "cuda",
                reason,
            });
        }
        let context = CudaContext::new(ordinal).map_err(driver_error("context creation"))?;
        Self::on_stream(context.default_stream())
    }

    /// Compiles and loads the kernel into the context of `stream` and runs on that stream (for
    /// buffers owned by another library, e.g. a candle CUDA device's stream).
    pub fn on_stream(stream: Arc<CudaStream>) -> Result<Self, KernelError> {
        let ptx = compile_kernel()?;
        let module = stream
            .context()
            .load_module(ptx)
            .map_err(driver_error("module load"))?;
        let function = module
            .load_function(KERNEL_NAME)
            .map_err(driver_error("kernel lookup"))?;
        Ok(Self { stream, function })
    }

    /// The stream the sampler runs on (device buffers must belong to its context).
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Samples rows whose logits already live on the device (rows × vocab_size, row-major).
    pub fn sample_device(
        &self,
        logits: &CudaView<'_, f32>,
        vocab_size: usize,
        params: &[SamplingParams],
        keys: &[RandomKey],
        histories: &[&[u32]],
    ) -> Result<Vec<SampledToken>, KernelError> {
        let rows = check_batch_len(logits.len(), vocab_size, params, keys, histories)?;
        if rows == 0 {
            return Ok(Vec::new());
        }
        let packed = pack_batch(vocab_size, params, keys, histories)?;
        let stream = &self.stream;
        let upload = driver_error("host-to-device copy");
        let params_device = stream.clone_htod(&packed.params).map_err(&upload)?;
        let tokens_device = stream.clone_htod(&packed.history_tokens).map_err(&upload)?;
        let counts_device = stream.clone_htod(&packed.history_counts).map_err(&upload)?;
        let allocate = driver_error("allocation");
        let mut scratch: CudaSlice<f32> = stream
            .alloc_zeros(rows * vocab_size.max(1))
            .map_err(&allocate)?;
        let mut tokens: CudaSlice<u32> = stream.alloc_zeros(rows).map_err(&allocate)?;
        let mut logprobs: CudaSlice<f32> = stream.alloc_zeros(rows).map_err(&allocate)?;
        let mut processed: CudaSlice<f32> = stream.alloc_zeros(rows).map_err(&allocate)?;
        let mut status: CudaSlice<u32> =
            stream.alloc_zeros(rows * STATUS_WORDS).map_err(&allocate)?;
        let vocab = vocab_size as u32;
        let config = LaunchConfig {
            grid_dim: (rows as u32, 1, 1),
            block_dim: (BLOCK_THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = stream.launch_builder(&self.function);
        launch
            .arg(logits)
            .arg(&vocab)
            .arg(&params_device)
            .arg(&tokens_device)
            .arg(&counts_device)
            .arg(&mut scratch)
            .arg(&mut tokens)
            .arg(&mut logprobs)
            .arg(&mut processed)
            .arg(&mut status);
        // SAFETY: the argument list matches `sample_rows` in order and type; every buffer holds the
        // element count the kernel indexes (rows × vocab, rows, rows × STATUS_WORDS, packed params).
        unsafe { launch.launch(config) }.map_err(driver_error("kernel launch"))?;
        let download = driver_error("device-to-host copy");
        let status = stream.clone_dtoh(&status).map_err(&download)?;
        let tokens = stream.clone_dtoh(&tokens).map_err(&download)?;
        let logprobs = stream.clone_dtoh(&logprobs).map_err(&download)?;
        let processed = stream.clone_dtoh(&processed).map_err(&download)?;
        (0..rows)
            .map(|row| {
                decode_status(
                    &status[row * STATUS_WORDS..(row + 1) * STATUS_WORDS],
                    &params[row],
                    row,
                )?;
                Ok(SampledToken {
                    token: tokens[row],
                    logprob: logprobs[row],
                    processed_logprob: processed[row],
                })
            })
            .collect()
    }
}

impl Sampler for CudaSampler {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn sample_with_history(
        &self,
        logits: &[f32],
        vocab_size: usize,
        params: &[SamplingParams],
        keys: &[RandomKey],
        histories: &[&[u32]],
    ) -> Result<Vec<SampledToken>, KernelError> {
        let rows = check_batch_len(logits.len(), vocab_size, params, keys, histories)?;
        if logits.is_empty() {
            // Zero rows sample nothing; rows of an empty vocabulary hold no finite logit.
            return match rows {
                0 => Ok(Vec::new()),
                _ => Err(KernelError::NoFiniteLogit { row: 0 }),
            };
        }
        let device = self
            .stream
            .clone_htod(logits)
            .map_err(driver_error("host-to-device copy"))?;
        self.sample_device(&device.as_view(), vocab_size, params, keys, histories)
    }
}
