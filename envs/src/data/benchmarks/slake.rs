//! SLAKE: `train.json`, `validation.json` (or `validate.json`), `test.json` plus `imgs/`.

use std::collections::BTreeMap;

use medgym_rewards::AnswerType;
use serde_json::Value;

use super::first_existing;
use crate::data::record::{as_object, meta_from, read_json_list, yes_no_or, RowCtx, RowParts};
use crate::data::{BenchmarkConfig, Sink};
use crate::error::EnvError;
use crate::types::Split;

/// Loads every split file present (validation counts as evaluation data, like test).
pub(crate) fn load(config: &BenchmarkConfig, sink: &mut Sink) -> Result<(), EnvError> {
    let root = &config.root;
    let images = first_existing(root, &["imgs", "images"]).unwrap_or_else(|| root.join("imgs"));
    let files: [(&[&str], Split); 3] = [
        (&["train.json"], Split::Train),
        (&["validation.json", "validate.json"], Split::Eval),
        (&["test.json"], Split::Eval),
    ];
    for (names, split) in files {
        if config.split.is_some_and(|wanted| wanted != split) {
            continue;
        }
        let Some(path) = first_existing(root, names) else {
            continue;
        };
        let file = path.display().to_string();
        let Some(rows) = sink.read_or_report(&path, read_json_list)? else {
            continue;
        };
        for (index, value) in rows.iter().enumerate() {
            let ctx = RowCtx::row(&path, index);
            if !language_wanted(value, config.q_lang.as_deref()) {
                continue;
            }
            let record = row(value, split, &images, &ctx)
                .map(|parts| parts.into_record(&ctx, config.prompt_style));
            sink.push(record, &file)?;
        }
    }
    Ok(())
}

/// Rows of another language are left out before parsing (so they are not reported as problems).
fn language_wanted(value: &Value, wanted: Option<&str>) -> bool {
    match (wanted, value.get("q_lang").and_then(Value::as_str)) {
        (Some(wanted), Some(lang)) => lang == wanted,
        _ => true,
    }
}

/// MedEvalKit's mapping: CLOSED yes/no → yes_no, other CLOSED → closed (exact match), OPEN → open.
fn answer_type(answer: &str, declared: &str, ctx: &RowCtx) -> Result<AnswerType, EnvError> {
    match declared.trim().to_uppercase().as_str() {
        "CLOSED" => Ok(yes_no_or(answer, AnswerType::Closed)),
        "OPEN" => Ok(AnswerType::Open),
        other => Err(ctx.bad(
            "answer_type",
            format!("expected OPEN or CLOSED, got `{other}`"),
        )),
    }
}

fn row(
    value: &Value,
    split: Split,
    images: &std::path::Path,
    ctx: &RowCtx,
) -> Result<RowParts, EnvError> {
    let object = as_object(value, ctx)?;
    let question = ctx.text(object, "question")?;
    let answer = ctx.text(object, "answer")?;
    let kind = answer_type(&answer, &ctx.text(object, "answer_type")?, ctx)?;
    let image = ctx.image_file(images, &ctx.text(object, "img_name")?, "img_name")?;
    let reference = ctx.reference(&answer, kind, BTreeMap::new())?;
    let key = ctx
        .optional_text(object, "qid")?
        .unwrap_or_else(|| ctx.location.clone());
    Ok(RowParts {
        key,
        split,
        images: vec![image],
        question,
        reference,
        language: ctx.optional_text(object, "q_lang")?,
        meta: meta_from(
            object,
            &[
                "location",
                "modality",
                "content_type",
                "base_type",
                "answer_type",
            ],
        ),
    })
}
