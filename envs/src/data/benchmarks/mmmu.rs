//! MMMU Health & Medicine: Hugging Face parquet per subject (`<Subject>/{dev,validation}-*.parquet`).
//! Options are a stringified Python list; questions carry `<image N>` placeholders for `image_N`
//! (kept in the text; the item's images are the non-empty `image_1..image_7` in order).
//! `dev` is training data and `validation` evaluation data; `test` has no public answers and is skipped.

use std::collections::BTreeMap;

use medgym_rewards::AnswerType;

use super::parquet_shards;
use crate::data::parquet_rows::{self, read_rows, ParquetRow};
use crate::data::record::{RowCtx, RowParts};
use crate::data::{BenchmarkConfig, Sink};
use crate::error::EnvError;
use crate::types::{Info, Split};

/// The five MMMU subjects MedEvalKit counts as Health & Medicine.
pub const HEALTH_SUBJECTS: [&str; 5] = [
    "Basic_Medical_Science",
    "Clinical_Medicine",
    "Diagnostics_and_Laboratory_Medicine",
    "Pharmacy",
    "Public_Health",
];

/// Loads each subject folder's `dev` and `validation` shards.
pub(crate) fn load(config: &BenchmarkConfig, sink: &mut Sink) -> Result<(), EnvError> {
    for subject in HEALTH_SUBJECTS {
        let folder = config.root.join(subject);
        for (path, split) in parquet_shards(&folder, config.split)? {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if name.starts_with("test") {
                continue;
            }
            let file = path.display().to_string();
            let Some(rows) = sink.read_or_report(&path, read_rows)? else {
                continue;
            };
            for (index, row) in rows.into_iter().enumerate() {
                let ctx = RowCtx::row(&path, index);
                let record = row
                    .and_then(|row| parse_row(&row, subject, split, &ctx))
                    .map(|parts| parts.into_record(&ctx, config.prompt_style));
                sink.push(record, &file)?;
            }
        }
    }
    Ok(())
}

/// Parses a Python list literal of strings, e.g. `['a', "b's"]`.
pub(crate) fn parse_python_string_list(text: &str) -> Option<Vec<String>> {
    let mut chars = text.trim().chars().peekable();
    if chars.next()? != '[' {
        return None;
    }
    let mut items = Vec::new();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next()? {
            ']' => break,
            quote @ ('\'' | '"') => {
                let mut item = String::new();
                loop {
                    match chars.next()? {
                        '\\' => match chars.next()? {
                            'n' => item.push('\n'),
                            't' => item.push('\t'),
                            other => item.push(other),
                        },
                        c if c == quote => break,
                        c => item.push(c),
                    }
                }
                items.push(item);
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                match chars.next()? {
                    ',' => continue,
                    ']' => break,
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    chars.all(char::is_whitespace).then_some(items)
}

fn parse_row(
    row: &ParquetRow,
    subject: &str,
    split: Split,
    ctx: &RowCtx,
) -> Result<RowParts, EnvError> {
    let question = parquet_rows::text(row, "question", ctx)?;
    let raw_options = parquet_rows::text(row, "options", ctx)?;
    let options = parse_python_string_list(&raw_options).ok_or_else(|| {
        ctx.bad(
            "options",
            format!("not a Python list of strings: {raw_options}"),
        )
    })?;
    let raw_answer = parquet_rows::text(row, "answer", ctx)?;
    let question_type = parquet_rows::optional_text(row, "question_type").unwrap_or_default();
    let reference = if question_type == "multiple-choice"
        || (question_type.is_empty() && !options.is_empty())
    {
        let lettered: BTreeMap<String, String> = options
            .iter()
            .enumerate()
            .map(|(position, text)| (((b'A' + position as u8) as char).to_string(), text.clone()))
            .collect();
        ctx.reference(&raw_answer, AnswerType::MultipleChoice, lettered)?
    } else {
        let answer = parse_python_string_list(&raw_answer)
            .and_then(|answers| answers.into_iter().next())
            .unwrap_or(raw_answer.clone());
        let kind = if answer.trim().parse::<f64>().is_ok() {
            AnswerType::Numeric
        } else {
            AnswerType::Open
        };
        ctx.reference(&answer, kind, BTreeMap::new())?
    };
    let mut images = Vec::new();
    for number in 1..=7 {
        let column = format!("image_{number}");
        match parquet_rows::image(row, &column, ctx, false)? {
            Some(image) => images.push(image),
            None if question.contains(&format!("<image {number}>")) => {
                return Err(ctx.bad(
                    &column,
                    format!("the question refers to <image {number}> but the cell is empty"),
                ));
            }
            None => {}
        }
    }
    if images.is_empty() {
        return Err(ctx.bad("image_1", "the row has no image"));
    }
    let mut meta = Info::new();
    meta.insert(
        "subject".into(),
        serde_json::Value::String(subject.to_string()),
    );
    for column in ["subfield", "topic_difficulty", "img_type", "question_type"] {
        if let Some(value) = parquet_rows::optional_text(row, column) {
            meta.insert(column.into(), serde_json::Value::String(value));
        }
    }
    if raw_answer != reference.answer() {
        meta.insert("raw_answer".into(), serde_json::Value::String(raw_answer));
    }
    let key = parquet_rows::optional_text(row, "id")
        .unwrap_or_else(|| format!("{subject}:{}", ctx.location));
    Ok(RowParts::without_language(
        key, split, images, question, reference, meta,
    ))
}
