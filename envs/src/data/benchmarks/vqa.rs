//! VQA-RAD (parquet or original JSON + image folder) and PathVQA (parquet).

use std::collections::BTreeMap;
use std::path::Path;

use medgym_rewards::AnswerType;
use serde_json::Value;

use super::{first_existing, parquet_shards};
use crate::data::parquet_rows::{self, read_rows};
use crate::data::record::{as_object, meta_from, read_json_list, yes_no_or, RowCtx, RowParts};
use crate::data::{BenchmarkConfig, Sink};
use crate::error::EnvError;
use crate::types::Split;

/// Folders the original VQA-RAD release keeps its images in, tried in order.
const VQA_RAD_IMAGE_FOLDERS: [&str; 4] = ["VQA_RAD Image Folder", "images", "imgs", "."];

/// Loads `image`/`question`/`answer` parquet shards (Hugging Face layout) under the root.
fn load_parquet(config: &BenchmarkConfig, sink: &mut Sink) -> Result<usize, EnvError> {
    let shards = parquet_shards(&config.root, config.split)?;
    for (path, split) in &shards {
        let file = path.display().to_string();
        let Some(rows) = sink.read_or_report(path, read_rows)? else {
            continue;
        };
        for (index, row) in rows.into_iter().enumerate() {
            let ctx = RowCtx::row(path, index);
            let record = row.and_then(|row| {
                let question = parquet_rows::text(&row, "question", &ctx)?;
                let answer = parquet_rows::text(&row, "answer", &ctx)?;
                let image = parquet_rows::image(&row, "image", &ctx, true)?;
                let reference = ctx.reference(
                    &answer,
                    yes_no_or(&answer, AnswerType::Open),
                    BTreeMap::new(),
                )?;
                Ok(RowParts::without_language(
                    format!("{}:{index}", split.name()),
                    *split,
                    image.into_iter().collect(),
                    question,
                    reference,
                    BTreeMap::new(),
                )
                .into_record(&ctx, config.prompt_style))
            });
            sink.push(record, &file)?;
        }
    }
    Ok(shards.len())
}

/// VQA-RAD: parquet shards when present, else the original JSON (MEVF `trainset.json` /
/// `testset.json`, or `VQA_RAD Dataset Public.json` whose `phrase_type` "test_*" rows are the test split).
pub(crate) fn load_vqa_rad(config: &BenchmarkConfig, sink: &mut Sink) -> Result<(), EnvError> {
    if load_parquet(config, sink)? > 0 {
        return Ok(());
    }
    let root = &config.root;
    let images = first_existing(root, &VQA_RAD_IMAGE_FOLDERS).unwrap_or_else(|| root.clone());
    let split_files: Vec<(std::path::PathBuf, Option<Split>)> = [
        ("trainset.json", Split::Train),
        ("testset.json", Split::Eval),
    ]
    .iter()
    .map(|(name, split)| (root.join(name), Some(*split)))
    .filter(|(path, _)| path.is_file())
    .collect();
    let files = if split_files.is_empty() {
        vec![(root.join("VQA_RAD Dataset Public.json"), None)]
    } else {
        split_files
    };
    for (path, split) in files {
        if !path.is_file() || split.is_some_and(|s| config.split.is_some_and(|w| w != s)) {
            continue;
        }
        load_vqa_rad_json(&path, split, &images, config, sink)?;
    }
    Ok(())
}

fn load_vqa_rad_json(
    path: &Path,
    split: Option<Split>,
    images: &Path,
    config: &BenchmarkConfig,
    sink: &mut Sink,
) -> Result<(), EnvError> {
    let file = path.display().to_string();
    let Some(rows) = sink.read_or_report(path, read_json_list)? else {
        return Ok(());
    };
    for (index, value) in rows.iter().enumerate() {
        let ctx = RowCtx::row(path, index);
        let record = vqa_rad_row(value, split, images, &ctx)
            .map(|parts| parts.into_record(&ctx, config.prompt_style));
        sink.push(record, &file)?;
    }
    Ok(())
}

fn vqa_rad_row(
    value: &Value,
    split: Option<Split>,
    images: &Path,
    ctx: &RowCtx,
) -> Result<RowParts, EnvError> {
    let object = as_object(value, ctx)?;
    let question = ctx.text(object, "question")?;
    let answer = ctx.text(object, "answer")?;
    let image_name = ctx.text(object, "image_name")?;
    let split = match split {
        Some(split) => split,
        None => match ctx.optional_text(object, "phrase_type")? {
            Some(phrase) if phrase.starts_with("test") => Split::Eval,
            _ => Split::Train,
        },
    };
    let image = ctx.image_file(images, &image_name, "image_name")?;
    let reference = ctx.reference(
        &answer,
        yes_no_or(&answer, AnswerType::Open),
        BTreeMap::new(),
    )?;
    let key = ctx
        .optional_text(object, "qid")?
        .unwrap_or_else(|| format!("row {}", ctx.location));
    Ok(RowParts::without_language(
        key,
        split,
        vec![image],
        question,
        reference,
        meta_from(
            object,
            &["image_organ", "question_type", "answer_type", "phrase_type"],
        ),
    ))
}

/// PathVQA: Hugging Face parquet shards (`train`, `validation`, `test`).
pub(crate) fn load_path_vqa(config: &BenchmarkConfig, sink: &mut Sink) -> Result<(), EnvError> {
    load_parquet(config, sink).map(|_| ())
}
