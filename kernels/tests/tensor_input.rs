//! Sampling from candle CPU tensors gives exactly what sampling the same host slice gives.

use candle_core::{DType, Device, Tensor};
use medgym_kernels::{
    sample_tensor, tensor_sampler_for, CpuSampler, KernelError, RandomKey, Sampler, SamplingParams,
};

fn batch() -> (Vec<f32>, Vec<SamplingParams>, Vec<RandomKey>) {
    let logits: Vec<f32> = (0..6 * 50)
        .map(|i| ((i * 7919) % 211) as f32 * 0.05 - 5.0)
        .collect();
    let params = vec![
        SamplingParams::greedy(),
        SamplingParams::default(),
        SamplingParams::new(0.7, 5, 1.0),
        SamplingParams::new(1.2, 0, 0.8),
        SamplingParams {
            min_p: 0.2,
            ..SamplingParams::default()
        },
        SamplingParams {
            repetition_penalty: 1.5,
            ..SamplingParams::default()
        },
    ];
    let keys = (0..6).map(|row| RandomKey::new(3, row, 9)).collect();
    (logits, params, keys)
}

#[test]
fn contiguous_and_strided_tensors_match_slices() {
    let (logits, params, keys) = batch();
    let histories: Vec<&[u32]> = vec![&[1, 2]; 6];
    let expected = CpuSampler
        .sample_with_history(&logits, 50, &params, &keys, &histories)
        .expect("slice sampling");
    let tensor = Tensor::from_vec(logits.clone(), (6, 50), &Device::Cpu).expect("tensor");
    let got =
        sample_tensor(&CpuSampler, &tensor, &params, &keys, &histories).expect("tensor sampling");
    assert_eq!(got, expected);
    let transposed = tensor
        .t()
        .and_then(|t| t.contiguous())
        .and_then(|t| t.t())
        .expect("view");
    assert!(!transposed.is_contiguous());
    let got = sample_tensor(&CpuSampler, &transposed, &params, &keys, &histories).expect("strided");
    assert_eq!(got, expected);
    let narrowed = Tensor::from_vec(logits.clone(), (6, 50), &Device::Cpu)
        .and_then(|t| t.narrow(0, 2, 3))
        .expect("narrow");
    let got = sample_tensor(
        &CpuSampler,
        &narrowed,
        &params[2..5],
        &keys[2..5],
        &histories[2..5],
    )
    .expect("offset view");
    assert_eq!(got, expected[2..5].to_vec());
    let half = tensor.to_dtype(DType::F64).expect("f64");
    let got = sample_tensor(&CpuSampler, &half, &params, &keys, &histories).expect("converted");
    assert_eq!(got, expected);
}

#[test]
fn wrong_rank_is_a_tensor_error() {
    let tensor = Tensor::zeros((2, 3, 4), DType::F32, &Device::Cpu).expect("tensor");
    let result = sample_tensor(&CpuSampler, &tensor, &[], &[], &[]);
    assert!(matches!(result, Err(KernelError::Tensor(_))), "{result:?}");
}

#[test]
fn the_cpu_device_gets_the_cpu_tensor_sampler() {
    let (logits, params, keys) = batch();
    let histories: Vec<&[u32]> = vec![&[4]; 6];
    let expected = CpuSampler
        .sample_with_history(&logits, 50, &params, &keys, &histories)
        .expect("slice sampling");
    let sampler = tensor_sampler_for(&Device::Cpu).expect("cpu sampler");
    assert_eq!(sampler.name(), "cpu");
    let tensor = Tensor::from_vec(logits, (6, 50), &Device::Cpu).expect("tensor");
    let got = sampler
        .sample_tensor(&tensor, &params, &keys, &histories)
        .expect("tensor sampling");
    assert_eq!(got, expected);
}
