//! Byte-level BPE tokenizer (through the `tokenizers` crate) and the Qwen-style chat template.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{PolicyError, Result};

/// Special tokens in id order; they are added first so their ids are 0..6 in a freshly trained vocabulary.
pub const SPECIAL_TOKENS: [&str; 6] = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
];

/// Reasoning-format tags kept as single tokens.
pub const FORMAT_TOKENS: [&str; 4] = ["<think>", "</think>", "<answer>", "</answer>"];

/// The Qwen2-VL-style chat template (messages with text and image parts).
pub const CHAT_TEMPLATE: &str = "{%- for message in messages -%}\
<|im_start|>{{ message.role }}\n\
{%- for part in message.content -%}\
{%- if part.type == 'image' -%}<|vision_start|><|image_pad|><|vision_end|>\
{%- else -%}{{ part.text }}{%- endif -%}\
{%- endfor -%}\
<|im_end|>\n\
{%- endfor -%}\
{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}";

/// Ids of the tokens the policy treats specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialTokenIds {
    /// `<|endoftext|>`, also used as padding.
    pub endoftext: u32,
    /// `<|im_start|>`.
    pub im_start: u32,
    /// `<|im_end|>`: ends an assistant turn.
    pub im_end: u32,
    /// `<|vision_start|>`.
    pub vision_start: u32,
    /// `<|vision_end|>`.
    pub vision_end: u32,
    /// `<|image_pad|>`: one per image token.
    pub image_pad: u32,
}

/// One part of a chat message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ChatPart {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// An image placeholder.
    Image,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Text and image parts in order.
    pub content: Vec<ChatPart>,
}

/// The tokenizer of a policy.
#[derive(Clone)]
pub struct PolicyTokenizer {
    inner: Tokenizer,
    special: SpecialTokenIds,
}

impl std::fmt::Debug for PolicyTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PolicyTokenizer(vocab={}, {:?})",
            self.vocab_size(),
            self.special
        )
    }
}

fn tok_err(e: impl std::fmt::Display) -> PolicyError {
    PolicyError::Tokenizer(e.to_string())
}

impl PolicyTokenizer {
    /// Train a byte-level BPE vocabulary of `vocab_size` entries on `corpus` (deterministic for a given corpus).
    pub fn train_bpe(corpus: &[String], vocab_size: usize) -> Result<Self> {
        let mut specials: Vec<AddedToken> = SPECIAL_TOKENS
            .iter()
            .map(|t| AddedToken::from(t.to_string(), true))
            .collect();
        specials.extend(
            FORMAT_TOKENS
                .iter()
                .map(|t| AddedToken::from(t.to_string(), true)),
        );
        let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
        let trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(specials)
            .initial_alphabet(alphabet)
            .build();
        let mut trainer: TrainerWrapper = trainer.into();
        let mut tokenizer = Tokenizer::new(BPE::default());
        tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        tokenizer.with_decoder(Some(ByteLevel::new(false, true, true)));
        tokenizer
            .train(&mut trainer, corpus.iter().map(String::as_str))
            .map_err(tok_err)?;
        let specials: Vec<AddedToken> = SPECIAL_TOKENS
            .iter()
            .map(|t| AddedToken::from(t.to_string(), true))
            .collect();
        tokenizer.add_special_tokens(&specials);
        let format: Vec<AddedToken> = FORMAT_TOKENS
            .iter()
            .map(|t| AddedToken::from(t.to_string(), false))
            .collect();
        tokenizer.add_tokens(&format);
        Self::from_tokenizer(tokenizer)
    }

    fn from_tokenizer(inner: Tokenizer) -> Result<Self> {
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| PolicyError::Tokenizer(format!("special token {t} is missing")))
        };
        let special = SpecialTokenIds {
            endoftext: id(SPECIAL_TOKENS[0])?,
            im_start: id(SPECIAL_TOKENS[1])?,
            im_end: id(SPECIAL_TOKENS[2])?,
            vision_start: id(SPECIAL_TOKENS[3])?,
            vision_end: id(SPECIAL_TOKENS[4])?,
            image_pad: id(SPECIAL_TOKENS[5])?,
        };
        for t in FORMAT_TOKENS {
            id(t)?;
        }
        Ok(Self { inner, special })
    }

    /// Parse a `tokenizer.json` document.
    pub fn from_json(json: &str) -> Result<Self> {
        let inner: Tokenizer = json.parse().map_err(tok_err)?;
        Self::from_tokenizer(inner)
    }

    /// Read a `tokenizer.json` file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let json = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&json)
            .map_err(|e| PolicyError::Tokenizer(format!("{}: {e}", path.display())))
    }

    /// The `tokenizer.json` document.
    pub fn to_json(&self) -> Result<String> {
        self.inner.to_string(false).map_err(tok_err)
    }

    /// Write `tokenizer.json`.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json()?).map_err(|source| PolicyError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Ids of the special tokens.
    pub fn special(&self) -> SpecialTokenIds {
        self.special
    }

    /// Id of a token string, if it is in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Encode text; special and format tokens written in the text are recognised.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(tok_err)?
            .get_ids()
            .to_vec())
    }

    /// Decode ids to text.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner.decode(ids, skip_special).map_err(tok_err)
    }

    /// Render the chat template and tokenize it, expanding each image to `tokens_per_image` placeholders.
    pub fn encode_chat(
        &self,
        messages: &[ChatMessage],
        tokens_per_image: usize,
        add_generation_prompt: bool,
    ) -> Result<Vec<u32>> {
        let text = render_chat(messages, add_generation_prompt)?;
        let expanded = text.replace(
            SPECIAL_TOKENS[5],
            &SPECIAL_TOKENS[5].repeat(tokens_per_image),
        );
        self.encode(&expanded)
    }
}

/// Render messages with [`CHAT_TEMPLATE`].
pub fn render_chat(messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.add_template("chat", CHAT_TEMPLATE)
        .map_err(|e| PolicyError::Template(e.to_string()))?;
    let template = env
        .get_template("chat")
        .map_err(|e| PolicyError::Template(e.to_string()))?;
    template
        .render(minijinja::context! { messages => messages, add_generation_prompt => add_generation_prompt })
        .map_err(|e| PolicyError::Template(e.to_string()))
}

/// The template's fixed text (roles and markers), for building tokenizer corpora.
pub fn render_chat_for_corpus() -> String {
    let roles = ["system", "user", "assistant"];
    roles
        .iter()
        .map(|r| format!("<|im_start|>{r}\n<|im_end|>\n"))
        .collect()
}
