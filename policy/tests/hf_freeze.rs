//! Freezing base parameters: no gradient for them, the same bits for everything else, shared
//! storage, and LoRA adapters on top of a frozen base.

mod hf_common;

use candle_core::{DType, Device};
use hf_common::{bits, fixture, long_text_batch};
use medgym_policy::hf::{HfModel, LoraConfig, LoraInit};

fn model() -> HfModel {
    HfModel::load(&fixture("qwen2_tied"), DType::F32, &Device::Cpu).expect("load")
}

/// Each base parameter's name and the bits of its gradient (None where none flowed).
type GradientBits = Vec<(String, Option<Vec<u32>>)>;

/// Log-probs and the gradient of their sum for every base parameter.
fn logprobs_and_gradients(model: &HfModel) -> (Vec<u32>, GradientBits) {
    let vocab = model.config().text.vocab_size;
    let logp = model
        .token_logprobs(&long_text_batch(vocab))
        .expect("logprobs");
    let grads = logp.sum_all().expect("sum").backward().expect("backward");
    let per_var = model
        .named_vars()
        .into_iter()
        .map(|(name, var)| (name, grads.get(var.as_tensor()).map(bits)))
        .collect();
    (bits(&logp), per_var)
}

fn is_frozen(name: &str) -> bool {
    name == "model.embed_tokens.weight" || name.starts_with("model.layers.0.")
}

#[test]
fn frozen_parameters_get_no_gradient_and_the_rest_the_same_bits() {
    let plain = model();
    let mut frozen = model();
    let count = frozen.freeze(is_frozen).expect("freeze");
    let names = frozen.frozen_names();
    assert_eq!(names.len(), count);
    assert!(names.contains(&"model.embed_tokens.weight".to_string()));
    assert!(names.iter().all(|n| is_frozen(n)));
    assert!(count > 1);
    let (plain_values, plain_grads) = logprobs_and_gradients(&plain);
    let (frozen_values, frozen_grads) = logprobs_and_gradients(&frozen);
    assert_eq!(plain_values, frozen_values, "values");
    for ((name, plain_grad), (_, frozen_grad)) in plain_grads.iter().zip(&frozen_grads) {
        assert!(plain_grad.is_some(), "{name}: unfrozen gets a gradient");
        if is_frozen(name) {
            assert_eq!(frozen_grad, &None, "{name}: frozen");
        } else {
            assert_eq!(frozen_grad, plain_grad, "{name}: same gradient");
        }
    }
    // Unfreezing brings every gradient back.
    assert_eq!(frozen.unfreeze(|_| true).expect("unfreeze"), 0);
    let (_, thawed_grads) = logprobs_and_gradients(&frozen);
    assert_eq!(thawed_grads, plain_grads);
}

#[test]
fn freezing_adds_to_the_frozen_set_and_trainable_vars_leave_it_out() {
    let mut model = model();
    assert_eq!(
        model.freeze(|n| n == "model.norm.weight").expect("first"),
        1
    );
    let total = model.named_vars().len();
    let count = model.freeze(is_frozen).expect("second");
    assert!(count > 2 && count < total);
    assert!(model
        .frozen_names()
        .contains(&"model.norm.weight".to_string()));
    let trainable = model.trainable_vars(|_| true);
    assert_eq!(trainable.len(), total - count);
    assert!(trainable
        .iter()
        .all(|(n, _)| !is_frozen(n) && n != "model.norm.weight"));
    // Unfreezing some names keeps the others frozen.
    assert_eq!(
        model
            .unfreeze(|n| n == "model.norm.weight")
            .expect("unfreeze one"),
        count - 1
    );
    assert!(
        model
            .freeze(|n| n == "no.such.parameter")
            .expect("no match")
            == count - 1
    );
}

/// Doubles `model.norm.weight` in place through its variable.
fn double_the_final_norm(model: &HfModel) {
    let (_, norm) = model
        .named_vars()
        .into_iter()
        .find(|(name, _)| name == "model.norm.weight")
        .expect("final norm");
    norm.set(&(norm.as_tensor() * 2.0).expect("scaled"))
        .expect("set");
}

#[test]
fn a_frozen_parameter_shares_its_storage_with_its_variable() {
    let mut model = model();
    model.freeze(|_| true).expect("freeze");
    let vocab = model.config().text.vocab_size;
    let before = bits(
        &model
            .token_logprobs(&long_text_batch(vocab))
            .expect("before"),
    );
    double_the_final_norm(&model);
    let after = bits(
        &model
            .token_logprobs(&long_text_batch(vocab))
            .expect("after"),
    );
    assert_ne!(before, after, "setting a frozen variable changes the model");
}

#[test]
fn adapters_train_on_a_frozen_base_and_freezing_after_them_is_refused() {
    let lora = LoraConfig {
        r: 2,
        lora_alpha: 4.0,
        target_modules: ["q_proj", "v_proj"].map(String::from).to_vec(),
    };
    let mut model = model();
    model.freeze(|_| true).expect("freeze");
    model
        .add_lora(&lora, LoraInit::Standard { seed: 3 })
        .expect("lora");
    let vocab = model.config().text.vocab_size;
    let grads = model
        .token_logprobs(&long_text_batch(vocab))
        .expect("logprobs")
        .sum_all()
        .expect("sum")
        .backward()
        .expect("backward");
    assert!(model
        .named_vars()
        .iter()
        .all(|(_, var)| grads.get(var.as_tensor()).is_none()));
    let adapters = model.lora_vars();
    assert!(!adapters.is_empty());
    assert!(adapters
        .iter()
        .all(|(_, var)| grads.get(var.as_tensor()).is_some()));
    for refused in [
        model.freeze(|_| false).expect_err("freeze refused"),
        model.unfreeze(|_| true).expect_err("unfreeze refused"),
    ] {
        assert!(
            refused.to_string().contains("before attaching LoRA"),
            "{refused}"
        );
    }
}

/// `model` with rank-2 adapters on `q_proj` and `down_proj`, both factors random (so that they
/// change the outputs from the start).
fn with_random_adapters(mut model: HfModel) -> HfModel {
    let lora = LoraConfig {
        r: 2,
        lora_alpha: 4.0,
        target_modules: ["q_proj", "down_proj"].map(String::from).to_vec(),
    };
    model
        .add_lora(
            &lora,
            LoraInit::RandomBoth {
                seed: 5,
                bound: 0.3,
            },
        )
        .expect("lora");
    model
}

#[test]
fn a_frozen_copy_keeps_the_weights_and_adapters_it_was_taken_with() {
    let model = with_random_adapters(model());
    let vocab = model.config().text.vocab_size;
    let batch = long_text_batch(vocab);
    let copy = model.frozen_copy().expect("copy");
    let original = model.token_logprobs(&batch).expect("original");
    let copied = copy.token_logprobs(&batch).expect("copy");
    assert_eq!(bits(&original), bits(&copied));
    assert!(original.track_op(), "the model itself trains");
    assert!(!copied.track_op(), "nothing in the copy takes a gradient");
    assert_eq!(copy.frozen_names().len(), copy.named_vars().len());
    // Training the model moves it, not the copy.
    for (_, var) in model
        .named_vars()
        .into_iter()
        .filter(|(n, _)| n == "model.norm.weight")
        .chain(model.lora_vars().into_iter().take(2))
    {
        var.set(&(var.as_tensor() * 1.5).expect("scaled"))
            .expect("set");
    }
    assert_ne!(
        bits(&model.token_logprobs(&batch).expect("moved")),
        bits(&original)
    );
    assert_eq!(
        bits(&copy.token_logprobs(&batch).expect("kept")),
        bits(&original)
    );
}

#[test]
fn a_frozen_copy_of_a_lora_model_shares_the_frozen_base_and_copies_the_adapters() {
    let mut frozen = model();
    frozen.freeze(|_| true).expect("freeze");
    let mut model = with_random_adapters(frozen);
    let batch = long_text_batch(model.config().text.vocab_size);
    let copy = model.frozen_copy().expect("copy");
    let original = bits(&model.token_logprobs(&batch).expect("original"));
    assert_eq!(bits(&copy.token_logprobs(&batch).expect("copy")), original);
    // The adapters train: the copy keeps its own.
    for (_, var) in model.lora_vars().into_iter().take(2) {
        var.set(&(var.as_tensor() * 1.5).expect("scaled"))
            .expect("set");
    }
    let trained = bits(&model.token_logprobs(&batch).expect("trained"));
    assert_ne!(trained, original);
    assert_eq!(bits(&copy.token_logprobs(&batch).expect("kept")), original);
    // The frozen base cannot train any more: one storage serves both.
    double_the_final_norm(&model);
    assert_ne!(
        bits(&copy.token_logprobs(&batch).expect("shared")),
        original,
        "the copy reads the shared base"
    );
    assert!(model.unfreeze(|_| true).is_err(), "the base stays frozen");
}
