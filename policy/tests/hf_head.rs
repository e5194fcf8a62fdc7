//! `HfModel::token_logprobs` through the fused output-head op against the composed ops
//! (output head, then `target_logprobs`): the same values and gradients, bit for bit.

mod hf_common;

use candle_core::{DType, Device, Tensor};
use hf_common::{bits, fixture, long_text_batch};
use medgym_policy::hf::{HfInput, HfModel};
use medgym_policy::ops::target_logprobs;

/// Log-probs of columns 1.. (zero at padding), built from the composed ops as before the fused op.
fn composed_token_logprobs(model: &HfModel, inputs: &[HfInput]) -> Tensor {
    let (hidden, pads) = model.forward_hidden(inputs).expect("hidden");
    let (b, len, _) = hidden.dims3().expect("dims");
    let logits = model
        .logits(
            &hidden
                .narrow(1, 0, len - 1)
                .expect("narrow")
                .contiguous()
                .expect("c"),
        )
        .expect("logits");
    let vocab = logits.dim(2).expect("vocab");
    let mut targets = Vec::new();
    let mut keep = Vec::new();
    for (input, &pad) in inputs.iter().zip(&pads) {
        for col in 1..len {
            targets.push(if col >= pad {
                input.token_ids[col - pad]
            } else {
                0
            });
            keep.push(if col > pad { 1f32 } else { 0f32 });
        }
    }
    let logp = target_logprobs(
        &logits.reshape((b * (len - 1), vocab)).expect("flat"),
        &targets,
    )
    .expect("logprobs")
    .reshape((b, len - 1))
    .expect("shape");
    let keep = Tensor::from_vec(keep, (b, len - 1), &Device::Cpu).expect("keep");
    (logp * keep).expect("masked")
}

#[test]
fn fused_token_logprobs_match_the_composed_ops_in_values_and_every_gradient() {
    for name in ["qwen2_tied", "qwen2_untied"] {
        let model = HfModel::load(&fixture(name), DType::F32, &Device::Cpu).expect("load");
        let vocab = model.config().text.vocab_size;
        let batch = long_text_batch(vocab);
        let fused = model.token_logprobs(&batch).expect("fused");
        let len = fused.dim(1).expect("len");
        let fused = fused.narrow(1, 1, len - 1).expect("columns 1..");
        let composed = composed_token_logprobs(&model, &batch);
        assert_eq!(bits(&fused), bits(&composed), "{name}: values");
        let weights = Tensor::arange(0f32, ((len - 1) * 2) as f32, &Device::Cpu)
            .expect("arange")
            .reshape((2, len - 1))
            .expect("weights");
        let backward = |logp: &Tensor| {
            (logp * &weights)
                .expect("mul")
                .sum_all()
                .expect("sum")
                .backward()
                .expect("backward")
        };
        let (fused_grads, composed_grads) = (backward(&fused), backward(&composed));
        let vars = model.named_vars();
        assert!(!vars.is_empty());
        for (var_name, var) in vars {
            let fused_grad = fused_grads.get(var.as_tensor());
            let composed_grad = composed_grads.get(var.as_tensor());
            assert!(fused_grad.is_some(), "{name}: {var_name} gets a gradient");
            assert_eq!(
                fused_grad.map(bits),
                composed_grad.map(bits),
                "{name}: gradient of {var_name}"
            );
        }
    }
}
