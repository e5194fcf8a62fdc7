//! The CUDA backend: `sample_rows.cu` compiled at run time by NVRTC (through cudarc with dynamic
//! loading), one block per row, bit-identical to the CPU backend.
//!
//! No CUDA library is needed to build or to run the CPU backend: the driver and NVRTC are probed
//! with cudarc's `is_culib_present` before any other cudarc call (which would otherwise panic).
//! NVRTC is found by the dynamic loader, so its directory (e.g. the `nvidia/cuda_nvrtc/lib` folder of
//! the `nvidia-cuda-nvrtc-cu12` wheel) must be on `LD_LIBRARY_PATH`.

mod sampler;

use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions, Ptx};

use crate::detmath::{cuda_constants_prelude, top_p_fixed};
use crate::error::KernelError;
use crate::params::SamplingParams;
use crate::philox::RandomKey;

pub use sampler::CudaSampler;

/// Name of the kernel entry point.
pub const KERNEL_NAME: &str = "sample_rows";
/// Threads per block (one block per row), as in the source.
pub const BLOCK_THREADS: u32 = 1024;
/// u32 words of packed parameters per row.
pub const PARAM_WORDS: usize = 16;
/// u32 status words per row: code, token index, logit bits, processed-value bits.
pub const STATUS_WORDS: usize = 4;
/// u32 output words per row: the status words, then token, log-prob bits, processed log-prob bits
/// and one unused word.
pub const OUT_WORDS: usize = 8;
/// The kernel body (without the constants prelude).
const KERNEL_BODY: &str = include_str!("sample_rows.cu");

/// Whether the NVRTC shared library can be loaded.
pub fn nvrtc_available() -> bool {
    library_probe::nvrtc()
}

/// Whether the CUDA driver library can be loaded.
pub fn driver_available() -> bool {
    library_probe::driver()
}

#[cfg(not(feature = "candle-cuda"))]
mod library_probe {
    //! cudarc loads the CUDA libraries at run time: probe them before any other call.

    /// Whether libnvrtc can be loaded.
    pub fn nvrtc() -> bool {
        // SAFETY: only tries to dlopen the library names cudarc knows; nothing is called through it.
        unsafe { cudarc::nvrtc::sys::is_culib_present() }
    }

    /// Whether libcuda can be loaded.
    pub fn driver() -> bool {
        // SAFETY: only tries to dlopen the driver library; nothing is called through it.
        unsafe { cudarc::driver::sys::is_culib_present() }
    }
}

#[cfg(feature = "candle-cuda")]
mod library_probe {
    //! With candle's CUDA build, cudarc links the CUDA libraries at build time: a running program
    //! has them.

    /// Always true: libnvrtc is linked.
    pub fn nvrtc() -> bool {
        true
    }

    /// Always true: libcuda is linked.
    pub fn driver() -> bool {
        true
    }
}

/// Why the CUDA backend cannot run here, or `None` when the driver, NVRTC and a device are present.
pub fn unavailable_reason() -> Option<String> {
    if !driver_available() {
        return Some("the CUDA driver library (libcuda) is not installed".into());
    }
    if !nvrtc_available() {
        return Some(
            "NVRTC (libnvrtc) was not found on LD_LIBRARY_PATH (pip install nvidia-cuda-nvrtc-cu12)"
                .into(),
        );
    }
    match cudarc::driver::CudaContext::device_count() {
        Ok(count) if count > 0 => None,
        Ok(_) => Some("no CUDA device is visible".into()),
        Err(error) => Some(format!("the CUDA driver failed to start: {error}")),
    }
}

/// The complete CUDA source: exact constants prelude followed by the kernel.
pub fn kernel_source() -> String {
    cuda_constants_prelude() + KERNEL_BODY
}

/// NVRTC options: no contraction of multiply-adds, IEEE denormals and division.
pub fn compile_options() -> CompileOptions {
    CompileOptions {
        fmad: Some(false),
        ftz: Some(false),
        prec_div: Some(true),
        prec_sqrt: Some(true),
        use_fast_math: Some(false),
        name: Some("sample_rows.cu".into()),
        ..Default::default()
    }
}

/// Compiles the kernel to PTX with NVRTC (an error, not a panic, when NVRTC is absent).
pub fn compile_kernel() -> Result<Ptx, KernelError> {
    if !nvrtc_available() {
        return Err(KernelError::BackendUnavailable {
            backend: "cuda",
            reason: "NVRTC (libnvrtc) was not found on LD_LIBRARY_PATH".into(),
        });
    }
    compile_ptx_with_opts(kernel_source(), compile_options()).map_err(|error| KernelError::Cuda {
        operation: "NVRTC compilation of sample_rows.cu",
        message: error.to_string(),
    })
}

/// Packs one row's parameters for the kernel (layout documented in `sample_rows.cu`).
pub fn pack_row_params(
    params: &SamplingParams,
    key: RandomKey,
    vocab_size: usize,
    history_offset: u32,
    history_length: u32,
) -> [u32; PARAM_WORDS] {
    let top_k = if params.top_k > 0 && params.top_k < vocab_size {
        params.top_k as u32
    } else {
        0
    };
    let top_p = top_p_fixed(params.top_p);
    let counter = key.counter();
    let key_words = key.key_words();
    [
        params.temperature.to_bits(),
        params.min_p.to_bits(),
        params.repetition_penalty.to_bits(),
        params.presence_penalty.to_bits(),
        params.frequency_penalty.to_bits(),
        top_k,
        top_p as u32,
        (top_p >> 32) as u32,
        key_words[0],
        key_words[1],
        counter[2],
        counter[3],
        counter[0],
        counter[1],
        history_offset,
        history_length,
    ]
}

/// Turns a row's status words into the same error the CPU backend reports (`Ok` for success).
pub fn decode_status(
    status: &[u32],
    params: &SamplingParams,
    row: usize,
) -> Result<(), KernelError> {
    let word = |position: usize| status.get(position).copied().unwrap_or(0);
    let index = word(1) as usize;
    let logit = f32::from_bits(word(2));
    match word(0) {
        0 => Ok(()),
        1 => Err(KernelError::NonFiniteLogit {
            row,
            index,
            value: logit,
        }),
        2 => Err(KernelError::NoFiniteLogit { row }),
        3 => Err(KernelError::ScaledLogitOverflow {
            row,
            index,
            logit,
            temperature: params.temperature,
        }),
        4 => Err(KernelError::PenalisedLogitOverflow {
            row,
            index,
            logit,
            penalised: f32::from_bits(word(3)),
        }),
        _ => Err(KernelError::DrawFailed { row }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_params_follow_the_documented_layout() {
        let mut params = SamplingParams::new(0.5, 7, 0.5);
        params.min_p = 0.25;
        let words = pack_row_params(&params, RandomKey::new(0x1_0000_0002, 3, 4), 100, 9, 2);
        assert_eq!(words[0], 0.5f32.to_bits());
        assert_eq!(words[1], 0.25f32.to_bits());
        assert_eq!(words[5], 7);
        assert_eq!((words[6], words[7]), (1 << 31, 0));
        assert_eq!((words[8], words[9]), (2, 1));
        assert_eq!((words[10], words[11], words[12], words[13]), (3, 0, 4, 0));
        assert_eq!((words[14], words[15]), (9, 2));
        let off = pack_row_params(
            &SamplingParams::new(1.0, 100, 1.0),
            RandomKey::new(0, 0, 0),
            100,
            0,
            0,
        );
        assert_eq!(off[5], 0);
        assert_eq!((off[6], off[7]), (0, 1));
    }

    #[test]
    fn status_words_decode_to_cpu_errors() {
        let params = SamplingParams::default();
        assert_eq!(decode_status(&[0, 0, 0, 0], &params, 3), Ok(()));
        assert_eq!(
            decode_status(&[1, 5, f32::NAN.to_bits(), 0], &params, 3).map_err(|e| matches!(
                e,
                KernelError::NonFiniteLogit {
                    row: 3,
                    index: 5,
                    ..
                }
            )),
            Err(true)
        );
        assert_eq!(
            decode_status(&[2, 0, 0, 0], &params, 1),
            Err(KernelError::NoFiniteLogit { row: 1 })
        );
    }
}
