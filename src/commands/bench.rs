//! `medgym bench`: micro-benchmarks. `medgym bench sampling` times the sampling kernels and
//! compares each call with one memory pass over the logits, measured in the same run;
//! `medgym bench rewards` compares reward scoring with a byte scan (see [`super::bench_rewards`]).

use std::time::{Duration, Instant};

use medgym_kernels::cuda::CudaSampler;
use medgym_kernels::{
    cpu_instruction_set, philox4x32_10, set_cpu_instruction_set, CpuInstructionSet, CpuSampler,
    RandomKey, Sampler, SamplingParams,
};

use crate::{MedgymError, Result};

/// Arguments of `medgym bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BenchCommand {
    /// Median time per sampling call and its cost in memory passes over the logits.
    Sampling(SamplingBenchArgs),
    /// Reward scoring throughput and its time against a memchr scan, measured side by side.
    Rewards(super::bench_rewards::RewardBenchArgs),
}

/// Which sampling parameters to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// Temperature 0.
    Greedy,
    /// Temperature 1, no filter (softmax + multinomial).
    Plain,
    /// Top-k 50.
    TopK,
    /// Top-p 0.9.
    TopP,
    /// Min-p 0.05.
    MinP,
    /// Every mode above.
    All,
}

impl Mode {
    /// The modes `self` stands for, with their parameters.
    fn expand(self) -> Vec<(&'static str, SamplingParams)> {
        let plain = SamplingParams::default();
        let all = [
            ("greedy", SamplingParams::greedy()),
            ("plain", plain),
            ("top-k 50", SamplingParams { top_k: 50, ..plain }),
            (
                "top-p 0.9",
                SamplingParams {
                    top_p: 0.9,
                    ..plain
                },
            ),
            (
                "min-p 0.05",
                SamplingParams {
                    min_p: 0.05,
                    ..plain
                },
            ),
        ];
        let wanted = match self {
            Mode::Greedy => 0,
            Mode::Plain => 1,
            Mode::TopK => 2,
            Mode::TopP => 3,
            Mode::MinP => 4,
            Mode::All => return all.to_vec(),
        };
        vec![all[wanted]]
    }
}

/// Which backend to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    /// The multi-threaded CPU backend.
    Cpu,
    /// The NVRTC-compiled CUDA kernel (logits already on the device).
    Cuda,
}

/// Which build of the CPU backend's row loops to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum InstructionSet {
    /// The fastest this processor supports.
    Best,
    /// AVX-512.
    Avx512,
    /// AVX2 + FMA.
    Avx2,
    /// Plain Rust.
    Portable,
    /// Every build this processor supports, one after another in the same run.
    All,
}

impl InstructionSet {
    /// The builds `self` stands for (`None`: the fastest supported); an error names a build
    /// this processor lacks.
    fn expand(self) -> Result<Vec<Option<CpuInstructionSet>>> {
        let named = match self {
            Self::Best => return Ok(vec![None]),
            Self::All => {
                return Ok(CpuInstructionSet::ALL
                    .into_iter()
                    .filter(|set| set.is_supported())
                    .map(Some)
                    .collect())
            }
            Self::Avx512 => CpuInstructionSet::Avx512,
            Self::Avx2 => CpuInstructionSet::Avx2,
            Self::Portable => CpuInstructionSet::Portable,
        };
        if !named.is_supported() {
            return Err(MedgymError::InvalidSetting {
                field: "--instruction-set".into(),
                reason: format!("this processor cannot run the {} build", named.name()),
            });
        }
        Ok(vec![Some(named)])
    }
}

#[derive(Debug, clap::Args)]
struct SamplingBenchArgs {
    /// Rows per call.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Vocabulary size (logits per row).
    #[arg(long, default_value_t = 151_936)]
    vocab: usize,
    /// Parameters to time.
    #[arg(long, value_enum, default_value_t = Mode::All)]
    mode: Mode,
    /// Backend to time.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Build of the CPU backend's row loops (every build gives the same tokens).
    #[arg(long, value_enum, default_value_t = InstructionSet::Best)]
    instruction_set: InstructionSet,
    /// Timed calls per mode (after one warm-up call).
    #[arg(long, default_value_t = 15)]
    iterations: usize,
    /// Seed of the synthetic logits and of the draws.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// Runs `medgym bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    match args.command {
        BenchCommand::Sampling(args) => sampling(&args),
        BenchCommand::Rewards(args) => super::bench_rewards::run(&args),
    }
}

/// Synthetic LM-like logits: a sum of four uniforms (≈ normal, σ ≈ 2.3) plus a few strong tokens.
fn synthetic_logits(rows: usize, vocab: usize, seed: u64) -> Vec<f32> {
    let key = [seed as u32, (seed >> 32) as u32];
    let to_unit = |word: u32| word as f32 * (1.0 / 4_294_967_296.0);
    let mut logits = Vec::with_capacity(rows * vocab);
    for row in 0..rows {
        for index in 0..vocab {
            let words = philox4x32_10([index as u32, row as u32, 0, 0], key);
            let sum: f32 = words.iter().map(|&word| to_unit(word)).sum();
            let strong = if words[0] >> 20 == 0 { 12.0 } else { 0.0 };
            logits.push((sum - 2.0) * 4.0 + strong);
        }
    }
    logits
}

/// Median of the durations, in microseconds.
fn median_micros(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times
        .get(times.len() / 2)
        .map_or(0.0, |time| time.as_secs_f64() * 1e6)
}

/// Times `call` once to warm up and then `iterations` times; returns the median in µs.
fn time_median(iterations: usize, mut call: impl FnMut() -> Result<()>) -> Result<f64> {
    call()?;
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations.max(1) {
        let start = Instant::now();
        call()?;
        times.push(start.elapsed());
    }
    Ok(median_micros(times))
}

/// Median time of one host memory pass over `logits`: half of a multi-threaded copy (read + write).
fn host_pass_micros(logits: &[f32], iterations: usize) -> Result<f64> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut copy = vec![0.0f32; logits.len()];
    let chunk = logits.len().div_ceil(threads).max(1);
    let copy_micros = time_median(iterations, || {
        std::thread::scope(|scope| {
            for (source, target) in logits.chunks(chunk).zip(copy.chunks_mut(chunk)) {
                scope.spawn(move || target.copy_from_slice(source));
            }
        });
        std::hint::black_box(&copy);
        Ok(())
    })?;
    Ok(copy_micros / 2.0)
}

/// Median time of one read of `logits` on one thread (a bitwise fold of every value).
fn host_read_micros(logits: &[f32], iterations: usize) -> Result<f64> {
    time_median(iterations, || {
        let folded = logits
            .iter()
            .fold(0u32, |folded, value| folded ^ value.to_bits());
        std::hint::black_box(folded);
        Ok(())
    })
}

/// `medgym bench sampling`.
fn sampling(args: &SamplingBenchArgs) -> Result<()> {
    if args.batch == 0 || args.vocab == 0 {
        return Err(MedgymError::InvalidSetting {
            field: "batch/vocab".into(),
            reason: "both must be positive".into(),
        });
    }
    let logits = synthetic_logits(args.batch, args.vocab, args.seed);
    let bytes = std::mem::size_of_val(logits.as_slice());
    let keys: Vec<RandomKey> = (0..args.batch as u64)
        .map(|row| RandomKey::new(args.seed, row, 0))
        .collect();
    let modes = args.mode.expand();
    match args.backend {
        Backend::Cpu => {
            let pass = host_pass_micros(&logits, args.iterations)?;
            let read = host_read_micros(&logits, args.iterations)?;
            println!(
                "backend cpu ({} threads), batch {}, vocab {}, logits {:.1} MB",
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                args.batch,
                args.vocab,
                bytes as f64 / 1e6
            );
            println!(
                "one memory pass: {:.0} µs ({:.1} GB/s copy bandwidth); one read on one thread: \
                 {:.0} µs",
                pass,
                bytes as f64 / pass / 1e3,
                read
            );
            for set in args.instruction_set.expand()? {
                set_cpu_instruction_set(set)?;
                println!("instruction set {}", cpu_instruction_set().name());
                for &(name, params) in &modes {
                    let batch_params = vec![params; args.batch];
                    let median = time_median(args.iterations, || {
                        CpuSampler.sample(&logits, args.vocab, &batch_params, &keys)?;
                        Ok(())
                    })?;
                    println!(
                        "{name:<12} median {median:>10.0} µs per call = {:>6.2} memory passes \
                         = {:>5.2} one-thread reads",
                        median / pass,
                        median / read
                    );
                }
            }
            set_cpu_instruction_set(None)?;
        }
        Backend::Cuda => {
            if args.instruction_set != InstructionSet::Best {
                return Err(MedgymError::InvalidSetting {
                    field: "--instruction-set".into(),
                    reason: "chooses a build of the CPU backend; not used with --backend cuda"
                        .into(),
                });
            }
            let sampler = CudaSampler::new(0)?;
            let stream = sampler.stream().clone();
            let device_logits = stream.clone_htod(&logits).map_err(cuda_error)?;
            let mut copy = stream.clone_dtod(&device_logits).map_err(cuda_error)?;
            let pass = time_median(args.iterations, || {
                stream
                    .memcpy_dtod(&device_logits, &mut copy)
                    .map_err(cuda_error)?;
                stream.synchronize().map_err(cuda_error)
            })? / 2.0;
            println!(
                "backend cuda, batch {}, vocab {}, logits {:.1} MB",
                args.batch,
                args.vocab,
                bytes as f64 / 1e6
            );
            println!(
                "one device memory pass: {:.1} µs ({:.0} GB/s copy bandwidth)",
                pass,
                bytes as f64 / pass / 1e3
            );
            for (name, params) in modes {
                let batch_params = vec![params; args.batch];
                let median = time_median(args.iterations, || {
                    sampler.sample_device(
                        &device_logits.as_view(),
                        args.vocab,
                        &batch_params,
                        &keys,
                        &[],
                    )?;
                    Ok(())
                })?;
                println!(
                    "{name:<12} median {median:>10.1} µs per call = {:>6.2} memory passes",
                    median / pass
                );
            }
        }
    }
    Ok(())
}

/// Wraps a CUDA driver error of the benchmark's own copies.
fn cuda_error(error: impl std::fmt::Display) -> MedgymError {
    MedgymError::Kernel(medgym_kernels::KernelError::Cuda {
        operation: "benchmark copy",
        message: error.to_string(),
    })
}
