//! Every trainable variable receives a gradient, and gradients match finite differences.

mod common;

use candle_core::{DType, Device, Tensor, D};
use medgym_policy::{Policy, SequenceInput};

fn batch() -> Vec<SequenceInput> {
    vec![
        common::prompt_with_image(1, &[7, 8, 9, 10, 11]),
        common::prompt_with_image(2, &[12, 13]),
        SequenceInput {
            token_ids: vec![1, 14, 15, 16],
            image: None,
        },
    ]
}

fn loss(policy: &Policy) -> Tensor {
    let (logits, _layout) = policy.forward(&batch()).unwrap();
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1).unwrap();
    // A fixed, position-dependent weighting so every logit matters differently.
    let (b, l, v) = logp.dims3().unwrap();
    let weights: Vec<f64> = (0..b * l * v)
        .map(|i| ((i * 7919) % 13) as f64 / 13.0 - 0.4)
        .collect();
    let w = Tensor::from_vec(weights, (b, l, v), logp.device())
        .unwrap()
        .to_dtype(logp.dtype())
        .unwrap();
    (logp * w).unwrap().sum_all().unwrap()
}

#[test]
fn every_trainable_variable_gets_a_nonzero_gradient() {
    let policy = Policy::new_random(&common::tiny_config(), 3, DType::F32, &Device::Cpu).unwrap();
    let grads = loss(&policy).backward().unwrap();
    let vars = policy.named_vars();
    assert!(
        vars.len() > 30,
        "expected many parameters, got {}",
        vars.len()
    );
    for (name, var) in vars {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name} received no gradient"));
        let norm = g
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(norm > 0.0, "{name} has an all-zero gradient");
    }
}

#[test]
fn gradients_match_finite_differences() {
    let policy = Policy::new_random(&common::tiny_config(), 5, DType::F64, &Device::Cpu).unwrap();
    let grads = loss(&policy).backward().unwrap();
    let eps = 1e-6;
    let mut checked = 0;
    for (name, var) in policy.named_vars() {
        let analytic: Vec<f64> = grads
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let original: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        // Probe three elements of every parameter.
        for &idx in &[0, original.len() / 2, original.len() - 1] {
            let probe = |delta: f64| {
                let mut values = original.clone();
                values[idx] += delta;
                let t = Tensor::from_vec(values, var.shape(), &Device::Cpu).unwrap();
                var.set(&t).unwrap();
                loss(&policy).to_scalar::<f64>().unwrap()
            };
            let numeric = (probe(eps) - probe(-eps)) / (2.0 * eps);
            let restore = Tensor::from_vec(original.clone(), var.shape(), &Device::Cpu).unwrap();
            var.set(&restore).unwrap();
            let a = analytic[idx];
            let tol = 1e-5 + 1e-4 * a.abs().max(numeric.abs());
            assert!(
                (a - numeric).abs() <= tol,
                "{name}[{idx}]: analytic {a} vs numeric {numeric}"
            );
            checked += 1;
        }
    }
    assert!(checked > 90);
}
