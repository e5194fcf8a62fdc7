//! Reading Hugging Face parquet files row by row into plain cells (text, numbers, image structs).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use super::record::RowCtx;
use crate::error::EnvError;
use crate::types::ItemImage;

/// One parquet cell, reduced to what the loaders need.
#[derive(Debug, Clone)]
pub(crate) enum Cell {
    /// Null or missing.
    Null,
    /// A string, or a number / boolean as text.
    Text(String),
    /// An image struct `{bytes, path}` as Hugging Face `datasets` writes it, or raw bytes.
    Image(Option<Arc<[u8]>>),
    /// Anything else, as its display text.
    Other(String),
}

/// One parquet row: column name → cell.
pub(crate) type ParquetRow = BTreeMap<String, Cell>;

fn cell(field: &Field) -> Cell {
    match field {
        Field::Null => Cell::Null,
        Field::Str(text) => Cell::Text(text.clone()),
        Field::Bytes(bytes) => Cell::Image(Some(Arc::from(bytes.data()))),
        Field::Bool(_)
        | Field::Byte(_)
        | Field::Short(_)
        | Field::Int(_)
        | Field::Long(_)
        | Field::UByte(_)
        | Field::UShort(_)
        | Field::UInt(_)
        | Field::ULong(_)
        | Field::Float(_)
        | Field::Double(_) => Cell::Text(field.to_string()),
        Field::Group(row) => {
            let bytes =
                row.get_column_iter()
                    .find_map(|(name, value)| match (name.as_str(), value) {
                        ("bytes", Field::Bytes(bytes)) => Some(Arc::from(bytes.data())),
                        _ => None,
                    });
            Cell::Image(bytes)
        }
        other => Cell::Other(other.to_string()),
    }
}

/// Every row of a parquet file; an unreadable file or row is an error naming the file (and row).
pub(crate) fn read_rows(path: &Path) -> Result<Vec<Result<ParquetRow, EnvError>>, EnvError> {
    let file = std::fs::File::open(path).map_err(|source| EnvError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let reader = SerializedFileReader::new(file).map_err(|error| EnvError::BadData {
        file: path.display().to_string(),
        location: "file".into(),
        field: "parquet".into(),
        reason: error.to_string(),
    })?;
    let rows = reader
        .get_row_iter(None)
        .map_err(|error| EnvError::BadData {
            file: path.display().to_string(),
            location: "file".into(),
            field: "parquet".into(),
            reason: error.to_string(),
        })?;
    Ok(rows
        .enumerate()
        .map(|(index, row)| {
            let row =
                row.map_err(|error| RowCtx::row(path, index).bad("parquet", error.to_string()))?;
            Ok(row
                .get_column_iter()
                .map(|(name, value)| (name.clone(), cell(value)))
                .collect())
        })
        .collect())
}

/// A required text column.
pub(crate) fn text(row: &ParquetRow, column: &str, ctx: &RowCtx) -> Result<String, EnvError> {
    match row.get(column) {
        None => Err(ctx.bad(column, "missing column")),
        Some(Cell::Text(text)) => Ok(text.clone()),
        Some(Cell::Null) => Err(ctx.bad(column, "null")),
        Some(Cell::Image(_)) => Err(ctx.bad(column, "expected text, got binary data")),
        Some(Cell::Other(value)) => Err(ctx.bad(column, format!("expected text, got {value}"))),
    }
}

/// An optional text column.
pub(crate) fn optional_text(row: &ParquetRow, column: &str) -> Option<String> {
    match row.get(column) {
        Some(Cell::Text(text)) => Some(text.clone()),
        _ => None,
    }
}

/// An embedded image column as encoded bytes (decoded on use); `None` when the cell is null.
pub(crate) fn image(
    row: &ParquetRow,
    column: &str,
    ctx: &RowCtx,
    required: bool,
) -> Result<Option<ItemImage>, EnvError> {
    match row.get(column) {
        None | Some(Cell::Null) if !required => Ok(None),
        None => Err(ctx.bad(column, "missing column")),
        Some(Cell::Image(Some(bytes))) if !bytes.is_empty() => {
            crate::image::encoded_dimensions(
                bytes,
                &format!("{}:{}:{column}", ctx.file, ctx.location),
            )
            .map_err(|error| ctx.bad(column, error.to_string()))?;
            Ok(Some(ItemImage::Encoded {
                bytes: Arc::clone(bytes),
                origin: format!("{}:{}:{column}", ctx.file, ctx.location),
            }))
        }
        Some(Cell::Null) => Err(ctx.bad(column, "null")),
        Some(Cell::Image(_)) => Err(ctx.bad(column, "image struct without bytes")),
        Some(Cell::Text(value) | Cell::Other(value)) => Err(ctx.bad(
            column,
            format!("expected an image struct with bytes, got {value}"),
        )),
    }
}
