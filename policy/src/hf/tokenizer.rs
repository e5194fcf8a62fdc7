//! A checkpoint's tokenizer (`tokenizer.json`) and its chat template (rendered with minijinja).

use std::path::Path;

use serde_json::Value;
use tokenizers::Tokenizer;

use crate::error::{PolicyError, Result};

/// Tokenizer and chat template of a Hugging Face checkpoint folder.
#[derive(Clone)]
pub struct HfTokenizer {
    inner: Tokenizer,
    chat_template: Option<String>,
}

impl std::fmt::Debug for HfTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HfTokenizer(vocab={}, chat_template={})",
            self.inner.get_vocab_size(true),
            self.chat_template.is_some()
        )
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn template_from_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        // A list of named templates: take "default".
        Value::Array(items) => items.iter().find_map(|item| {
            (item.get("name")?.as_str()? == "default")
                .then(|| item.get("template")?.as_str().map(str::to_string))
                .flatten()
        }),
        _ => None,
    }
}

impl HfTokenizer {
    /// Read `tokenizer.json` and the chat template (`chat_template.jinja`, `chat_template.json` or
    /// the `chat_template` field of `tokenizer_config.json`) from `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        let inner: Tokenizer = read(&path)?
            .parse()
            .map_err(|e| PolicyError::Tokenizer(format!("{}: {e}", path.display())))?;
        let jinja = dir.join("chat_template.jinja");
        let json = dir.join("chat_template.json");
        let config = dir.join("tokenizer_config.json");
        let parse = |p: &Path| -> Result<Value> {
            serde_json::from_str(&read(p)?).map_err(|source| PolicyError::Json {
                path: p.display().to_string(),
                source,
            })
        };
        let chat_template = if jinja.exists() {
            Some(read(&jinja)?)
        } else if json.exists() {
            parse(&json)?
                .get("chat_template")
                .and_then(template_from_value)
        } else if config.exists() {
            parse(&config)?
                .get("chat_template")
                .and_then(template_from_value)
        } else {
            None
        };
        Ok(Self {
            inner,
            chat_template,
        })
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Id of a token string.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Encode text as given (no added BOS/EOS; special tokens written in the text are recognised).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(|e| PolicyError::Tokenizer(e.to_string()))?
            .get_ids()
            .to_vec())
    }

    /// Decode ids to text.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| PolicyError::Tokenizer(e.to_string()))
    }

    /// Whether a chat template was found.
    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// Render `messages` (transformers' message format) with the checkpoint's chat template.
    pub fn render_chat(&self, messages: &Value, add_generation_prompt: bool) -> Result<String> {
        let template = self
            .chat_template
            .as_deref()
            .ok_or_else(|| PolicyError::Template("the checkpoint has no chat template".into()))?;
        let mut env = minijinja::Environment::new();
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template("chat", template)
            .map_err(|e| PolicyError::Template(e.to_string()))?;
        let tmpl = env
            .get_template("chat")
            .map_err(|e| PolicyError::Template(e.to_string()))?;
        tmpl.render(minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
        })
        .map_err(|e| PolicyError::Template(e.to_string()))
    }
}
