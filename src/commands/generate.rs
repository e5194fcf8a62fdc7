//! `medgym generate`: continue a prompt with a Hugging Face Qwen2 / Qwen2.5-VL checkpoint.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use medgym_kernels::{tensor_sampler_for, RandomKey, SamplingParams};
use medgym_policy::hf::{
    decode_rgb, image_placeholder, preprocess, select_device, HfInput, HfModel, HfTokenizer,
    ResizeBounds, RgbImage, IMAGE_PAD,
};

use crate::{MedgymError, Result};

/// Arguments of `medgym generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Checkpoint folder (config.json, safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Prompt text; tokenized exactly as given unless --chat.
    #[arg(long)]
    pub prompt: String,
    /// Wrap the prompt as one user message with the checkpoint's chat template.
    #[arg(long)]
    pub chat: bool,
    /// PNG, JPEG or PPM/PGM image, resized as the checkpoint's processor does (vision models only).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Tokens to generate at most.
    #[arg(long, default_value_t = 32)]
    pub max_new_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Nucleus mass (1 disables it).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print input_ids, output_ids and output_logprobs as JSON.
    #[arg(long)]
    pub json: bool,
    /// Where the model runs: `cpu`, or `cuda` / `cuda:N` (a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Weight and activation precision.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub dtype: Precision,
}

/// Weight and activation precision of `medgym generate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// 32-bit floats.
    F32,
    /// bfloat16.
    Bf16,
    /// IEEE half precision.
    F16,
}

impl Precision {
    /// The candle dtype.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
            Precision::F16 => DType::F16,
        }
    }
}

/// The device named by `--device`: `cpu`, `cuda` (device 0) or `cuda:N`.
pub fn parse_device(text: &str) -> Result<Device> {
    let invalid = |reason: String| MedgymError::InvalidSetting {
        field: format!("--device {text}"),
        reason,
    };
    let ordinal = match text {
        "cpu" => None,
        "cuda" => Some(0),
        _ => match text.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(ordinal)) => Some(ordinal),
            _ => return Err(invalid("use cpu, cuda or cuda:N".into())),
        },
    };
    select_device(ordinal).map_err(|err| invalid(err.to_string()))
}

/// Read an image file (PNG, JPEG, or netpbm PPM/PGM, told apart by content) as RGB, transparency
/// composited onto white as transformers does.
pub fn read_image(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|source| MedgymError::Io {
        path: path.display().to_string(),
        source,
    })?;
    decode_rgb(&bytes).map_err(|err| MedgymError::InvalidSetting {
        field: format!("--image {}", path.display()),
        reason: format!("not a readable PNG, JPEG or PPM/PGM image: {err}"),
    })
}

/// What `medgym generate` produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GenerateOutput {
    /// The prompt's token ids (image placeholders expanded).
    pub input_ids: Vec<u32>,
    /// Generated token ids (ending with the end-of-turn token when one was produced).
    pub output_ids: Vec<u32>,
    /// Log-softmax of the raw logits at each generated token.
    pub output_logprobs: Vec<f32>,
    /// The generated text (special tokens kept).
    pub output_text: String,
}

/// Tokenize the prompt (with the chat template and image when asked) and sample a continuation.
pub fn generate(
    model: &HfModel,
    tokenizer: &HfTokenizer,
    args: &GenerateArgs,
) -> Result<GenerateOutput> {
    let mut images = Vec::new();
    let mut text = args.prompt.clone();
    if let Some(path) = &args.image {
        let Some(vision) = model.config().vision.clone() else {
            return Err(MedgymError::InvalidSetting {
                field: "--image".into(),
                reason: format!("{} has no vision tower", args.model.display()),
            });
        };
        let bounds = ResizeBounds::from_dir(&args.model)?;
        let patches = preprocess(&read_image(path)?, &vision, bounds).map_err(|err| {
            MedgymError::InvalidSetting {
                field: format!("--image {}", path.display()),
                reason: err.to_string(),
            }
        })?;
        let merged = patches.merged_tokens(vision.spatial_merge_size);
        text = if !args.chat && text.contains(IMAGE_PAD) {
            text.replacen(IMAGE_PAD, &IMAGE_PAD.repeat(merged), 1)
        } else {
            format!("{}{text}", image_placeholder(merged))
        };
        images.push(patches);
    }
    if args.chat {
        let messages = serde_json::json!([{ "role": "user", "content": text }]);
        text = tokenizer.render_chat(&messages, true)?;
    }
    let input_ids = tokenizer.encode(&text)?;
    let input = HfInput {
        token_ids: input_ids.clone(),
        images,
    };
    let params = SamplingParams::new(args.temperature, 0, args.top_p);
    params.validate()?;
    let vocab = model.config().text.vocab_size;
    let stops = &model.config().text.eos_token_ids;
    let sampler =
        tensor_sampler_for(model.device()).map_err(|err| MedgymError::InvalidSetting {
            field: format!("--device {}", args.device),
            reason: format!("no sampler for the model's device: {err}"),
        })?;
    let (mut state, mut logits) =
        model.prefill(std::slice::from_ref(&input), args.max_new_tokens)?;
    let mut output_ids = Vec::new();
    let mut output_logprobs = Vec::new();
    for step in 0..args.max_new_tokens {
        let row = logits
            .reshape((1, vocab))
            .map_err(medgym_policy::PolicyError::from)?;
        let key = RandomKey::new(args.seed, 0, step as u64);
        let picked = sampler.sample_tensor(&row, &[params], &[key], &[])?;
        let Some(token) = picked.first() else {
            break;
        };
        output_ids.push(token.token);
        output_logprobs.push(token.logprob);
        if stops.contains(&token.token) || step + 1 == args.max_new_tokens {
            break;
        }
        logits = model.decode(&mut state, &[token.token])?;
    }
    Ok(GenerateOutput {
        output_text: tokenizer.decode(&output_ids, false)?,
        input_ids,
        output_ids,
        output_logprobs,
    })
}

/// Loads `--model` on `--device` in `--dtype`.
pub fn load_model(args: &GenerateArgs) -> Result<HfModel> {
    let device = parse_device(&args.device)?;
    Ok(HfModel::load(&args.model, args.dtype.dtype(), &device)?)
}

/// Runs `medgym generate`.
pub fn run(args: GenerateArgs) -> Result<()> {
    let model = load_model(&args)?;
    let tokenizer = HfTokenizer::from_dir(&args.model)?;
    let out = generate(&model, &tokenizer, &args)?;
    if args.json {
        let line = serde_json::to_string(&out).map_err(|source| MedgymError::Json {
            what: "generate output".into(),
            source,
        })?;
        println!("{line}");
    } else {
        println!("{}", out.output_text);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("policy/tests/fixtures")
            .join(name)
    }

    fn args(model: &str, prompt: &str) -> GenerateArgs {
        GenerateArgs {
            model: fixture(model),
            prompt: prompt.into(),
            chat: false,
            image: None,
            max_new_tokens: 10,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            json: true,
            device: "cpu".into(),
            dtype: Precision::F32,
        }
    }

    #[test]
    fn greedy_generation_matches_transformers_and_reports_raw_logprobs() {
        let reference: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture("qwen2_tied").join("reference.json")).expect("read"),
        )
        .expect("json");
        let prompt = &reference["prompts"][0];
        let model = HfModel::load(&fixture("qwen2_tied"), DType::F32, &Device::Cpu).expect("model");
        let tokenizer = HfTokenizer::from_dir(&fixture("qwen2_tied")).expect("tokenizer");
        let out = generate(
            &model,
            &tokenizer,
            &args("qwen2_tied", prompt["text"].as_str().expect("text")),
        )
        .expect("generate");
        let want = |v: &serde_json::Value| -> Vec<u32> {
            v.as_array()
                .expect("ids")
                .iter()
                .map(|x| x.as_u64().expect("id") as u32)
                .collect()
        };
        assert_eq!(out.input_ids, want(&prompt["ids"]));
        assert_eq!(out.output_ids, want(&prompt["greedy"]));
        let logp = log_softmax(&last_logits(
            &model,
            &HfInput {
                token_ids: out.input_ids.clone(),
                images: Vec::new(),
            },
        ));
        assert!((logp[out.output_ids[0] as usize] - out.output_logprobs[0] as f64).abs() < 1e-4);
    }

    #[test]
    fn device_and_dtype_flags_parse() {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            args: GenerateArgs,
        }
        let parsed = <Command as clap::Parser>::try_parse_from([
            "generate", "--model", "m", "--prompt", "p", "--dtype", "bf16", "--device", "cuda:1",
        ])
        .expect("flags parse");
        assert_eq!(parsed.args.dtype, Precision::Bf16);
        assert_eq!(parsed.args.device, "cuda:1");
        let defaults = <Command as clap::Parser>::try_parse_from([
            "generate", "--model", "m", "--prompt", "p",
        ])
        .expect("defaults");
        assert_eq!(
            (defaults.args.dtype, defaults.args.device.as_str()),
            (Precision::F32, "cpu")
        );
        assert!(<Command as clap::Parser>::try_parse_from([
            "generate", "--model", "m", "--prompt", "p", "--dtype", "f64",
        ])
        .is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_named_error() {
        let err = parse_device("cuda:0")
            .expect_err("no CUDA build")
            .to_string();
        assert!(err.contains("--device cuda:0"), "{err}");
    }

    #[test]
    fn devices_are_parsed_and_bad_names_are_reported() {
        assert!(parse_device("cpu").expect("cpu").is_cpu());
        for bad in ["gpu", "cuda:", "cuda:x", "CUDA"] {
            let err = parse_device(bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("--device {bad}")), "{err}");
        }
    }

    #[test]
    fn half_precision_generation_follows_the_half_precision_model() {
        let tokenizer = HfTokenizer::from_dir(&fixture("qwen2_tied")).expect("tokenizer");
        let full = load_model(&args("qwen2_tied", "")).expect("f32 model");
        for precision in [Precision::Bf16, Precision::F16] {
            let mut a = args("qwen2_tied", "The scan shows");
            a.dtype = precision;
            a.max_new_tokens = 4;
            let model = load_model(&a).expect("half-precision model");
            assert_eq!(model.dtype(), precision.dtype());
            let out = generate(&model, &tokenizer, &a).expect("generate");
            let input = HfInput {
                token_ids: out.input_ids.clone(),
                images: Vec::new(),
            };
            let greedy = model.greedy(&input, 4).expect("greedy");
            assert_eq!(
                out.output_ids,
                greedy[..out.output_ids.len()],
                "{precision:?}"
            );
            let row = last_logits(&model, &input);
            // The half-precision model is the checkpoint rounded, not another model.
            let reference = last_logits(&full, &input);
            let largest = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
            let drift = row
                .iter()
                .zip(&reference)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                drift <= 0.05 * largest,
                "{precision:?}: logits drift {drift} of {largest}"
            );
            let expected = log_softmax(&row)[out.output_ids[0] as usize];
            assert!(
                (expected - out.output_logprobs[0] as f64).abs() < 1e-4,
                "{precision:?}: {expected} vs {}",
                out.output_logprobs[0]
            );
        }
    }

    /// The f32 logits a prefill of `input` gives for the next token.
    fn last_logits(model: &HfModel, input: &HfInput) -> Vec<f32> {
        let (_, logits) = model
            .prefill(std::slice::from_ref(input), 1)
            .expect("prefill");
        logits
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .expect("row")
    }

    fn log_softmax(row: &[f32]) -> Vec<f64> {
        let max = row.iter().copied().fold(f32::MIN, f32::max) as f64;
        let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        row.iter().map(|&v| v as f64 - max - sum.ln()).collect()
    }

    #[test]
    fn image_prompt_expands_placeholders_and_bad_images_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("scan.ppm");
        let (w, h) = (56usize, 28usize);
        let mut bytes = format!("P6\n# test\n{w} {h}\n255\n").into_bytes();
        bytes.extend((0..w * h * 3).map(|i| (i % 251) as u8));
        std::fs::write(&path, bytes).expect("write");
        let model = HfModel::load(&fixture("qwen25vl"), DType::F32, &Device::Cpu).expect("model");
        let tokenizer = HfTokenizer::from_dir(&fixture("qwen25vl")).expect("tokenizer");
        let mut a = args("qwen25vl", "Is there a nodule?");
        // An image the processor refuses (aspect ratio over 200) is named in the error.
        let thin = dir.path().join("thin.ppm");
        let mut bytes = b"P6\n300 1\n255\n".to_vec();
        bytes.extend(std::iter::repeat_n(7u8, 900));
        std::fs::write(&thin, bytes).expect("write");
        a.image = Some(thin);
        let err = generate(&model, &tokenizer, &a)
            .expect_err("thin")
            .to_string();
        assert!(
            err.contains("thin.ppm") && err.contains("aspect ratio"),
            "{err}"
        );
        a.image = Some(path.clone());
        a.chat = true;
        a.max_new_tokens = 3;
        let out = generate(&model, &tokenizer, &a).expect("generate");
        let pad = tokenizer.token_id("<|image_pad|>").expect("pad id");
        // 28 × 56 is under the processor's 56 × 56 minimum: smart resize makes it 56 × 84, a
        // 4 × 6 patch grid merged 2 × 2 into six tokens.
        let pads = |out: &GenerateOutput| out.input_ids.iter().filter(|&&t| t == pad).count();
        assert_eq!(pads(&out), 6);
        assert_eq!(out.output_ids.len(), 3);
        // A PNG of any size is read and resized too (45 × 71 → 56 × 84).
        a.image = Some(fixture("image").join("round.png"));
        assert_eq!(pads(&generate(&model, &tokenizer, &a).expect("png")), 6);
        a.image = Some(path.clone());
        std::fs::write(&path, b"P3\n2 2\n255\n").expect("write");
        let err = generate(&model, &tokenizer, &a)
            .expect_err("ascii ppm")
            .to_string();
        assert!(err.contains("scan.ppm"), "{err}");
    }
}
