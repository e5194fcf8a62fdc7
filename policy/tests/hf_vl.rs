//! Qwen2.5-VL against transformers: preprocessing, vision tower, logits with and without an image.

mod hf_common;

use candle_core::{DType, Device, Tensor};
use hf_common::{fixture, ids, max_abs_diff, reference_json, reference_tensors};
use medgym_policy::hf::vision::window_layout;
use medgym_policy::hf::{patchify, HfInput, HfModel, PixelPatches, RgbImage};

const NAME: &str = "qwen25vl";

fn fixture_image() -> RgbImage {
    hf_common::fixture_image(NAME)
}

fn model() -> HfModel {
    HfModel::load(&fixture(NAME), DType::F32, &Device::Cpu).expect("load")
}

#[test]
fn preprocessing_matches_the_hf_processor() {
    let model = model();
    let cfg = model.config().vision.clone().expect("vision config");
    let patches = patchify(&fixture_image(), &cfg).expect("patchify");
    let reference = reference_tensors(NAME);
    let grid: Vec<i64> = reference["image_grid_thw"]
        .flatten_all()
        .expect("flat")
        .to_vec1()
        .expect("grid");
    assert_eq!(patches.grid.map(|v| v as i64).to_vec(), grid);
    let ours = Tensor::from_vec(
        patches.values.to_vec(),
        reference["pixel_values"].dims(),
        &Device::Cpu,
    )
    .expect("tensor");
    let diff = max_abs_diff(&ours, &reference["pixel_values"]);
    assert!(diff < 1e-5, "pixel values differ by {diff}");
    let odd = RgbImage {
        width: 30,
        height: 28,
        pixels: vec![0; 30 * 28 * 3],
    };
    assert!(patchify(&odd, &cfg)
        .expect_err("30 is not a multiple of 28")
        .to_string()
        .contains("30x28"));
}

#[test]
fn window_layout_covers_every_token_once() {
    let model = model();
    let cfg = model.config().vision.clone().expect("vision config");
    // 8x10 patches = 4x5 merged tokens; windows of 4x4 merged tokens split the width 4 + 1.
    let layout = window_layout(&[[1, 8, 10]], &cfg);
    let mut sorted = layout.order.clone();
    sorted.sort();
    assert_eq!(sorted, (0..20).collect::<Vec<_>>());
    assert_eq!(&layout.order[..5], &[0, 1, 2, 3, 5]);
    let windows: std::collections::BTreeSet<_> = layout.window_group.iter().collect();
    assert_eq!(windows.len(), 2);
    assert_eq!(
        layout.window_group.iter().filter(|&&g| g == 1).count(),
        4 * 4
    );
}

#[test]
fn vision_tower_and_logits_match_transformers() {
    check_against_transformers(NAME);
}

#[test]
fn qwen2_vl_variant_matches_transformers() {
    check_against_transformers("qwen2vl");
}

fn check_against_transformers(name: &str) {
    hf_common::check_against_transformers(name, &Device::Cpu);
}

#[test]
fn image_prompt_in_a_padded_batch_matches_alone() {
    let model = model();
    let cfg = model.config().vision.clone().expect("vision config");
    let reference = reference_tensors(NAME);
    let json = reference_json(NAME);
    let patches = patchify(&fixture_image(), &cfg).expect("patchify");
    let with_image = HfInput {
        token_ids: ids(&json["prompts"][0]["ids"]),
        images: vec![patches],
    };
    let short = HfInput {
        token_ids: ids(&json["prompts"][1]["ids"]),
        images: Vec::new(),
    };
    let (logits, pads) = model
        .forward(&[short.clone(), with_image])
        .expect("forward");
    let row = logits.get(1).expect("row");
    assert!(max_abs_diff(&row, &reference["logits_0"]) < 1e-4);
    let n = short.token_ids.len();
    let row = logits
        .get(0)
        .expect("row")
        .narrow(0, pads[0], n)
        .expect("narrow");
    assert!(max_abs_diff(&row, &reference["logits_1"]) < 1e-4);
    let missing = HfInput {
        token_ids: ids(&json["prompts"][0]["ids"]),
        images: Vec::new(),
    };
    assert!(
        model.forward(&[missing]).is_err(),
        "placeholders without an image must fail"
    );
}

#[test]
fn rows_sharing_images_match_each_row_alone() {
    let model = model();
    let cfg = model.config().vision.clone().expect("vision config");
    let reference = reference_tensors(NAME);
    let json = reference_json(NAME);
    let picture = fixture_image();
    let first = patchify(&picture, &cfg).expect("patchify");
    // The same picture preprocessed again: equal values in separate storage.
    let first_again = patchify(&picture, &cfg).expect("patchify");
    let mut flipped = picture.clone();
    flipped.pixels.reverse();
    let second = patchify(&flipped, &cfg).expect("patchify");
    assert_eq!(first.grid, second.grid);
    let prompt = ids(&json["prompts"][0]["ids"]);
    let one = |image: &medgym_policy::hf::PixelPatches| HfInput {
        token_ids: prompt.clone(),
        images: vec![image.clone()],
    };
    let two = |a: &medgym_policy::hf::PixelPatches, b: &medgym_policy::hf::PixelPatches| HfInput {
        token_ids: prompt.iter().chain(&prompt).copied().collect(),
        images: vec![a.clone(), b.clone()],
    };
    let rows = [
        one(&first),
        two(&first, &second),
        one(&first_again),
        one(&second),
        two(&second, &first_again),
        one(&first),
    ];
    let (batched, pads) = model.forward(&rows).expect("batched forward");
    for (index, row) in rows.iter().enumerate() {
        let (alone, _) = model.forward(std::slice::from_ref(row)).expect("forward");
        let alone = alone.get(0).expect("row");
        let in_batch = batched
            .get(index)
            .and_then(|t| t.narrow(0, pads[index], row.token_ids.len()))
            .expect("row");
        let diff = max_abs_diff(&in_batch, &alone);
        assert!(
            diff < 1e-5,
            "row {index} differs from itself alone by {diff}"
        );
    }
    let single = |index: usize| {
        batched
            .get(index)
            .and_then(|t| t.narrow(0, pads[index], prompt.len()))
            .expect("row")
    };
    assert!(max_abs_diff(&single(0), &reference["logits_0"]) < 1e-4);
    assert!(
        max_abs_diff(&single(3), &single(0)) > 1e-3,
        "another picture gives other logits"
    );
}

#[test]
fn the_same_pixels_under_another_grid_are_another_image() {
    let model = model();
    let cfg = model.config().vision.clone().expect("vision config");
    let json = reference_json(NAME);
    let image = patchify(&fixture_image(), &cfg).expect("patchify");
    let [t, h, w] = image.grid;
    let transposed = PixelPatches {
        values: image.values.clone(),
        grid: [t, w, h],
    };
    let prompt = ids(&json["prompts"][0]["ids"]);
    let rows: Vec<HfInput> = [image, transposed]
        .into_iter()
        .map(|image| HfInput {
            token_ids: prompt.clone(),
            images: vec![image],
        })
        .collect();
    let (batched, pads) = model.forward(&rows).expect("batched");
    let (alone, _) = model.forward(&rows[1..]).expect("alone");
    let in_batch = batched
        .get(1)
        .and_then(|t| t.narrow(0, pads[1], prompt.len()))
        .expect("row");
    let diff = max_abs_diff(&in_batch, &alone.get(0).expect("row"));
    assert!(diff < 1e-5, "the transposed grid's row differs by {diff}");
}

#[test]
fn images_the_tower_cannot_read_are_refused_by_row_and_image() {
    let model = model();
    let cfg = model.config().vision.clone().expect("vision config");
    let json = reference_json(NAME);
    let image = patchify(&fixture_image(), &cfg).expect("patchify");
    let prompt = ids(&json["prompts"][0]["ids"]);
    let good = HfInput {
        token_ids: prompt.clone(),
        images: vec![image.clone()],
    };
    let with_second = |second: PixelPatches| HfInput {
        token_ids: prompt.clone(),
        images: vec![image.clone(), second],
    };
    let empty = PixelPatches {
        values: Vec::new().into(),
        grid: [1, 0, 0],
    };
    let short = PixelPatches {
        values: image.values[1..].to_vec().into(),
        grid: image.grid,
    };
    for (bad, expected) in [
        (empty, "no merged token"),
        (short, "values, but its patch grid"),
    ] {
        let error = model
            .forward(&[good.clone(), with_second(bad.clone())])
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("row 1, image 1") && error.contains(expected),
            "{error}"
        );
        let error = model
            .image_embeddings(&[image.clone(), bad])
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("image 1") && error.contains(expected),
            "{error}"
        );
    }
    assert!(model.image_embeddings(&[]).is_err(), "no images");
}

#[test]
fn frozen_vision_tower_gets_no_gradient_and_the_decoder_does() {
    let mut model = model();
    let cfg = model.config().vision.clone().expect("vision config");
    let json = reference_json(NAME);
    let input = HfInput {
        token_ids: ids(&json["prompts"][0]["ids"]),
        images: vec![patchify(&fixture_image(), &cfg).expect("patchify")],
    };
    let gradients = |model: &HfModel| {
        let loss = model
            .token_logprobs(std::slice::from_ref(&input))
            .expect("logprobs")
            .sum_all()
            .expect("sum");
        let grads = loss.backward().expect("backward");
        model
            .named_vars()
            .into_iter()
            .map(|(name, var)| (name, grads.get(var.as_tensor()).is_some()))
            .collect::<Vec<_>>()
    };
    // Models start with the vision tower frozen.
    let frozen = model.frozen_names();
    assert!(!frozen.is_empty());
    assert!(frozen.iter().all(|n| n.starts_with("visual.")));
    for (name, has_gradient) in gradients(&model) {
        assert_eq!(has_gradient, !name.starts_with("visual."), "{name}");
    }
    // What an optimizer gets leaves the frozen tower out.
    let trainable = model.trainable_vars(|_| true);
    assert_eq!(trainable.len() + frozen.len(), model.named_vars().len());
    assert!(trainable.iter().all(|(n, _)| !n.starts_with("visual.")));
    // Unfrozen, every parameter gets a gradient through the image.
    assert_eq!(model.unfreeze(|_| true).expect("unfreeze"), 0);
    for (name, has_gradient) in gradients(&model) {
        assert!(has_gradient, "{name} has no gradient");
    }
}

#[test]
fn vision_gradients_match_finite_differences() {
    // f64, so that central differences are exact enough to check the backward pass of the
    // grouped window and frame attention (two images of unequal windows, in one batch).
    let mut model = HfModel::load(&fixture(NAME), DType::F64, &Device::Cpu).expect("load");
    model.unfreeze(|_| true).expect("unfreeze");
    let cfg = model.config().vision.clone().expect("vision config");
    let json = reference_json(NAME);
    let picture = fixture_image();
    let mut flipped = picture.clone();
    flipped.pixels.reverse();
    let prompt = ids(&json["prompts"][0]["ids"]);
    let inputs: Vec<HfInput> = [picture, flipped]
        .iter()
        .map(|image| HfInput {
            token_ids: prompt.clone(),
            images: vec![patchify(image, &cfg).expect("patchify")],
        })
        .collect();
    let loss = |model: &HfModel| {
        model
            .token_logprobs(&inputs)
            .and_then(|t| Ok(t.sum_all()?))
            .expect("loss")
    };
    let grads = loss(&model).backward().expect("backward");
    let vars = model.named_vars();
    let mut checked = 0;
    for name in [
        "visual.patch_embed.proj.weight",
        "visual.blocks.0.attn.qkv.weight",
        "visual.blocks.1.attn.qkv.weight",
        "visual.blocks.2.attn.proj.weight",
    ] {
        let (_, var) = vars.iter().find(|(n, _)| n == name).expect(name);
        let grad: Vec<f64> = grads
            .get(var.as_tensor())
            .expect(name)
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .expect("grad");
        let original = var.as_tensor().copy().expect("copy");
        let values: Vec<f64> = original
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .expect("values");
        for index in [0, values.len() / 3, values.len() - 1] {
            let at = |delta: f64| {
                let mut moved = values.clone();
                moved[index] += delta;
                let moved = candle_core::Tensor::from_vec(moved, original.dims(), &Device::Cpu)
                    .expect("tensor");
                var.set(&moved).expect("set");
                loss(&model).to_scalar::<f64>().expect("scalar")
            };
            let eps = 1e-5;
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
            var.set(&original).expect("restore");
            let analytic = grad[index];
            assert!(
                (numeric - analytic).abs() <= 1e-6 + 1e-4 * analytic.abs().max(numeric.abs()),
                "{name}[{index}]: backward {analytic}, finite differences {numeric}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}
