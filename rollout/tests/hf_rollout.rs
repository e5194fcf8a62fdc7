//! Rollouts of Hugging Face checkpoints (the tiny random fixtures of the policy crate) on medgym
//! tasks: prompts with their images, greedy parity with the model's own loop (f32 and bf16), the
//! stop rule, determinism and batch independence, and the checks on a checkpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device};
use medgym_envs::{task_at, ContentPart, ItemImage, Message, Observation, Role, Split, TaskFamily};
use medgym_kernels::{CpuSampler, SamplingParams};
use medgym_policy::hf::{
    preprocess, rgb_on_white, HfInput, HfModel, HfTokenizer, ResizeBounds, RgbImage,
};
use medgym_rollout::{
    encode_hf_prompt, HfPolicy, PromptJob, RolloutBatch, RolloutConfig, RolloutEngine, RolloutModel,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../policy/tests/fixtures")
        .join(name)
}

fn load(name: &str) -> (HfModel, HfTokenizer, ResizeBounds) {
    load_dir(&fixture(name), DType::F32)
}

fn load_dir(dir: &Path, dtype: DType) -> (HfModel, HfTokenizer, ResizeBounds) {
    let model = HfModel::load(dir, dtype, &Device::Cpu).expect("model");
    let tokenizer = HfTokenizer::from_dir(dir).expect("tokenizer");
    let bounds = ResizeBounds::from_dir(dir).expect("bounds");
    (model, tokenizer, bounds)
}

fn jobs(task: &str, items: u64) -> Vec<PromptJob> {
    let task: Arc<dyn TaskFamily> = task_at(task, None).expect("task");
    (0..items)
        .map(|index| PromptJob {
            task: task.clone(),
            item: task.item(Split::Eval, 3, index).expect("item"),
        })
        .collect()
}

/// Rolls `jobs` out on a loaded checkpoint with the CPU sampler.
fn roll(
    (model, tokenizer, bounds): &(HfModel, HfTokenizer, ResizeBounds),
    jobs: &[PromptJob],
    config: &RolloutConfig,
) -> RolloutBatch<Arc<HfInput>> {
    let sampler = CpuSampler;
    let policy = HfPolicy::new(model, tokenizer, *bounds).expect("policy");
    RolloutEngine::with_model(policy, &sampler)
        .run(jobs, config)
        .expect("rollout")
}

fn config(sampling: SamplingParams, rows_per_chunk: usize) -> RolloutConfig {
    RolloutConfig {
        group_size: 2,
        max_new_tokens: 12,
        sampling,
        seed: 11,
        sequence_offset: 0,
        workers: 2,
        rows_per_chunk,
    }
}

#[test]
fn an_image_observation_becomes_a_chat_prompt_with_its_merged_patches() {
    let (model, tokenizer, bounds) = load("qwen25vl");
    let job = &jobs("medsynth/lesion-count-v1", 1)[0];
    let prompt = encode_hf_prompt(&job.task.observation(&job.item), &model, &tokenizer, bounds)
        .expect("prompt");
    assert_eq!(prompt.images.len(), 1);
    let vision = model.config().vision.as_ref().expect("vision tower");
    let merged = prompt.images[0].merged_tokens(vision.spatial_merge_size);
    let pad = model.config().image_token_id.expect("image token");
    let pads = prompt.token_ids.iter().filter(|&&id| id == pad).count();
    assert!(merged > 0);
    assert_eq!(pads, merged, "one placeholder per merged patch");
    let text = tokenizer.decode(&prompt.token_ids, false).expect("decode");
    assert!(
        text.contains(&job.item.question),
        "the question is in the prompt: {text}"
    );
    assert!(
        text.trim_end().ends_with("<|im_start|>assistant"),
        "the generation prompt ends the prompt: {text}"
    );
}

#[test]
fn a_text_only_checkpoint_refuses_images_by_name_and_takes_text_tasks() {
    let (model, tokenizer, bounds) = load("qwen2_tied");
    let job = &jobs("medsynth/lesion-count-v1", 1)[0];
    let err = encode_hf_prompt(&job.task.observation(&job.item), &model, &tokenizer, bounds)
        .expect_err("no vision tower");
    let message = err.to_string();
    assert!(message.contains("no vision tower"), "{message}");
    assert!(message.contains("scan"), "names the image: {message}");
    let checkpoint = (model, tokenizer, bounds);
    let batch = roll(
        &checkpoint,
        &jobs("clinical/bmi-v1", 2),
        &config(SamplingParams::greedy(), 8),
    );
    assert_eq!(batch.trajectories.len(), 4);
    assert!(batch
        .trajectories
        .iter()
        .all(|t| t.prompt.images.is_empty()));
}

#[test]
fn greedy_rollouts_follow_the_models_own_greedy_loop() {
    let (model, tokenizer, bounds) = load("qwen25vl");
    let policy = HfPolicy::new(&model, &tokenizer, bounds).expect("policy");
    let banned = policy.prompt_only_tokens();
    assert!(!banned.is_empty());
    let sampler = CpuSampler;
    let engine = RolloutEngine::with_model(policy, &sampler);
    let batch = engine
        .run(
            &jobs("medsynth/lesion-side-v1", 3),
            &config(SamplingParams::greedy(), 8),
        )
        .expect("rollout");
    for trajectory in &batch.trajectories {
        let expected = model.greedy(&trajectory.prompt, 12).expect("greedy");
        let produced = &trajectory.response_ids;
        assert!(!produced.is_empty());
        assert!(
            expected.iter().all(|token| !banned.contains(token)),
            "the model's greedy path avoids prompt-only tokens, so both loops may agree"
        );
        assert_eq!(produced.as_slice(), &expected[..produced.len()]);
        assert!(trajectory.sampler_logprobs.iter().all(|lp| *lp <= 0.0));
    }
}

#[test]
fn sampled_rollouts_repeat_by_seed_and_do_not_depend_on_batching() {
    let (model, tokenizer, bounds) = load("qwen25vl");
    let sampler = CpuSampler;
    let engine = RolloutEngine::with_model(
        HfPolicy::new(&model, &tokenizer, bounds).expect("policy"),
        &sampler,
    );
    let prompts = jobs("medsynth/modality-v1", 3);
    let sampling = SamplingParams::new(1.0, 0, 0.95);
    let run = |rows_per_chunk| {
        engine
            .run(&prompts, &config(sampling, rows_per_chunk))
            .expect("rollout")
            .trajectories
            .into_iter()
            .map(|t| (t.response_ids, t.sampler_logprobs))
            .collect::<Vec<_>>()
    };
    let batched = run(8);
    assert_eq!(batched, run(8), "same seed, same rollouts");
    let one_by_one = run(1);
    for (row, (batch, single)) in batched.iter().zip(&one_by_one).enumerate() {
        assert_eq!(batch.0, single.0, "row {row}: tokens");
        for (a, b) in batch.1.iter().zip(&single.1) {
            assert!((a - b).abs() < 1e-4, "row {row}: log-prob {a} vs {b}");
        }
    }
    assert_ne!(
        batched[0].0, batched[1].0,
        "the two samples of one prompt draw different tokens"
    );
}

/// A copy of a fixture checkpoint with `edit` applied to its config.json.
fn edited_copy(name: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(fixture(name)).expect("fixture") {
        let path = entry.expect("entry").path();
        let target = dir.path().join(path.file_name().expect("name"));
        std::fs::copy(&path, &target).expect("copy");
    }
    let config = dir.path().join("config.json");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, edit(text)).expect("write config");
    dir
}

#[test]
fn markers_are_never_sampled_and_turn_ends_stop() {
    let (model, tokenizer, bounds) = load("qwen25vl");
    let policy = HfPolicy::new(&model, &tokenizer, bounds).expect("policy");
    let banned = policy.prompt_only_tokens();
    let config = model.config();
    for id in [
        config.image_token_id,
        config.vision_start_token_id,
        config.vision_end_token_id,
    ] {
        let id = id.expect("vision token");
        assert!(banned.contains(&id), "{id} in {banned:?}");
    }
    for eos in &config.text.eos_token_ids {
        assert!(policy.stop_tokens().contains(eos));
    }
    let im_end = tokenizer.token_id("<|im_end|>").expect("im_end");
    assert!(policy.is_stop(im_end));
}

#[test]
fn a_response_stops_at_its_first_stop_token() {
    let (model, tokenizer, bounds) = load("qwen25vl");
    let policy = HfPolicy::new(&model, &tokenizer, bounds).expect("policy");
    let job = &jobs("medsynth/lesion-side-v1", 1)[0];
    let prompt = encode_hf_prompt(&job.task.observation(&job.item), &model, &tokenizer, bounds)
        .expect("prompt");
    let path = model.greedy(&prompt, 12).expect("greedy");
    assert!(path.iter().all(|token| !policy.is_stop(*token)));
    // The first token that did not come earlier becomes the checkpoint's end-of-sequence token.
    let at = (1..path.len())
        .find(|&k| !path[..k].contains(&path[k]))
        .expect("a fresh token on the greedy path");
    let stop = path[at];
    let dir = edited_copy("qwen25vl", |text| {
        text.replace(
            "\"eos_token_id\": 422",
            &format!("\"eos_token_id\": {stop}"),
        )
    });
    let mut greedy = config(SamplingParams::greedy(), 8);
    greedy.group_size = 1;
    let batch = roll(
        &load_dir(dir.path(), DType::F32),
        std::slice::from_ref(job),
        &greedy,
    );
    let trajectory = &batch.trajectories[0];
    assert_eq!(trajectory.response_ids, path[..=at].to_vec());
    assert!(!trajectory.truncated);
}

#[test]
fn bf16_rollouts_follow_the_bf16_greedy_loop() {
    let checkpoint = load_dir(&fixture("qwen25vl"), DType::BF16);
    let model = &checkpoint.0;
    let batch = roll(
        &checkpoint,
        &jobs("medsynth/lesion-count-v1", 2),
        &config(SamplingParams::greedy(), 8),
    );
    for trajectory in &batch.trajectories {
        let expected = model.greedy(&trajectory.prompt, 12).expect("greedy");
        assert_eq!(
            trajectory.response_ids.as_slice(),
            &expected[..trajectory.response_ids.len()]
        );
    }
}

#[test]
fn encoded_images_are_composited_onto_white_as_transformers_does() {
    let (model, tokenizer, bounds) = load("qwen25vl");
    let mut rgba = image::RgbaImage::new(56, 56);
    for (x, y, pixel) in rgba.enumerate_pixels_mut() {
        *pixel = image::Rgba([(x * 4) as u8, (y * 4) as u8, 90, ((x + y) * 2) as u8]);
    }
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(rgba)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("png");
    let observation = Observation {
        messages: vec![Message {
            role: Role::User,
            content: vec![
                ContentPart::Image(0),
                ContentPart::Text("What is shown?".into()),
            ],
        }],
        images: vec![ItemImage::Encoded {
            bytes: bytes.clone().into(),
            origin: "test.png".into(),
        }],
    };
    let prompt = encode_hf_prompt(&observation, &model, &tokenizer, bounds).expect("prompt");
    let vision = model.config().vision.as_ref().expect("vision");
    let decoded = image::load_from_memory(&bytes).expect("decode");
    let on_white = preprocess(&rgb_on_white(&decoded), vision, bounds).expect("preprocess");
    assert_eq!(prompt.images, vec![on_white]);
    let alpha_dropped = decoded.to_rgb8();
    let dropped = RgbImage {
        width: 56,
        height: 56,
        pixels: alpha_dropped.into_raw(),
    };
    assert_ne!(
        prompt.images[0],
        preprocess(&dropped, vision, bounds).expect("preprocess"),
        "transparency matters in this image"
    );
}

#[test]
fn a_checkpoint_whose_placeholder_ids_disagree_is_refused() {
    let dir = edited_copy("qwen25vl", |text| {
        text.replace("\"image_token_id\": 425", "\"image_token_id\": 424")
    });
    let (model, tokenizer, bounds) = load_dir(dir.path(), DType::F32);
    let Err(err) = HfPolicy::new(&model, &tokenizer, bounds) else {
        panic!("a mismatched image placeholder is accepted");
    };
    let message = err.to_string();
    assert!(
        message.contains("424") && message.contains("425"),
        "{message}"
    );
}

#[test]
fn rows_of_one_prompt_share_a_prefill_that_decodes_like_separate_prompts() {
    let (model, tokenizer, bounds) = load("qwen25vl");
    let policy = HfPolicy::new(&model, &tokenizer, bounds).expect("policy");
    let prompt_of = |index: u64| {
        let job = &jobs("medsynth/lesion-count-v1", 2)[index as usize];
        policy
            .encode_prompt(&job.task.observation(&job.item))
            .expect("prompt")
    };
    let (first, second) = (prompt_of(0), prompt_of(1));
    // Rows 0, 1 and 3 hold one prompt (shared), row 2 another.
    let shared = [first.clone(), first.clone(), second.clone(), first.clone()];
    // The same prompts, each row its own copy: no sharing.
    let separate: Vec<Arc<HfInput>> = shared
        .iter()
        .map(|prompt| Arc::new((**prompt).clone()))
        .collect();
    let steps = 4;
    let decode = |prompts: &[Arc<HfInput>]| -> Vec<Vec<f32>> {
        let (mut state, mut logits) = policy.prefill(prompts, steps).expect("prefill");
        assert_eq!(state.rows(), prompts.len());
        let mut seen = Vec::new();
        for step in 0..steps {
            seen.extend(logits.to_vec2::<f32>().expect("logits"));
            let tokens: Vec<u32> = (0..prompts.len() as u32)
                .map(|row| 7 + row + step as u32)
                .collect();
            logits = policy.decode(&mut state, &tokens).expect("decode");
        }
        seen
    };
    let (together, apart) = (decode(&shared), decode(&separate));
    assert_eq!(together.len(), apart.len());
    let worst = together
        .iter()
        .zip(&apart)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "shared prefill differs by {worst}");
    // The rows of the shared prompt start alike and part once their tokens differ.
    assert_eq!(together[0], together[1]);
    assert_eq!(together[0], together[3]);
    assert_ne!(together[0], together[2]);
}
