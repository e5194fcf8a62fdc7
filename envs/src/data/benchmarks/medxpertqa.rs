//! MedXpertQA multimodal: `MM/test.jsonl` and `MM/dev.jsonl` plus `images/`; five options.
//! Reads the Hugging Face rows (options as a letter → text object, `label` a letter, `images` file
//! names) and the evaluation-repository rows (options as `{letter, content}` list, `label` a list,
//! `images` as `{image_path}` objects).

use std::collections::BTreeMap;
use std::path::Path;

use medgym_rewards::AnswerType;
use serde_json::Value;

use super::first_existing;
use crate::data::record::{as_object, meta_from, read_text, RowCtx, RowParts};
use crate::data::{BenchmarkConfig, Sink};
use crate::error::EnvError;
use crate::types::Split;

/// Loads `MM/dev.jsonl` (train) and `MM/test.jsonl` (test), or the same names in the root.
pub(crate) fn load(config: &BenchmarkConfig, sink: &mut Sink) -> Result<(), EnvError> {
    let root = &config.root;
    let images =
        first_existing(root, &["images", "MM/images"]).unwrap_or_else(|| root.join("images"));
    for (name, split) in [("dev.jsonl", Split::Train), ("test.jsonl", Split::Eval)] {
        if config.split.is_some_and(|wanted| wanted != split) {
            continue;
        }
        let Some(path) = first_existing(root, &[&format!("MM/{name}"), name]) else {
            continue;
        };
        let file = path.display().to_string();
        let Some(text) = sink.read_or_report(&path, read_text)? else {
            continue;
        };
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let ctx = RowCtx::line(&path, index + 1);
            let record = row(line, split, &images, &ctx)
                .map(|parts| parts.into_record(&ctx, config.prompt_style));
            sink.push(record, &file)?;
        }
    }
    Ok(())
}

fn options(value: Option<&Value>, ctx: &RowCtx) -> Result<BTreeMap<String, String>, EnvError> {
    match value {
        Some(Value::Object(map)) => ctx.option_texts(map),
        Some(Value::Array(entries)) => entries
            .iter()
            .map(|entry| {
                let letter = entry.get("letter").and_then(Value::as_str);
                let content = entry.get("content").and_then(Value::as_str);
                match (letter, content) {
                    (Some(letter), Some(content)) => Ok((letter.to_string(), content.to_string())),
                    _ => Err(ctx.bad(
                        "options",
                        format!("expected {{letter, content}}, got {entry}"),
                    )),
                }
            })
            .collect(),
        None | Some(Value::Null) => Err(ctx.bad("options", "missing")),
        Some(other) => Err(ctx.bad(
            "options",
            format!("expected an object or list, got {other}"),
        )),
    }
}

fn label(value: Option<&Value>, ctx: &RowCtx) -> Result<String, EnvError> {
    match value {
        Some(Value::String(letter)) => Ok(letter.clone()),
        Some(Value::Array(letters)) if letters.len() == 1 => ctx.text_value(&letters[0], "label"),
        None | Some(Value::Null) => Err(ctx.bad("label", "missing")),
        Some(other) => Err(ctx.bad("label", format!("expected one letter, got {other}"))),
    }
}

fn image_names(value: Option<&Value>, ctx: &RowCtx) -> Result<Vec<String>, EnvError> {
    let Some(Value::Array(entries)) = value else {
        return Err(ctx.bad("images", "missing or not a list"));
    };
    entries
        .iter()
        .enumerate()
        .map(|(position, entry)| match entry {
            Value::String(name) => Ok(name.clone()),
            Value::Object(map) => match map.get("image_path") {
                Some(Value::String(name)) => Ok(name.clone()),
                _ => Err(ctx.bad(&format!("images[{position}]"), "missing image_path")),
            },
            other => Err(ctx.bad(
                &format!("images[{position}]"),
                format!("expected a file name, got {other}"),
            )),
        })
        .collect()
}

/// The question without its trailing "Answer Choices: (A) …" list (the prompt lists the options).
fn question_stem(question: &str) -> &str {
    question
        .split("\nAnswer Choices:")
        .next()
        .unwrap_or(question)
        .trim()
}

fn row(line: &str, split: Split, images: &Path, ctx: &RowCtx) -> Result<RowParts, EnvError> {
    let value: Value = serde_json::from_str(line)
        .map_err(|error| ctx.bad("json", format!("malformed JSON: {error}")))?;
    let object = as_object(&value, ctx)?;
    let question = question_stem(&ctx.text(object, "question")?).to_string();
    let options = options(object.get("options"), ctx)?;
    let answer = label(object.get("label"), ctx)?;
    let images = image_names(object.get("images"), ctx)?
        .iter()
        .enumerate()
        .map(|(position, name)| ctx.image_file(images, name, &format!("images[{position}]")))
        .collect::<Result<Vec<_>, EnvError>>()?;
    let reference = ctx.reference(&answer, AnswerType::MultipleChoice, options)?;
    let key = ctx
        .optional_text(object, "id")?
        .unwrap_or_else(|| ctx.location.clone());
    Ok(RowParts::without_language(
        key,
        split,
        images,
        question,
        reference,
        meta_from(object, &["medical_task", "body_system", "question_type"]),
    ))
}
