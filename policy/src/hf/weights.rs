//! Reading and writing Hugging Face safetensors checkpoints (single file or sharded with an index).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use serde_json::Value;

use crate::error::{read_json_file, PolicyError, Result};

/// Name of the single-file checkpoint.
pub const SINGLE_FILE: &str = "model.safetensors";
/// Name of the shard index of a sharded checkpoint.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

fn io_err(path: &Path, source: std::io::Error) -> PolicyError {
    PolicyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Map transformers-5 module paths onto the names this crate uses (the transformers-4 layout).
pub fn canonical_name(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("model.language_model.") {
        format!("model.{rest}")
    } else if let Some(rest) = name.strip_prefix("model.visual.") {
        format!("visual.{rest}")
    } else {
        name.to_string()
    }
}

/// The safetensors files of the checkpoint in `dir`: the shards named by the index, or `model.safetensors`.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join(INDEX_FILE);
    if index.exists() {
        let value: Value = read_json_file(&index)?;
        let map = value
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| PolicyError::InvalidConfig {
                field: format!("weight_map ({})", index.display()),
                reason: "missing or not an object".into(),
            })?;
        let mut files = BTreeSet::new();
        for (tensor, file) in map {
            let file = file.as_str().ok_or_else(|| PolicyError::InvalidConfig {
                field: format!("weight_map.{tensor} ({})", index.display()),
                reason: "expected a file name".into(),
            })?;
            files.insert(dir.join(file));
        }
        if let Some(missing) = files.iter().find(|f| !f.exists()) {
            return Err(io_err(
                missing,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "shard named by the index is missing",
                ),
            ));
        }
        return Ok(files.into_iter().collect());
    }
    let single = dir.join(SINGLE_FILE);
    if single.exists() {
        return Ok(vec![single]);
    }
    Err(io_err(
        &single,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("neither {SINGLE_FILE} nor {INDEX_FILE} found"),
        ),
    ))
}

/// Origin string for error messages: the folder and its files.
pub fn describe_files(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Memory-map the checkpoint in `dir` and load every tensor (canonical names, stored dtype).
pub fn load_weights(dir: &Path, device: &Device) -> Result<BTreeMap<String, Tensor>> {
    let files = weight_files(dir)?;
    // SAFETY: the files are mapped read-only; they must not be modified while this function runs,
    // and every tensor is copied out of the mapping before it is dropped.
    let mapped = unsafe { MmapedSafetensors::multi(&files) }?;
    let mut out = BTreeMap::new();
    for (name, _) in mapped.tensors() {
        let tensor = mapped.load(&name, device)?;
        check_dtype(&name, tensor.dtype(), &files)?;
        out.insert(canonical_name(&name), tensor);
    }
    Ok(out)
}

fn check_dtype(name: &str, dtype: DType, files: &[PathBuf]) -> Result<()> {
    match dtype {
        DType::F32 | DType::BF16 | DType::F16 => Ok(()),
        other => Err(PolicyError::TensorMismatch {
            path: describe_files(files),
            problems: format!("{name}: dtype {other:?} is not supported (f32, bf16 or f16)"),
        }),
    }
}

/// Names, shapes and dtypes of every tensor in the checkpoint, without loading the data.
pub fn list_tensors(dir: &Path) -> Result<Vec<(String, Vec<usize>, String)>> {
    let files = weight_files(dir)?;
    // SAFETY: read-only mapping; only headers are read.
    let mapped = unsafe { MmapedSafetensors::multi(&files) }?;
    let mut out: Vec<_> = mapped
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec(), format!("{:?}", view.dtype())))
        .collect();
    out.sort();
    Ok(out)
}

/// Write `tensors` as `model.safetensors`, or as shards plus an index when larger than `max_shard_bytes`.
pub fn save_weights(
    tensors: &BTreeMap<String, Tensor>,
    dir: &Path,
    max_shard_bytes: Option<usize>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let size = |t: &Tensor| t.elem_count() * t.dtype().size_in_bytes();
    let mut shards: Vec<Vec<(&String, &Tensor)>> = vec![Vec::new()];
    let mut current = 0usize;
    for (name, tensor) in tensors {
        let bytes = size(tensor);
        let full = max_shard_bytes.is_some_and(|max| current > 0 && current + bytes > max);
        if full {
            shards.push(Vec::new());
            current = 0;
        }
        if let Some(last) = shards.last_mut() {
            last.push((name, tensor));
        }
        current += bytes;
    }
    if shards.len() == 1 {
        let map: HashMap<&String, Tensor> =
            shards[0].iter().map(|(n, t)| (*n, (*t).clone())).collect();
        let path = dir.join(SINGLE_FILE);
        candle_core::safetensors::save(&map, &path)?;
        return Ok(());
    }
    let count = shards.len();
    let mut weight_map = serde_json::Map::new();
    for (i, shard) in shards.iter().enumerate() {
        let file = format!("model-{:05}-of-{count:05}.safetensors", i + 1);
        let map: HashMap<&String, Tensor> = shard.iter().map(|(n, t)| (*n, (*t).clone())).collect();
        candle_core::safetensors::save(&map, dir.join(&file))?;
        for (name, _) in shard {
            weight_map.insert((*name).clone(), Value::String(file.clone()));
        }
    }
    let total: usize = tensors.values().map(size).sum();
    let index =
        serde_json::json!({ "metadata": { "total_size": total }, "weight_map": weight_map });
    let path = dir.join(INDEX_FILE);
    let text = serde_json::to_string_pretty(&index).map_err(|source| PolicyError::Json {
        path: path.display().to_string(),
        source,
    })?;
    std::fs::write(&path, text).map_err(|e| io_err(&path, e))
}
