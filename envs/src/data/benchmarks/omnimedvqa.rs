//! OmniMedVQA: `QA_information/Open-access/*.json` (one list per source dataset) plus `Images/`.
//! The answer is stored as option text and becomes the matching option letter; every row is test data.

use std::collections::BTreeMap;
use std::path::Path;

use medgym_rewards::AnswerType;
use serde_json::Value;

use super::files_with_extension;
use crate::data::record::{as_object, meta_from, read_json_list, RowCtx, RowParts};
use crate::data::{BenchmarkConfig, Sink};
use crate::error::EnvError;
use crate::types::Split;

/// Loads every open-access JSON file (the restricted-access part is not used, as in MedEvalKit).
pub(crate) fn load(config: &BenchmarkConfig, sink: &mut Sink) -> Result<(), EnvError> {
    if config.split == Some(Split::Train) {
        return Ok(());
    }
    let folder = config.root.join("QA_information").join("Open-access");
    for path in files_with_extension(&folder, ".json")? {
        let file = path.display().to_string();
        let Some(rows) = sink.read_or_report(&path, read_json_list)? else {
            continue;
        };
        for (index, value) in rows.iter().enumerate() {
            let ctx = RowCtx::row(&path, index);
            let record = row(value, &config.root, &ctx)
                .map(|parts| parts.into_record(&ctx, config.prompt_style));
            sink.push(record, &file)?;
        }
    }
    Ok(())
}

fn row(value: &Value, root: &Path, ctx: &RowCtx) -> Result<RowParts, EnvError> {
    let object = as_object(value, ctx)?;
    let question = ctx.text(object, "question")?;
    let mut options = BTreeMap::new();
    for letter in ["A", "B", "C", "D", "E", "F"] {
        if let Some(text) = ctx.optional_text(object, &format!("option_{letter}"))? {
            options.insert(letter.to_string(), text.trim().to_string());
        }
    }
    if options.len() < 2 {
        return Err(ctx.bad("option_A", "fewer than two options (option_A, option_B, …)"));
    }
    let gt_answer = ctx.text(object, "gt_answer")?;
    let letter = options
        .iter()
        .find(|(_, text)| text.as_str() == gt_answer.trim())
        .map(|(letter, _)| letter.clone())
        .ok_or_else(|| ctx.bad("gt_answer", format!("`{gt_answer}` matches no option text")))?;
    let image = ctx.image_file(root, &ctx.text(object, "image_path")?, "image_path")?;
    let reference = ctx.reference(&letter, AnswerType::MultipleChoice, options)?;
    let mut meta = meta_from(
        object,
        &["dataset", "question_type", "modality_type", "gt_answer"],
    );
    if let Some(modality) = object
        .get("modality")
        .filter(|_| !meta.contains_key("modality_type"))
    {
        meta.insert("modality_type".into(), modality.clone());
    }
    let key = ctx
        .optional_text(object, "question_id")?
        .unwrap_or_else(|| ctx.location.clone());
    Ok(RowParts::without_language(
        key,
        Split::Eval,
        vec![image],
        question,
        reference,
        meta,
    ))
}
