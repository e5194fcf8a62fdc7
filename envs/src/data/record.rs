//! One loaded dataset row and the helpers loaders use to read fields with precise errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use medgym_rewards::{AnswerType, Reference};
use serde_json::{Map, Value};

use super::prompt::{render_prompt, PromptLanguage, PromptStyle};
use crate::error::EnvError;
use crate::types::{Info, ItemImage, Split};

/// One dataset item as loaded: images, question, reference, split and where it came from.
#[derive(Debug, Clone)]
pub struct DataRecord {
    /// The row's own id (benchmark id, or "file:line" when the row has none).
    pub key: String,
    /// The split the row belongs to.
    pub split: Split,
    /// Images in the order the question refers to them (decoded on use).
    pub images: Vec<ItemImage>,
    /// The question text as stored.
    pub question: String,
    /// The prompt shown to the agent (question rendered with the configured template).
    pub prompt: String,
    /// The verifiable reference answer.
    pub reference: Reference,
    /// Question language when the dataset states it (SLAKE `q_lang`).
    pub language: Option<String>,
    /// The file the row is in.
    pub file: String,
    /// "line N" or "row N" inside `file`.
    pub location: String,
    /// Extra facts (organ, modality, question type…).
    pub meta: Info,
}

impl DataRecord {
    /// A bad-data error located at this record.
    pub(crate) fn bad(&self, field: &str, reason: &str) -> EnvError {
        EnvError::BadData {
            file: self.file.clone(),
            location: self.location.clone(),
            field: field.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Where a row is: its file and "line N" / "row N"; builds errors that name both.
#[derive(Debug, Clone)]
pub(crate) struct RowCtx {
    /// The file holding the row.
    pub file: String,
    /// "line N" or "row N".
    pub location: String,
}

impl RowCtx {
    /// Context for line `line` (1-based) of `file`.
    pub fn line(file: &Path, line: usize) -> Self {
        Self {
            file: file.display().to_string(),
            location: format!("line {line}"),
        }
    }

    /// Context for row `row` (0-based data row) of `file`.
    pub fn row(file: &Path, row: usize) -> Self {
        Self {
            file: file.display().to_string(),
            location: format!("row {row}"),
        }
    }

    /// A bad-data error at this row.
    pub fn bad(&self, field: &str, reason: impl Into<String>) -> EnvError {
        EnvError::BadData {
            file: self.file.clone(),
            location: self.location.clone(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    /// A required string field (numbers are accepted and written as text).
    pub fn text(&self, object: &Map<String, Value>, field: &str) -> Result<String, EnvError> {
        match object.get(field) {
            None | Some(Value::Null) => Err(self.bad(field, "missing")),
            Some(value) => self.text_value(value, field),
        }
    }

    /// An optional string field.
    pub fn optional_text(
        &self,
        object: &Map<String, Value>,
        field: &str,
    ) -> Result<Option<String>, EnvError> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => self.text_value(value, field).map(Some),
        }
    }

    /// A JSON string or number as text.
    pub fn text_value(&self, value: &Value, field: &str) -> Result<String, EnvError> {
        match value {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) => Ok(number.to_string()),
            Value::Bool(flag) => Ok(if *flag { "yes" } else { "no" }.to_string()),
            other => Err(self.bad(field, format!("expected a string, got {other}"))),
        }
    }

    /// A letter → text options object as a map, each text read with `text_value`.
    pub fn option_texts(
        &self,
        map: &Map<String, Value>,
    ) -> Result<BTreeMap<String, String>, EnvError> {
        map.iter()
            .map(|(letter, text)| {
                Ok((
                    letter.clone(),
                    self.text_value(text, &format!("options.{letter}"))?,
                ))
            })
            .collect()
    }

    /// An image file relative to `base` that must exist (read and decoded later, on use).
    pub fn image_file(
        &self,
        base: &Path,
        relative: &str,
        field: &str,
    ) -> Result<ItemImage, EnvError> {
        if relative.trim().is_empty() {
            return Err(self.bad(field, "empty image path"));
        }
        let path: PathBuf = base.join(relative);
        if !path.is_file() {
            return Err(self.bad(
                field,
                format!("image file {} does not exist", path.display()),
            ));
        }
        Ok(ItemImage::File { path })
    }

    /// A reference, with reward-crate validation errors reported at this row.
    pub fn reference(
        &self,
        answer: &str,
        answer_type: AnswerType,
        options: BTreeMap<String, String>,
    ) -> Result<Reference, EnvError> {
        if answer_type == AnswerType::MultipleChoice {
            let letter = answer.trim().to_ascii_uppercase();
            if !options
                .keys()
                .any(|key| key.trim().eq_ignore_ascii_case(&letter))
            {
                return Err(self.bad(
                    "answer",
                    format!(
                        "answer `{answer}` is not one of the option letters {:?}",
                        options.keys().collect::<Vec<_>>()
                    ),
                ));
            }
            return Reference::multiple_choice(&letter, options)
                .map_err(|error| self.bad("options", error.to_string()));
        }
        Reference::new(answer, answer_type).map_err(|error| self.bad("answer", error.to_string()))
    }
}

/// Everything a loader knows about a row before the prompt is rendered.
pub(crate) struct RowParts {
    /// The row's id.
    pub key: String,
    /// Its split.
    pub split: Split,
    /// Its images.
    pub images: Vec<ItemImage>,
    /// The question as stored.
    pub question: String,
    /// The reference.
    pub reference: Reference,
    /// Question language, when stated.
    pub language: Option<String>,
    /// Extra facts.
    pub meta: Info,
}

impl RowParts {
    /// Parts of a row that states no question language.
    pub fn without_language(
        key: String,
        split: Split,
        images: Vec<ItemImage>,
        question: String,
        reference: Reference,
        meta: Info,
    ) -> Self {
        Self {
            key,
            split,
            images,
            question,
            reference,
            language: None,
            meta,
        }
    }

    /// The finished record with its prompt rendered in `style`.
    pub fn into_record(self, ctx: &RowCtx, style: PromptStyle) -> DataRecord {
        let language = match self.language.as_deref() {
            Some("zh") => PromptLanguage::Chinese,
            _ => PromptLanguage::English,
        };
        let prompt = render_prompt(&self.question, &self.reference, style, language);
        DataRecord {
            key: self.key,
            split: self.split,
            images: self.images,
            question: self.question,
            prompt,
            reference: self.reference,
            language: self.language,
            file: ctx.file.clone(),
            location: ctx.location.clone(),
            meta: self.meta,
        }
    }
}

/// MedEvalKit's rule for VQA-RAD / PathVQA / SLAKE closed rows: yes/no when the answer is "yes" or "no".
pub(crate) fn yes_no_or(answer: &str, otherwise: AnswerType) -> AnswerType {
    match answer.trim().to_lowercase().as_str() {
        "yes" | "no" => AnswerType::YesNo,
        _ => otherwise,
    }
}

/// The split a benchmark split name stands for ("train"/"dev" → Train; "test"/"validation"/"val" → Eval).
pub(crate) fn split_from_name(name: &str) -> Option<Split> {
    match name.trim().to_lowercase().as_str() {
        "train" | "training" | "dev" => Some(Split::Train),
        "test" | "eval" | "validation" | "validate" | "val" => Some(Split::Eval),
        _ => None,
    }
}

/// Reads a file into a string, naming it on error.
pub(crate) fn read_text(path: &Path) -> Result<String, EnvError> {
    std::fs::read_to_string(path).map_err(|source| EnvError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Parses a whole-file JSON list of objects; a syntax error names the file, line and column.
pub(crate) fn read_json_list(path: &Path) -> Result<Vec<Value>, EnvError> {
    let text = read_text(path)?;
    let value: Value = serde_json::from_str(&text).map_err(|error| EnvError::BadData {
        file: path.display().to_string(),
        location: format!("line {} column {}", error.line(), error.column()),
        field: "json".into(),
        reason: error.to_string(),
    })?;
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(EnvError::BadData {
            file: path.display().to_string(),
            location: "line 1".into(),
            field: "json".into(),
            reason: "expected a JSON list of objects".into(),
        }),
    }
}

/// The object a JSON value must be, or an error at the row.
pub(crate) fn as_object<'v>(
    value: &'v Value,
    ctx: &RowCtx,
) -> Result<&'v Map<String, Value>, EnvError> {
    value
        .as_object()
        .ok_or_else(|| ctx.bad("row", format!("expected a JSON object, got {value}")))
}

/// Copies the listed keys of a JSON object into item metadata.
pub(crate) fn meta_from(object: &Map<String, Value>, keys: &[&str]) -> Info {
    keys.iter()
        .filter_map(|key| {
            object
                .get(*key)
                .map(|value| (key.to_string(), value.clone()))
        })
        .filter(|(_, value)| !value.is_null())
        .collect()
}
