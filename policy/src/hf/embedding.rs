//! The decoder's input: the M-RoPE positions of a row, and the left-padded embeddings of a batch
//! with each image placeholder filled from the vision tower.

use candle_core::Tensor;

use crate::error::{PolicyError, Result};
use crate::hf::image_table::{check_images, stacked_patches, DistinctImages};
use crate::hf::model::{HfInput, HfModel};
use crate::hf::text::Position3;

/// A left-padded batch ready for the decoder.
pub(crate) struct Embedded {
    /// Embeddings `(b, len, hidden)`.
    pub(crate) x: Tensor,
    /// Positions per row and column.
    pub(crate) positions: Vec<Vec<Position3>>,
    /// Left padding per row.
    pub(crate) pads: Vec<usize>,
    /// The position after each row's last token.
    pub(crate) next: Vec<u32>,
}

impl HfModel {
    /// M-RoPE positions of one row (text: `[p, p, p]`; image tokens: `[p+t, p+h, p+w]` on the merged grid)
    /// and the position after the last token.
    pub fn positions(&self, input: &HfInput) -> Result<(Vec<Position3>, u32)> {
        let image_token = self.config.image_token_id;
        let merge = self
            .config
            .vision
            .as_ref()
            .map_or(1, |v| v.spatial_merge_size);
        let mut out = Vec::with_capacity(input.token_ids.len());
        let mut next = 0u32;
        let mut images = input.images.iter();
        let mut i = 0;
        while i < input.token_ids.len() {
            if Some(input.token_ids[i]) == image_token && self.vision.is_some() {
                let image = images.next().ok_or_else(|| {
                    PolicyError::InvalidInput(format!(
                        "image placeholder at token {i} has no image"
                    ))
                })?;
                let [t, h, w] = image.grid;
                let (lh, lw) = (h / merge, w / merge);
                let count = t * lh * lw;
                let run = input.token_ids[i..]
                    .iter()
                    .take(count)
                    .take_while(|&&id| Some(id) == image_token)
                    .count();
                if run != count {
                    return Err(PolicyError::InvalidInput(format!(
                        "image at token {i} needs {count} placeholders, found {run}"
                    )));
                }
                let mut max = next;
                for ti in 0..t {
                    for hi in 0..lh {
                        for wi in 0..lw {
                            let p = [next + ti as u32, next + hi as u32, next + wi as u32];
                            max = max.max(p[0]).max(p[1]).max(p[2]);
                            out.push(p);
                        }
                    }
                }
                next = max + 1;
                i += count;
            } else {
                out.push([next; 3]);
                next += 1;
                i += 1;
            }
        }
        if images.next().is_some() {
            return Err(PolicyError::InvalidInput(
                "more images than image placeholder runs".into(),
            ));
        }
        Ok((out, next))
    }

    /// Left-padded embeddings `(b, len, hidden)`, positions per column, pads and next positions;
    /// errors name the inputs "row 0", "row 1", ...
    pub(crate) fn embed(&self, inputs: &[HfInput]) -> Result<Embedded> {
        self.embed_named(inputs, &|row| format!("row {row}"))
    }

    /// [`HfModel::embed`] with errors naming input `i` as `name(i)`.
    pub(crate) fn embed_named(
        &self,
        inputs: &[HfInput],
        name: &dyn Fn(usize) -> String,
    ) -> Result<Embedded> {
        if inputs.is_empty() {
            return Err(PolicyError::InvalidInput("an empty batch".into()));
        }
        if let Some(row) = inputs.iter().position(|i| i.token_ids.is_empty()) {
            return Err(PolicyError::InvalidInput(format!(
                "{} has no tokens (every row needs at least one)",
                name(row)
            )));
        }
        let b = inputs.len();
        let len = inputs.iter().map(|i| i.token_ids.len()).max().unwrap_or(0);
        let vocab = self.config.text.vocab_size;
        let image_token = self.config.image_token_id;
        let mut ids = Vec::with_capacity(b * len);
        let mut gather = Vec::with_capacity(b * len);
        let mut positions = Vec::with_capacity(b);
        let mut pads = Vec::with_capacity(b);
        let mut next = Vec::with_capacity(b);
        let merge = self
            .config
            .vision
            .as_ref()
            .map_or(1, |v| v.spatial_merge_size);
        let patch_dim = self.config.vision.as_ref().map_or(0, |v| v.patch_dim());
        let mut distinct = DistinctImages::default();
        for (row, input) in inputs.iter().enumerate() {
            if !input.images.is_empty() && self.vision.is_none() {
                return Err(PolicyError::InvalidInput(format!(
                    "{} has images but this {} model has no vision tower",
                    name(row),
                    self.config.architecture.model_type()
                )));
            }
            check_images(&input.images, merge, patch_dim).map_err(|problem| {
                PolicyError::InvalidInput(format!("{}, {problem}", name(row)))
            })?;
            let (mut pos, after) = self.positions(input).map_err(|error| match error {
                PolicyError::InvalidInput(problem) => {
                    PolicyError::InvalidInput(format!("{}: {problem}", name(row)))
                }
                other => other,
            })?;
            let pad = len - input.token_ids.len();
            let mut row_pos = vec![[1u32; 3]; pad];
            row_pos.append(&mut pos);
            positions.push(row_pos);
            pads.push(pad);
            next.push(after);
            // Each image's placeholders read its merged tokens from the vision tower's output,
            // where an image held by several rows appears once (`positions` checked the runs).
            let first_slots: Vec<usize> = input
                .images
                .iter()
                .map(|image| distinct.slot(image, merge))
                .collect();
            let (mut current, mut within) = (0usize, 0usize);
            for col in 0..len {
                let flat = (row * len + col) as u32;
                if col < pad {
                    ids.push(0);
                    gather.push(flat);
                    continue;
                }
                let token = input.token_ids[col - pad];
                if token as usize >= vocab {
                    return Err(PolicyError::InvalidInput(format!(
                        "{}: token {token} at {} is outside vocab_size {vocab}",
                        name(row),
                        col - pad
                    )));
                }
                ids.push(token);
                match first_slots.get(current) {
                    Some(&first) if Some(token) == image_token && self.vision.is_some() => {
                        gather.push((b * len + first + within) as u32);
                        within += 1;
                        if within == input.images[current].merged_tokens(merge) {
                            (current, within) = (current + 1, 0);
                        }
                    }
                    _ => gather.push(flat),
                }
            }
        }
        let ids = Tensor::from_vec(ids, b * len, &self.device)?;
        let text = self.embed_tokens.index_select(&ids, 0)?;
        let table = match (&self.vision, &self.config.vision, distinct.images()) {
            (Some(vision), Some(cfg), images) if !images.is_empty() => {
                let (pixels, grids) =
                    stacked_patches(images, cfg.patch_dim(), &self.device, self.dtype)?;
                Tensor::cat(&[&text, &vision.forward(&pixels, &grids)?], 0)?
            }
            _ => text,
        };
        let gather = Tensor::from_vec(gather, b * len, &self.device)?;
        let x = table
            .index_select(&gather, 0)?
            .reshape((b, len, self.config.text.hidden_size))?;
        Ok(Embedded {
            x,
            positions,
            pads,
            next,
        })
    }
}
