//! Timings of the Qwen2.5-VL-3B shape with seeded random weights: generation tokens/s (text and
//! with an image), one training step, and the device memory held after each phase.
//!
//! On a GPU (the `cuda` feature; `scripts/build_cuda.sh` provides the CUDA toolkit it needs):
//!   scripts/build_cuda.sh run --release -p medgym-policy --features cuda --example gpu_speed -- cuda bf16
//! A shallow smoke run on the CPU (same code path, 2 text layers and 2 vision blocks):
//!   cargo run --release -p medgym-policy --example gpu_speed -- cpu f32 2

use std::time::Instant;

use candle_core::{DType, Device, D};
use medgym_policy::hf::{patchify, select_device, HfConfig, HfInput, HfModel, RgbImage};
use medgym_policy::{PolicyError, Result};

/// The published Qwen2.5-VL-3B-Instruct `config.json` (transformers 4 layout), shapes only.
const QWEN25_VL_3B: &str = r#"{
  "architectures": ["Qwen2_5_VLForConditionalGeneration"],
  "model_type": "qwen2_5_vl",
  "hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
  "num_attention_heads": 16, "num_key_value_heads": 2, "max_position_embeddings": 128000,
  "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "vocab_size": 151936,
  "tie_word_embeddings": true, "hidden_act": "silu",
  "bos_token_id": 151643, "eos_token_id": 151645,
  "vision_start_token_id": 151652, "vision_end_token_id": 151653, "image_token_id": 151655,
  "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
  "vision_config": {
    "depth": 32, "hidden_act": "silu", "hidden_size": 1280, "intermediate_size": 3420,
    "num_heads": 16, "in_chans": 3, "out_hidden_size": 2048, "patch_size": 14,
    "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31]
  }
}"#;

/// Command-line settings: device, weight dtype and an optional depth cut for smoke runs.
struct Settings {
    device: Device,
    dtype: DType,
    layers: Option<usize>,
}

fn invalid(message: String) -> PolicyError {
    PolicyError::InvalidInput(message)
}

fn settings() -> Result<Settings> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let device = match args.first().map(String::as_str) {
        None | Some("cuda") => select_device(Some(0))?,
        Some("cpu") => select_device(None)?,
        Some(other) => return Err(invalid(format!("device `{other}`: use cuda or cpu"))),
    };
    let dtype = match args.get(1).map(String::as_str) {
        None | Some("bf16") => DType::BF16,
        Some("f16") => DType::F16,
        Some("f32") => DType::F32,
        Some(other) => return Err(invalid(format!("dtype `{other}`: use bf16, f16 or f32"))),
    };
    let layers = match args.get(2) {
        Some(text) => match text.parse::<usize>() {
            Ok(layers) if layers > 0 => Some(layers),
            _ => {
                return Err(invalid(format!(
                    "layer count `{text}`: use a positive number"
                )))
            }
        },
        None => None,
    };
    Ok(Settings {
        device,
        dtype,
        layers,
    })
}

/// The 3B configuration, optionally cut to `layers` text layers and vision blocks.
fn config(layers: Option<usize>) -> Result<HfConfig> {
    let mut raw: serde_json::Value = serde_json::from_str(QWEN25_VL_3B)
        .map_err(|error| invalid(format!("built-in config: {error}")))?;
    if let Some(layers) = layers {
        raw["num_hidden_layers"] = layers.into();
        raw["vision_config"]["depth"] = layers.into();
        raw["vision_config"]["fullatt_block_indexes"] = serde_json::json!([layers - 1]);
    }
    HfConfig::from_value(raw, "the built-in Qwen2.5-VL-3B shape")
}

/// Bytes of memory in use on the whole device (CUDA only; `None` on the CPU).
#[cfg(feature = "cuda")]
fn device_memory_used(device: &Device) -> Option<usize> {
    let cuda = device.as_cuda_device().ok()?;
    let (free, total) = cuda.cuda_stream().context().mem_get_info().ok()?;
    Some(total - free)
}

/// Bytes of memory in use on the whole device (CUDA only; `None` on the CPU).
#[cfg(not(feature = "cuda"))]
fn device_memory_used(_device: &Device) -> Option<usize> {
    None
}

fn memory_note(device: &Device, phase: &str) {
    match device_memory_used(device) {
        Some(bytes) => println!(
            "  device memory in use after {phase} (whole device): {:.2} GiB",
            bytes as f64 / (1u64 << 30) as f64
        ),
        None if device.is_cpu() => println!("  device memory: not measured on the CPU"),
        None => println!("  device memory: the driver did not report it"),
    }
}

fn text_prompts(batch: usize, len: usize, vocab: usize) -> Vec<HfInput> {
    (0..batch)
        .map(|row| HfInput {
            token_ids: (0..len)
                .map(|i| ((row * 7919 + i * 104_729) % vocab) as u32)
                .collect(),
            images: Vec::new(),
        })
        .collect()
}

/// Greedy generation of `new` tokens per row; prints prefill time and decode tokens/s.
fn generate(model: &HfModel, label: &str, inputs: &[HfInput], new: usize) -> Result<()> {
    if new < 2 {
        return Err(invalid(format!("{label}: generate at least 2 tokens")));
    }
    let start = Instant::now();
    let (mut state, mut logits) = model.prefill(inputs, new)?;
    let first: Vec<u32> = logits.argmax(D::Minus1)?.to_vec1()?;
    let prefill = start.elapsed().as_secs_f64();
    let decode_start = Instant::now();
    let mut next = first;
    for _ in 1..new {
        logits = model.decode(&mut state, &next)?;
        next = logits.argmax(D::Minus1)?.to_vec1()?;
    }
    let decode = decode_start.elapsed().as_secs_f64();
    let rows = inputs.len();
    println!(
        "{label}: prefill {:.3} s, decode {:.1} tokens/s ({:.2} ms per step), overall {:.1} tokens/s",
        prefill,
        (rows * (new - 1)) as f64 / decode,
        decode * 1e3 / (new - 1) as f64,
        (rows * new) as f64 / start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One image of `side`×`side` pixels (a smooth synthetic picture, moved sideways by `shift`
/// pixels) with a short question.
fn image_prompt(config: &HfConfig, side: usize, shift: usize) -> Result<HfInput> {
    let vision = config
        .vision
        .as_ref()
        .ok_or_else(|| invalid("the configuration has no vision tower".into()))?;
    let pixels = (0..side * side * 3)
        .map(|i| ((i / 3 + shift) % side * 255 / side + i % 3 * 40) as u8)
        .collect();
    let image = RgbImage {
        width: side,
        height: side,
        pixels,
    };
    let patches = patchify(&image, vision)?;
    let merged = patches.merged_tokens(vision.spatial_merge_size);
    let id = |field: Option<u32>, name: &str| {
        field.ok_or_else(|| invalid(format!("the configuration lacks {name}")))
    };
    let mut token_ids = vec![id(config.vision_start_token_id, "vision_start_token_id")?];
    token_ids.extend(std::iter::repeat_n(
        id(config.image_token_id, "image_token_id")?,
        merged,
    ));
    token_ids.push(id(config.vision_end_token_id, "vision_end_token_id")?);
    token_ids.extend((0..32u32).map(|i| 1000 + i * 37));
    Ok(HfInput {
        token_ids,
        images: vec![patches],
    })
}

/// Training steps on `batch`×`len` text: log-probs, backward and a plain SGD update.
fn train_steps(model: &HfModel, batch: usize, len: usize, vocab: usize) -> Result<()> {
    let inputs = text_prompts(batch, len, vocab);
    let vars = model.trainable_vars(|_| true);
    for step in 0..3 {
        let start = Instant::now();
        let logp = model.token_logprobs(&inputs)?;
        let loss = (logp.sum_all()?.neg()? / (batch * (len - 1)) as f64)?;
        // candle queues device work: wait for it so the forward time is the device's.
        model.device().synchronize()?;
        let forward = start.elapsed().as_secs_f64();
        let grads = loss.backward()?;
        let mut updated = 0;
        for (_, var) in &vars {
            if let Some(grad) = grads.get(var.as_tensor()) {
                var.set(&(var.as_tensor() - (grad * 1e-5)?)?)?;
                updated += 1;
            }
        }
        // Reading the loss back waits for the device.
        let loss_value = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        println!(
            "training step {step} at {batch}x{len}: {:.3} s (forward {:.3} s), loss {loss_value:.3}, {updated} of {} tensors updated",
            start.elapsed().as_secs_f64(),
            forward,
            vars.len()
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let settings = settings()?;
    let config = config(settings.layers)?;
    let vocab = config.text.vocab_size;
    let start = Instant::now();
    let model = HfModel::new_random(&config, 1, settings.dtype, &settings.device)?;
    let parameters: usize = model
        .named_vars()
        .iter()
        .map(|(_, var)| var.as_tensor().elem_count())
        .sum();
    println!(
        "Qwen2.5-VL-3B shape ({} text layers), {:?} on {:?}: {:.2} B parameters, built in {:.1} s",
        config.text.num_hidden_layers,
        settings.dtype,
        settings.device.location(),
        parameters as f64 / 1e9,
        start.elapsed().as_secs_f64()
    );
    memory_note(&settings.device, "building the model");
    generate(&model, "text b1 p64 n64", &text_prompts(1, 64, vocab), 64)?;
    generate(
        &model,
        "text b1 p64 n64 (again)",
        &text_prompts(1, 64, vocab),
        64,
    )?;
    generate(&model, "text b32 p64 n64", &text_prompts(32, 64, vocab), 64)?;
    generate(
        &model,
        "image 448x448 (256 merged tokens) + 32 text, n32",
        &[image_prompt(&config, 448, 0)?],
        32,
    )?;
    // A rollout group's rows share their prompt's image: the vision tower runs once for them.
    generate(
        &model,
        "8 rows sharing one 448x448 image, n8",
        &vec![image_prompt(&config, 448, 0)?; 8],
        8,
    )?;
    let distinct = (0..4)
        .map(|shift| image_prompt(&config, 448, shift))
        .collect::<Result<Vec<_>>>()?;
    generate(
        &model,
        "4 rows with distinct 448x448 images, n8",
        &distinct,
        8,
    )?;
    memory_note(&settings.device, "generation");
    train_steps(&model, 4, 512, vocab)?;
    memory_note(&settings.device, "training");
    Ok(())
}
