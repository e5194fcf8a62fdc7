//! The generic JSONL task format: one JSON object per line, image paths relative to the file.

use std::collections::BTreeMap;
use std::path::Path;

use medgym_rewards::AnswerType;
use serde_json::Value;

use super::record::{as_object, read_text, split_from_name, RowCtx, RowParts};
use super::{BenchmarkConfig, Sink};
use crate::error::EnvError;
use crate::types::Split;

/// Loads every line of the JSONL file `config.root`.
pub(crate) fn load(config: &BenchmarkConfig, sink: &mut Sink) -> Result<(), EnvError> {
    let path = &config.root;
    let text = read_text(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let file = path.display().to_string();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let ctx = RowCtx::line(path, index + 1);
        let record =
            parse_line(line, base, &ctx).map(|parts| parts.into_record(&ctx, config.prompt_style));
        sink.push(record, &file)?;
    }
    Ok(())
}

/// The answer type named in a line (`answer_type` field).
fn answer_type(name: &str, ctx: &RowCtx) -> Result<AnswerType, EnvError> {
    AnswerType::ALL
        .iter()
        .copied()
        .find(|kind| kind.as_str() == name)
        .ok_or_else(|| {
            ctx.bad(
                "answer_type",
                format!("unknown answer type `{name}`; expected yes_no, multiple_choice, closed, open, numeric or count"),
            )
        })
}

/// One line → the parts of a record.
fn parse_line(line: &str, base: &Path, ctx: &RowCtx) -> Result<RowParts, EnvError> {
    let value: Value = serde_json::from_str(line)
        .map_err(|error| ctx.bad("json", format!("malformed JSON: {error}")))?;
    let object = as_object(&value, ctx)?;
    let key = match ctx.optional_text(object, "id")? {
        Some(id) => id,
        None => format!("{}:{}", ctx.file, ctx.location),
    };
    let question = ctx.text(object, "question")?;
    if question.trim().is_empty() {
        return Err(ctx.bad("question", "empty"));
    }
    let answer = ctx.text(object, "answer")?;
    let kind = answer_type(&ctx.text(object, "answer_type")?, ctx)?;
    let options = match object.get("options") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => ctx.option_texts(map)?,
        Some(other) => {
            return Err(ctx.bad(
                "options",
                format!("expected an object of letter → text, got {other}"),
            ))
        }
    };
    if kind != AnswerType::MultipleChoice && !options.is_empty() {
        return Err(ctx.bad(
            "options",
            format!("options are only allowed for multiple_choice, not {kind}"),
        ));
    }
    if kind == AnswerType::MultipleChoice && options.is_empty() {
        return Err(ctx.bad("options", "multiple_choice needs an `options` object"));
    }
    let reference = ctx.reference(&answer, kind, options)?;
    let split = match ctx.optional_text(object, "split")? {
        None => Split::Train,
        Some(name) => split_from_name(&name).ok_or_else(|| {
            ctx.bad(
                "split",
                format!("unknown split `{name}`; expected train or test"),
            )
        })?,
    };
    let images = match object.get("images") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(paths)) => paths
            .iter()
            .enumerate()
            .map(|(position, entry)| {
                let field = format!("images[{position}]");
                let relative = entry.as_str().ok_or_else(|| {
                    ctx.bad(&field, format!("expected a path string, got {entry}"))
                })?;
                ctx.image_file(base, relative, &field)
            })
            .collect::<Result<Vec<_>, EnvError>>()?,
        Some(other) => {
            return Err(ctx.bad("images", format!("expected a list of paths, got {other}")))
        }
    };
    let meta = match object.get("meta") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(other) => return Err(ctx.bad("meta", format!("expected an object, got {other}"))),
    };
    Ok(RowParts::without_language(
        key, split, images, question, reference, meta,
    ))
}
