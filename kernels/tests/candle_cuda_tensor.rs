//! Sampling candle CUDA tensors in place gives exactly what the CPU backend gives on the same
//! logits (feature `candle-cuda`; skipped with a message when no CUDA device is present).
#![cfg(feature = "candle-cuda")]

use candle_core::{DType, Device, Tensor};
use medgym_kernels::cuda::CudaSampler;
use medgym_kernels::{
    sample_cuda_tensor, tensor_sampler_for, CpuSampler, RandomKey, Sampler, SamplingParams,
};

const ROWS: usize = 96;
const VOCAB: usize = 3001;

fn logits() -> Vec<f32> {
    (0..ROWS * VOCAB)
        .map(|i| ((i * 7919) % 1013) as f32 * 0.011 - 6.0)
        .collect()
}

fn params() -> Vec<SamplingParams> {
    (0..ROWS)
        .map(|row| match row % 4 {
            0 => SamplingParams::greedy(),
            1 => SamplingParams::new(0.8, 40, 1.0),
            2 => SamplingParams::new(1.1, 0, 0.9),
            _ => SamplingParams {
                repetition_penalty: 1.4,
                min_p: 0.05,
                ..SamplingParams::default()
            },
        })
        .collect()
}

#[test]
fn cuda_tensors_sample_like_the_cpu() {
    let device = match Device::new_cuda(0) {
        Ok(device) => device,
        Err(error) => {
            eprintln!("SKIP: sampling candle CUDA tensors needs a CUDA device: {error}");
            return;
        }
    };
    let stream = device.as_cuda_device().expect("cuda device").cuda_stream();
    let sampler = CudaSampler::on_stream(stream).expect("sampler on candle's stream");
    let host = logits();
    let params = params();
    let keys: Vec<RandomKey> = (0..ROWS as u64)
        .map(|row| RandomKey::new(11, row, 4))
        .collect();
    let history: Vec<u32> = vec![3, 5, 5, 700];
    let histories: Vec<&[u32]> = vec![&history; ROWS];
    let expected = CpuSampler
        .sample_with_history(&host, VOCAB, &params, &keys, &histories)
        .expect("cpu sampling");
    let tensor = Tensor::from_vec(host.clone(), (ROWS, VOCAB), &device).expect("device tensor");
    let got = sample_cuda_tensor(&sampler, &tensor, &params, &keys, &histories)
        .expect("device tensor sampling");
    assert_eq!(got, expected, "contiguous f32 tensor");
    // The device's own sampler, as `medgym generate` picks it, reads the same buffer.
    let chosen = tensor_sampler_for(&device).expect("sampler for the CUDA device");
    assert_eq!(chosen.name(), "cuda");
    let got = chosen
        .sample_tensor(&tensor, &params, &keys, &histories)
        .expect("chosen sampler");
    assert_eq!(got, expected, "sampler chosen for the device");
    // A strided view (the transpose of a transposed copy) and a bf16 tensor are made contiguous
    // f32 first; the bf16 case is compared with the CPU backend on the same rounded values.
    let strided = tensor
        .t()
        .and_then(|t| t.contiguous())
        .and_then(|t| t.t())
        .expect("strided view");
    let got = sample_cuda_tensor(&sampler, &strided, &params, &keys, &histories)
        .expect("strided sampling");
    assert_eq!(got, expected, "strided tensor");
    let half = tensor.to_dtype(DType::BF16).expect("bf16");
    let rounded: Vec<f32> = half
        .to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .expect("rounded values");
    let expected_half = CpuSampler
        .sample_with_history(&rounded, VOCAB, &params, &keys, &histories)
        .expect("cpu sampling of rounded values");
    let got =
        sample_cuda_tensor(&sampler, &half, &params, &keys, &histories).expect("bf16 sampling");
    assert_eq!(got, expected_half, "bf16 tensor");
    let on_cpu = Tensor::from_vec(host, (ROWS, VOCAB), &Device::Cpu).expect("cpu tensor");
    assert!(sample_cuda_tensor(&sampler, &on_cpu, &params, &keys, &histories).is_err());
    assert!(chosen
        .sample_tensor(&on_cpu, &params, &keys, &histories)
        .is_err());
    // A tensor of another candle handle is refused (that handle may run on its own stream).
    let other = Device::new_cuda(0).expect("second handle");
    let elsewhere = tensor.to_device(&other).expect("copy to the second handle");
    let err = chosen
        .sample_tensor(&elsewhere, &params, &keys, &histories)
        .expect_err("another handle");
    assert!(
        err.to_string().contains("another candle device handle"),
        "{err}"
    );
}
