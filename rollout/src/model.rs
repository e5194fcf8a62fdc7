//! What the rollout engine generates with: the built-in policy or a Hugging Face checkpoint,
//! behind one trait.

use std::sync::Arc;

use candle_core::Tensor;
use medgym_envs::Observation;
use medgym_policy::hf::{HfDecodeState, HfInput, HfModel, HfTokenizer, ResizeBounds, IMAGE_PAD};
use medgym_policy::{DecodeState, Policy, PolicyTokenizer, SequenceInput};

use crate::engine::prompt_only_tokens;
use crate::error::{Result, RolloutError};
use crate::hf_prompt::encode_hf_prompt;
use crate::prompt::encode_prompt;

/// A model the rollout engine samples from: prompts from observations, batched prefill and
/// KV-cached decoding of left-padded rows.
pub trait RolloutModel: Sync {
    /// A tokenized prompt with its images, as the model reads it.
    type Prompt: Clone + Send + Sync;
    /// The key-value caches of a batch being decoded.
    type State;

    /// Tokenizes an observation with the chat template and the generation prompt.
    fn encode_prompt(&self, observation: &Observation) -> Result<Self::Prompt>;
    /// Logits per row.
    fn vocab_size(&self) -> usize;
    /// Whether a sampled token ends its response.
    fn is_stop(&self, token: u32) -> bool;
    /// Tokens that only prompts hold (vision markers, placeholders, padding): never sampled.
    fn prompt_only_tokens(&self) -> Vec<u32>;
    /// Runs the prompts; the last position's logits per row, `(rows, vocab)`.
    fn prefill(
        &self,
        prompts: &[Self::Prompt],
        max_new_tokens: usize,
    ) -> Result<(Self::State, Tensor)>;
    /// Feeds one token per row still decoding; their next logits, `(rows, vocab)`.
    fn decode(&self, state: &mut Self::State, tokens: &[u32]) -> Result<Tensor>;
    /// Keeps only the listed rows of a batch, in that order.
    fn keep_rows(&self, state: &mut Self::State, rows: &[usize]) -> Result<()>;
    /// The text of generated tokens, without special tokens.
    fn response_text(&self, tokens: &[u32]) -> Result<String>;
}

/// A borrowed model rolls out as the model itself does.
impl<T: RolloutModel> RolloutModel for &T {
    type Prompt = T::Prompt;
    type State = T::State;

    fn encode_prompt(&self, observation: &Observation) -> Result<Self::Prompt> {
        (**self).encode_prompt(observation)
    }

    fn vocab_size(&self) -> usize {
        (**self).vocab_size()
    }

    fn is_stop(&self, token: u32) -> bool {
        (**self).is_stop(token)
    }

    fn prompt_only_tokens(&self) -> Vec<u32> {
        (**self).prompt_only_tokens()
    }

    fn prefill(
        &self,
        prompts: &[Self::Prompt],
        max_new_tokens: usize,
    ) -> Result<(Self::State, Tensor)> {
        (**self).prefill(prompts, max_new_tokens)
    }

    fn decode(&self, state: &mut Self::State, tokens: &[u32]) -> Result<Tensor> {
        (**self).decode(state, tokens)
    }

    fn keep_rows(&self, state: &mut Self::State, rows: &[usize]) -> Result<()> {
        (**self).keep_rows(state, rows)
    }

    fn response_text(&self, tokens: &[u32]) -> Result<String> {
        (**self).response_text(tokens)
    }
}

/// The built-in policy with its tokenizer.
#[derive(Clone, Copy)]
pub struct BuiltinPolicy<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// Its tokenizer.
    pub tokenizer: &'a PolicyTokenizer,
}

impl RolloutModel for BuiltinPolicy<'_> {
    type Prompt = SequenceInput;
    type State = DecodeState;

    fn encode_prompt(&self, observation: &Observation) -> Result<SequenceInput> {
        let per_image = self.policy.config().vision_config.tokens_per_image();
        encode_prompt(observation, self.tokenizer, per_image)
    }

    fn vocab_size(&self) -> usize {
        self.policy.config().vocab_size
    }

    fn is_stop(&self, token: u32) -> bool {
        token == self.policy.config().eos_token_id
    }

    fn prompt_only_tokens(&self) -> Vec<u32> {
        prompt_only_tokens(self.policy.config()).to_vec()
    }

    fn prefill(&self, prompts: &[SequenceInput], _max_new: usize) -> Result<(DecodeState, Tensor)> {
        Ok(self.policy.prefill(prompts)?)
    }

    fn decode(&self, state: &mut DecodeState, tokens: &[u32]) -> Result<Tensor> {
        Ok(self.policy.decode(state, tokens)?)
    }

    fn keep_rows(&self, state: &mut DecodeState, rows: &[usize]) -> Result<()> {
        Ok(state.keep_rows(rows)?)
    }

    fn response_text(&self, tokens: &[u32]) -> Result<String> {
        Ok(self.tokenizer.decode(tokens, true)?)
    }
}

/// A Hugging Face checkpoint (Qwen2 / Qwen2.5 text, Qwen2-VL, Qwen2.5-VL) with its tokenizer and
/// chat template.
pub struct HfPolicy<'a> {
    model: &'a HfModel,
    tokenizer: &'a HfTokenizer,
    bounds: ResizeBounds,
    prompt_only: Vec<u32>,
    stops: Vec<u32>,
}

/// Tokens that end a chat turn or a document in Qwen tokenizers; responses stop at them as well as
/// at the configured `eos_token_id`s (instruct checkpoints list only one of them in config.json).
const TURN_ENDS: [&str; 2] = ["<|im_end|>", "<|endoftext|>"];

impl<'a> HfPolicy<'a> {
    /// The model, its tokenizer and the processor's pixel bounds for resizing images
    /// (`ResizeBounds::from_dir` reads them from the checkpoint). Refuses a tokenizer without a
    /// chat template or with another image placeholder id than the model's, and a checkpoint
    /// without any stop token.
    pub fn new(
        model: &'a HfModel,
        tokenizer: &'a HfTokenizer,
        bounds: ResizeBounds,
    ) -> Result<Self> {
        let refuse = |reason: String| Err(RolloutError::InvalidRequest(reason));
        if !tokenizer.has_chat_template() {
            return refuse("the checkpoint's tokenizer has no chat template".into());
        }
        let config = model.config();
        let pad = tokenizer.token_id(IMAGE_PAD);
        if let Some(image_token) = config.image_token_id {
            if pad != Some(image_token) {
                return refuse(format!(
                    "config.json's image_token_id is {image_token} but the tokenizer's {IMAGE_PAD} is {}",
                    pad.map_or_else(|| "missing".to_string(), |id| id.to_string())
                ));
            }
        }
        let vision = [
            config.image_token_id,
            config.vision_start_token_id,
            config.vision_end_token_id,
        ];
        let named = [
            IMAGE_PAD,
            "<|video_pad|>",
            "<|vision_start|>",
            "<|vision_end|>",
        ]
        .into_iter()
        .filter_map(|token| tokenizer.token_id(token));
        let mut prompt_only: Vec<u32> = vision.into_iter().flatten().chain(named).collect();
        prompt_only.sort_unstable();
        prompt_only.dedup();
        let turn_ends = TURN_ENDS
            .into_iter()
            .filter_map(|token| tokenizer.token_id(token));
        let mut stops: Vec<u32> = config
            .text
            .eos_token_ids
            .iter()
            .copied()
            .chain(turn_ends)
            .collect();
        stops.sort_unstable();
        stops.dedup();
        if stops.is_empty() {
            return refuse(
                "no stop token: config.json has no eos_token_id and the tokenizer has neither \
                 <|im_end|> nor <|endoftext|>"
                    .into(),
            );
        }
        Ok(Self {
            model,
            tokenizer,
            bounds,
            prompt_only,
            stops,
        })
    }

    /// Tokens that end a response.
    pub fn stop_tokens(&self) -> &[u32] {
        &self.stops
    }

    /// The checkpoint's model.
    pub fn model(&self) -> &'a HfModel {
        self.model
    }

    /// The checkpoint's tokenizer.
    pub fn tokenizer(&self) -> &'a HfTokenizer {
        self.tokenizer
    }
}

impl RolloutModel for HfPolicy<'_> {
    /// Shared, so that a group's rows and their trajectories hold one copy of the pixels.
    type Prompt = Arc<HfInput>;
    type State = HfDecodeState;

    fn encode_prompt(&self, observation: &Observation) -> Result<Arc<HfInput>> {
        Ok(Arc::new(encode_hf_prompt(
            observation,
            self.model,
            self.tokenizer,
            self.bounds,
        )?))
    }

    fn vocab_size(&self) -> usize {
        self.model.config().text.vocab_size
    }

    fn is_stop(&self, token: u32) -> bool {
        self.stops.contains(&token)
    }

    fn prompt_only_tokens(&self) -> Vec<u32> {
        self.prompt_only.clone()
    }

    /// Rows that hold the same prompt (the samples of one group) share one prefill: each distinct
    /// prompt runs once and every row starts from a copy of its cache and last logits.
    fn prefill(&self, prompts: &[Arc<HfInput>], max_new: usize) -> Result<(HfDecodeState, Tensor)> {
        let mut distinct: Vec<&Arc<HfInput>> = Vec::with_capacity(prompts.len());
        let rows: Vec<usize> = prompts
            .iter()
            .map(|prompt| {
                distinct
                    .iter()
                    .position(|held| Arc::ptr_eq(held, prompt))
                    .unwrap_or_else(|| {
                        distinct.push(prompt);
                        distinct.len() - 1
                    })
            })
            .collect();
        let inputs: Vec<HfInput> = distinct.iter().map(|prompt| (***prompt).clone()).collect();
        let (mut state, logits) = self.model.prefill(&inputs, max_new)?;
        if inputs.len() == prompts.len() {
            // All distinct: `rows` is the identity.
            return Ok((state, logits));
        }
        state.keep_rows(&rows)?;
        let index: Vec<u32> = rows.iter().map(|&row| row as u32).collect();
        let index = Tensor::from_vec(index, rows.len(), logits.device())?;
        Ok((state, logits.index_select(&index, 0)?))
    }

    fn decode(&self, state: &mut HfDecodeState, tokens: &[u32]) -> Result<Tensor> {
        Ok(self.model.decode(state, tokens)?)
    }

    fn keep_rows(&self, state: &mut HfDecodeState, rows: &[usize]) -> Result<()> {
        Ok(state.keep_rows(rows)?)
    }

    fn response_text(&self, tokens: &[u32]) -> Result<String> {
        Ok(self.tokenizer.decode(tokens, true)?)
    }
}
