//! [`CudaSampler`]: launches `sample_rows` on host slices or on device buffers.

use std::sync::{Arc, Mutex};

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, CudaView, DriverError, LaunchConfig,
    PushKernelArg,
};

use super::{
    compile_kernel, decode_status, pack_row_params, unavailable_reason, BLOCK_THREADS, KERNEL_NAME,
    OUT_WORDS, PARAM_WORDS, STATUS_WORDS,
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
    /// Scratch kept between calls (3 × rows × vocab words: processed logits, exponentials and
    /// radix-select candidates).
    scratch: Mutex<Option<CudaSlice<f32>>>,
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

impl PackedBatch {
    /// One upload buffer: parameters, history tokens, history counts; with the two offsets.
    fn into_words(self) -> Result<(Vec<u32>, u32, u32), KernelError> {
        let tokens_at = self.params.len();
        let counts_at = tokens_at + self.history_tokens.len();
        let too_large = || KernelError::Cuda {
            operation: "packing the batch",
            message: format!("{counts_at} parameter and history words exceed the u32 index range"),
        };
        let tokens_at = u32::try_from(tokens_at).map_err(|_| too_large())?;
        let counts_at_u32 = u32::try_from(counts_at).map_err(|_| too_large())?;
        let mut words = self.params;
        words.extend(self.history_tokens);
        words.extend(self.history_counts);
        Ok((words, tokens_at, counts_at_u32))
    }
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
        Ok(Self {
            stream,
            function,
            scratch: Mutex::new(None),
        })
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
        let (words, tokens_at, counts_at) =
            pack_batch(vocab_size, params, keys, histories)?.into_words()?;
        let stream = &self.stream;
        let words_device = stream
            .clone_htod(&words)
            .map_err(driver_error("host-to-device copy"))?;
        let allocate = driver_error("allocation");
        let mut out: CudaSlice<u32> = stream.alloc_zeros(rows * OUT_WORDS).map_err(&allocate)?;
        let scratch_len = rows * vocab_size.max(1) * 3;
        let mut scratch_slot = self.scratch.lock().map_err(|_| KernelError::Cuda {
            operation: "scratch lock",
            message: "a previous call panicked while holding the scratch buffer".into(),
        })?;
        let scratch = match scratch_slot.take() {
            Some(buffer) if buffer.len() >= scratch_len => scratch_slot.insert(buffer),
            too_small => {
                // Free the old buffer before allocating the larger one.
                drop(too_small);
                // SAFETY: the kernel writes every scratch element of a row before reading it.
                let fresh = unsafe { stream.alloc::<f32>(scratch_len) }.map_err(&allocate)?;
                scratch_slot.insert(fresh)
            }
        };
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
            .arg(&words_device)
            .arg(&tokens_at)
            .arg(&counts_at)
            .arg(scratch)
            .arg(&mut out);
        // SAFETY: the argument list matches `sample_rows` in order and type; the scratch holds
        // 3 × rows × vocab words, `out` rows × OUT_WORDS words, and `words_device` the packed
        // parameters followed by the history tokens and counts at the given offsets.
        unsafe { launch.launch(config) }.map_err(driver_error("kernel launch"))?;
        let out = stream
            .clone_dtoh(&out)
            .map_err(driver_error("device-to-host copy"))?;
        drop(scratch_slot);
        out.chunks_exact(OUT_WORDS)
            .zip(params)
            .enumerate()
            .map(|(row, (words, row_params))| {
                decode_status(&words[..STATUS_WORDS], row_params, row)?;
                Ok(SampledToken {
                    token: words[STATUS_WORDS],
                    logprob: f32::from_bits(words[STATUS_WORDS + 1]),
                    processed_logprob: f32::from_bits(words[STATUS_WORDS + 2]),
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
