//! PMC-VQA: CSV files in the v1 layout (`Figure_path, Question, Answer, Choice A..D, Answer_label`)
//! or the v2 layout (`index, Figure_path, Caption, Question, Choice A..D, Answer, split`), images
//! under `figures/`, `images/` or `images_2/`.

use std::collections::BTreeMap;
use std::path::Path;

use medgym_rewards::AnswerType;

use super::first_existing;
use crate::data::record::{RowCtx, RowParts};
use crate::data::{BenchmarkConfig, Sink};
use crate::error::EnvError;
use crate::types::{Info, Split};

const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

/// Loads `train_2.csv`/`test_2.csv` when present, else `train.csv`/`test.csv` (or `test_clean.csv`).
pub(crate) fn load(config: &BenchmarkConfig, sink: &mut Sink) -> Result<(), EnvError> {
    let root = &config.root;
    let images = first_existing(root, &["figures", "images", "images_2"])
        .unwrap_or_else(|| root.join("images"));
    let v2 = root.join("test_2.csv").is_file() || root.join("train_2.csv").is_file();
    let candidates: [(&[&str], Split); 2] = if v2 {
        [
            (&["train_2.csv"], Split::Train),
            (&["test_2.csv"], Split::Eval),
        ]
    } else {
        [
            (&["train.csv"], Split::Train),
            (&["test.csv", "test_clean.csv"], Split::Eval),
        ]
    };
    for (names, split) in candidates {
        if config.split.is_some_and(|wanted| wanted != split) {
            continue;
        }
        if let Some(path) = first_existing(root, names) {
            load_csv(&path, split, &images, config, sink)?;
        }
    }
    Ok(())
}

fn load_csv(
    path: &Path,
    split: Split,
    images: &Path,
    config: &BenchmarkConfig,
    sink: &mut Sink,
) -> Result<(), EnvError> {
    let file = path.display().to_string();
    let mut reader = match csv::ReaderBuilder::new().flexible(false).from_path(path) {
        Ok(reader) => reader,
        Err(error) => return sink.problem(EnvError::DataConfig(format!("{file}: {error}")), &file),
    };
    let headers: Vec<String> = match reader.headers() {
        Ok(headers) => headers.iter().map(|h| h.trim().to_string()).collect(),
        Err(error) => {
            return sink.problem(
                RowCtx::line(path, 1).bad("header", error.to_string()),
                &file,
            )
        }
    };
    let layout_v1 = headers.iter().any(|h| h == "Answer_label");
    for (index, result) in reader.records().enumerate() {
        let record = match result {
            Ok(record) => record,
            Err(error) => {
                let line = error
                    .position()
                    .map(|p| p.line() as usize)
                    .unwrap_or(index + 2);
                sink.problem(
                    RowCtx::line(path, line).bad("csv", format!("malformed CSV: {error}")),
                    &file,
                )?;
                continue;
            }
        };
        let line = record
            .position()
            .map(|p| p.line() as usize)
            .unwrap_or(index + 2);
        let ctx = RowCtx::line(path, line);
        let row: BTreeMap<&str, &str> = headers
            .iter()
            .map(String::as_str)
            .zip(record.iter())
            .collect();
        let parsed = parse_row(&row, layout_v1, split, images, &ctx)
            .map(|parts| parts.into_record(&ctx, config.prompt_style));
        sink.push(parsed, &file)?;
    }
    Ok(())
}

fn column<'r>(
    row: &BTreeMap<&str, &'r str>,
    name: &str,
    ctx: &RowCtx,
) -> Result<&'r str, EnvError> {
    row.get(name)
        .copied()
        .ok_or_else(|| ctx.bad(name, "missing column"))
}

/// "A:Diffuse uptake" or " A: Diffuse uptake" → "Diffuse uptake".
fn strip_letter_prefix(text: &str, letter: &str) -> String {
    let trimmed = text.trim();
    trimmed
        .strip_prefix(letter)
        .and_then(|rest| rest.trim_start().strip_prefix(':'))
        .map(|rest| rest.trim().to_string())
        .unwrap_or_else(|| trimmed.to_string())
}

fn parse_row(
    row: &BTreeMap<&str, &str>,
    layout_v1: bool,
    split: Split,
    images: &Path,
    ctx: &RowCtx,
) -> Result<RowParts, EnvError> {
    let question = column(row, "Question", ctx)?.to_string();
    let figure = column(row, "Figure_path", ctx)?;
    let mut options = BTreeMap::new();
    for letter in LETTERS {
        let name = format!("Choice {letter}");
        let text = strip_letter_prefix(column(row, &name, ctx)?, letter);
        if text.is_empty() {
            return Err(ctx.bad(&name, "empty option"));
        }
        options.insert(letter.to_string(), text);
    }
    let answer_column = if layout_v1 { "Answer_label" } else { "Answer" };
    let answer = column(row, answer_column, ctx)?.trim().to_string();
    let reference = ctx
        .reference(&answer, AnswerType::MultipleChoice, options)
        .map_err(|error| match error {
            EnvError::BadData {
                file,
                location,
                reason,
                ..
            } => EnvError::BadData {
                file,
                location,
                field: answer_column.to_string(),
                reason,
            },
            other => other,
        })?;
    let image = ctx.image_file(images, figure.trim(), "Figure_path")?;
    let mut meta = Info::new();
    if let Some(caption) = row.get("Caption") {
        meta.insert(
            "caption".into(),
            serde_json::Value::String(caption.to_string()),
        );
    }
    let key = row
        .get("index")
        .map(|index| index.to_string())
        .unwrap_or_else(|| format!("{}:{}", figure.trim(), ctx.location));
    Ok(RowParts::without_language(
        key,
        split,
        vec![image],
        question,
        reference,
        meta,
    ))
}
