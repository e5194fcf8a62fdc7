//! The built-in tokenizer: a byte-level BPE vocabulary trained on the built-in task texts.

use medgym_envs::{Split, TaskFamily, SYSTEM_PROMPT};
use medgym_policy::{render_chat_for_corpus, PolicyTokenizer};

use crate::error::{MedgymError, Result};

/// Vocabulary size of the built-in tokenizer.
pub const BUILTIN_VOCAB_SIZE: usize = 512;

/// Items per task used to build the corpus.
pub const CORPUS_ITEMS_PER_TASK: u64 = 400;

/// Seed of the corpus items (train split).
pub const CORPUS_SEED: u64 = 7;

const BUILTIN_JSON: &str = include_str!("../assets/medsynth-tokenizer.json");

/// The committed built-in tokenizer.
pub fn builtin_tokenizer() -> Result<PolicyTokenizer> {
    Ok(PolicyTokenizer::from_json(BUILTIN_JSON)?)
}

/// Texts the built-in tokenizer is trained on: chat prompts and reference responses of train items.
pub fn corpus(tasks: &[std::sync::Arc<dyn TaskFamily>]) -> Result<Vec<String>> {
    let mut texts = vec![SYSTEM_PROMPT.to_string(), render_chat_for_corpus()];
    for task in tasks {
        for index in 0..CORPUS_ITEMS_PER_TASK {
            let item = task
                .item(Split::Train, CORPUS_SEED, index)
                .map_err(MedgymError::Env)?;
            texts.push(item.question.clone());
            texts.push(item.reference_response.clone());
        }
    }
    Ok(texts)
}

/// Train the built-in tokenizer from scratch (what `medgym tokenizer build` writes).
pub fn build_tokenizer(tasks: &[std::sync::Arc<dyn TaskFamily>]) -> Result<PolicyTokenizer> {
    Ok(PolicyTokenizer::train_bpe(
        &corpus(tasks)?,
        BUILTIN_VOCAB_SIZE,
    )?)
}
