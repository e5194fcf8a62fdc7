use super::*;
use candle_core::{Device, Var};

use crate::ops::target_logprobs;

/// Deterministic values in [-scale, scale).
fn values(count: usize, seed: u64, scale: f32) -> Vec<f32> {
    (0..count)
        .map(|i| {
            let h = ((i as u64) ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            ((h % 20_000) as f32 / 10_000.0 - 1.0) * scale
        })
        .collect()
}

fn matrix(rows: usize, cols: usize, seed: u64, scale: f32) -> Tensor {
    Tensor::from_vec(values(rows * cols, seed, scale), (rows, cols), &Device::Cpu).expect("tensor")
}

fn bits(tensor: &Tensor) -> Vec<u32> {
    tensor
        .flatten_all()
        .expect("flat")
        .to_vec1::<f32>()
        .expect("values")
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// Values and both gradients of `Σ weight_r · logp_r` through `head`, with one zero weight.
fn run(
    head: impl Fn(&Tensor, &Tensor, &[u32]) -> Result<Tensor>,
    rows: usize,
    d: usize,
    vocab: usize,
    frozen_weight: bool,
) -> (Vec<u32>, Vec<u32>, Option<Vec<u32>>) {
    let hidden = Var::from_tensor(&matrix(rows, d, 1, 2.0)).expect("hidden");
    let weight_var = Var::from_tensor(&matrix(vocab, d, 2, 1.5)).expect("weight");
    let weight = if frozen_weight {
        weight_var.as_tensor().detach()
    } else {
        weight_var.as_tensor().clone()
    };
    let targets: Vec<u32> = (0..rows).map(|r| ((r * 37 + 5) % vocab) as u32).collect();
    let row_weights: Vec<f32> = (0..rows)
        .map(|r| if r == 3 { 0.0 } else { r as f32 * 0.125 - 2.0 })
        .collect();
    let row_weights = Tensor::from_vec(row_weights, rows, &Device::Cpu).expect("row weights");
    let logp = head(hidden.as_tensor(), &weight, &targets).expect("logprobs");
    let grads = (&logp * &row_weights)
        .expect("mul")
        .sum_all()
        .expect("sum")
        .backward()
        .expect("backward");
    let hidden_grad = bits(grads.get(hidden.as_tensor()).expect("hidden grad"));
    let weight_grad = grads.get(&weight).map(bits);
    (bits(&logp), hidden_grad, weight_grad)
}

/// A log-prob head under test: hidden, weight, targets → per-row log-probs.
type HeadFn = dyn Fn(&Tensor, &Tensor, &[u32]) -> Result<Tensor>;

fn composed(hidden: &Tensor, weight: &Tensor, targets: &[u32]) -> Result<Tensor> {
    target_logprobs(&hidden.matmul(&weight.t()?)?, targets)
}

#[test]
fn fused_values_and_gradients_equal_the_composed_path_bit_for_bit() {
    for (rows, d, vocab) in [(65, 8, 300), (97, 24, 1031), (130, 3, 7)] {
        let fused = run(head_target_logprobs, rows, d, vocab, false);
        let reference = run(composed, rows, d, vocab, false);
        assert_eq!(fused.0, reference.0, "values {rows}x{d}x{vocab}");
        assert_eq!(fused.1, reference.1, "hidden gradient {rows}x{d}x{vocab}");
        assert!(fused.2.is_some(), "the weight gets a gradient");
        assert_eq!(fused.2, reference.2, "weight gradient {rows}x{d}x{vocab}");
    }
}

#[test]
fn a_frozen_head_gets_no_gradient_and_the_hidden_one_is_unchanged() {
    let fused = run(head_target_logprobs, 70, 8, 200, true);
    let reference = run(composed, 70, 8, 200, false);
    assert_eq!(fused.2, None);
    assert_eq!(fused.0, reference.0);
    assert_eq!(fused.1, reference.1);
}

#[test]
fn only_f32_cpu_inputs_with_many_rows_take_the_fused_op() {
    let weight = matrix(300, 8, 2, 1.0);
    let routes = |rows: usize, dtype: DType| {
        let hidden = matrix(rows, 8, 1, 1.0).to_dtype(dtype).expect("dtype");
        let weight = weight.to_dtype(dtype).expect("dtype");
        takes_fused_op(&hidden, &weight).expect("route")
    };
    assert!(!routes(SKINNY_MAX_ROWS, DType::F32));
    assert!(routes(SKINNY_MAX_ROWS + 1, DType::F32));
    assert!(!routes(SKINNY_MAX_ROWS + 1, DType::BF16));
    // Few rows give the skinny product's values, as generation's logits do.
    let fused = run(head_target_logprobs, 5, 8, 300, false);
    let reference = run(
        |h, w, t| target_logprobs(&matmul_transposed(h, w)?, t),
        5,
        8,
        300,
        false,
    );
    assert_eq!(fused, reference);
}

#[test]
fn forward_keeps_the_logits_only_for_backward_and_backward_takes_them() {
    let hidden = Var::from_tensor(&matrix(70, 4, 7, 1.0)).expect("hidden");
    let weight = matrix(90, 4, 8, 1.0);
    let targets: Vec<u32> = (0..70).map(|r| (r % 90) as u32).collect();
    for keep_logits in [false, true] {
        let saved = Arc::new(Mutex::new(None));
        let op = HeadTargetLogprobs {
            targets: targets.clone(),
            keep_logits,
            saved_logits: Arc::clone(&saved),
        };
        let logp = hidden
            .as_tensor()
            .apply_op2_arc(&weight, Arc::new(Box::new(op)))
            .expect("forward");
        let held = |saved: &Mutex<Option<Vec<f32>>>| saved.lock().expect("lock").is_some();
        assert_eq!(held(&saved), keep_logits);
        logp.sum_all().expect("sum").backward().expect("backward");
        assert!(!held(&saved), "backward takes the saved logits");
    }
}

#[test]
fn a_second_backward_computes_the_logits_again() {
    let hidden = Var::from_tensor(&matrix(80, 6, 3, 1.0)).expect("hidden");
    let weight = Var::from_tensor(&matrix(150, 6, 4, 1.0)).expect("weight");
    let targets: Vec<u32> = (0..80).map(|r| (r * 7 % 150) as u32).collect();
    let loss = head_target_logprobs(hidden.as_tensor(), weight.as_tensor(), &targets)
        .expect("logprobs")
        .sum_all()
        .expect("sum");
    let first = loss.backward().expect("first");
    let second = loss.backward().expect("second");
    for var in [&hidden, &weight] {
        assert_eq!(
            bits(first.get(var.as_tensor()).expect("first grad")),
            bits(second.get(var.as_tensor()).expect("second grad"))
        );
    }
}

#[test]
fn masked_logits_and_bad_inputs() {
    let hidden = matrix(70, 4, 5, 1.0);
    let mut weight_values = values(9 * 4, 6, 1.0);
    // Token 8 scores −inf in every row.
    weight_values[32..36].copy_from_slice(&[f32::NEG_INFINITY, 0.0, 0.0, 0.0]);
    let weight = Tensor::from_vec(weight_values, (9, 4), &Device::Cpu).expect("weight");
    let positive = hidden.abs().expect("abs");
    let targets = vec![8u32; 70];
    let logp: Vec<f32> = head_target_logprobs(&positive, &weight, &targets)
        .expect("masked")
        .to_vec1()
        .expect("values");
    assert!(logp.iter().all(|&v| v == f32::NEG_INFINITY), "{logp:?}");
    // Backward through the masked token: rows whose target is −inf recompute their lse.
    let hidden_var = Var::from_tensor(&positive).expect("var");
    let weight_var = Var::from_tensor(&weight).expect("var");
    let mixed: Vec<u32> = (0..70)
        .map(|r| if r % 3 == 0 { 8 } else { r % 8 })
        .collect();
    let row_weights = Tensor::from_vec(
        (0..70)
            .map(|r| if r % 5 == 0 { 0.0 } else { 0.5 })
            .collect::<Vec<f32>>(),
        70,
        &Device::Cpu,
    )
    .expect("row weights");
    let gradients = |head: &HeadFn| {
        let logp = head(hidden_var.as_tensor(), weight_var.as_tensor(), &mixed).expect("logp");
        let grads = (logp * &row_weights)
            .expect("mul")
            .sum_all()
            .expect("sum")
            .backward()
            .expect("backward");
        [&hidden_var, &weight_var].map(|v| bits(grads.get(v.as_tensor()).expect("grad")))
    };
    assert_eq!(gradients(&head_target_logprobs), gradients(&composed));
    assert!(head_target_logprobs(&hidden, &weight, &targets[..69]).is_err());
    assert!(head_target_logprobs(&hidden, &weight, &[9; 70]).is_err());
    let narrow = matrix(9, 3, 6, 1.0);
    assert!(head_target_logprobs(&hidden, &narrow, &targets).is_err());
}
