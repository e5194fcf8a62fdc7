//! The distinct images of a batch: rows that hold the same image (the samples of one prompt in a
//! rollout group, or their training sequences) share one pass of the vision tower.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};

use crate::error::Result;
use crate::hf::image::PixelPatches;

/// Values sampled from an image to tell most different images apart without reading them whole.
const FINGERPRINT_SAMPLES: usize = 32;

/// Distinct images in order of first appearance, each with the first slot of its merged tokens
/// in the vision tower's output.
#[derive(Debug, Default)]
pub(crate) struct DistinctImages<'a> {
    images: Vec<&'a PixelPatches>,
    fingerprints: Vec<[u32; FINGERPRINT_SAMPLES]>,
    first_slots: Vec<usize>,
    slots: usize,
}

impl<'a> DistinctImages<'a> {
    /// The first merged-token slot of `image` (`merge`: the patch merger's side), which is added
    /// unless an identical image (same grid, same bits) is already held.
    pub(crate) fn slot(&mut self, image: &'a PixelPatches, merge: usize) -> usize {
        let fingerprint = fingerprint(image);
        let held = self
            .images
            .iter()
            .zip(&self.fingerprints)
            .position(|(held, print)| {
                held.grid == image.grid
                    && (Arc::ptr_eq(&held.values, &image.values)
                        || (*print == fingerprint && same_values(held, image)))
            });
        if let Some(index) = held {
            return self.first_slots[index];
        }
        let first = self.slots;
        self.images.push(image);
        self.fingerprints.push(fingerprint);
        self.first_slots.push(first);
        self.slots += image.merged_tokens(merge);
        first
    }

    /// The distinct images, in order of first appearance.
    pub(crate) fn images(&self) -> &[&'a PixelPatches] {
        &self.images
    }
}

/// The first image that cannot go through the vision tower (`merge`: the patch merger's side,
/// `patch_dim`: values per patch), by its index and why.
pub(crate) fn check_images(
    images: &[PixelPatches],
    merge: usize,
    patch_dim: usize,
) -> std::result::Result<(), String> {
    images.iter().enumerate().try_for_each(|(index, image)| {
        patch_problem(image, merge, patch_dim)
            .map_or(Ok(()), |problem| Err(format!("image {index}: {problem}")))
    })
}

/// Why `image` cannot go through the vision tower, if it cannot: a grid without a merged token,
/// or another number of values than its grid needs.
fn patch_problem(image: &PixelPatches, merge: usize, patch_dim: usize) -> Option<String> {
    let [t, h, w] = image.grid;
    let needed = t * h * w * patch_dim;
    if image.merged_tokens(merge) == 0 {
        Some(format!(
            "its patch grid {:?} holds no merged token",
            image.grid
        ))
    } else if image.values.len() != needed {
        Some(format!(
            "{} values, but its patch grid {:?} needs {needed}",
            image.values.len(),
            image.grid
        ))
    } else {
        None
    }
}

/// The images' patches stacked into one `(patches, patch_dim)` tensor of `dtype`, and their grids.
pub(crate) fn stacked_patches(
    images: &[&PixelPatches],
    patch_dim: usize,
    device: &Device,
    dtype: DType,
) -> Result<(Tensor, Vec<[usize; 3]>)> {
    let values: Vec<f32> = images
        .iter()
        .flat_map(|image| image.values.iter().copied())
        .collect();
    let rows = values.len() / patch_dim.max(1);
    let pixels = Tensor::from_vec(values, (rows, patch_dim), device)?.to_dtype(dtype)?;
    Ok((pixels, images.iter().map(|image| image.grid).collect()))
}

/// The bits of values spread evenly over the image, and its length.
fn fingerprint(image: &PixelPatches) -> [u32; FINGERPRINT_SAMPLES] {
    let values = &image.values;
    let mut print = [0u32; FINGERPRINT_SAMPLES];
    print[0] = values.len() as u32;
    for (index, slot) in print.iter_mut().enumerate().skip(1) {
        if let Some(value) = values.get(index * values.len() / FINGERPRINT_SAMPLES) {
            *slot = value.to_bits();
        }
    }
    print
}

/// The same bits in every value.
fn same_values(a: &PixelPatches, b: &PixelPatches) -> bool {
    a.values.len() == b.values.len()
        && a.values
            .iter()
            .zip(b.values.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(values: Vec<f32>, grid: [usize; 3]) -> PixelPatches {
        PixelPatches {
            values: values.into(),
            grid,
        }
    }

    #[test]
    fn identical_images_share_slots_and_others_do_not() {
        let a = image(vec![0.0; 64], [1, 2, 2]);
        let shared = a.clone();
        let equal = image(vec![0.0; 64], [1, 2, 2]);
        let mut late_difference = vec![0.0; 64];
        late_difference[63] = 1.0;
        let differs_late = image(late_difference, [1, 2, 2]);
        let negative_zero = image(vec![-0.0; 64], [1, 2, 2]);
        // One merged token per 2×2 block: [1, 2, 2] holds one, [1, 4, 2] and [1, 2, 4] two.
        let other_grid = image(vec![0.0; 64], [1, 4, 2]);
        let shared_other_grid = PixelPatches {
            values: a.values.clone(),
            grid: [1, 2, 4],
        };
        let mut table = DistinctImages::default();
        assert_eq!(table.slot(&a, 2), 0);
        assert_eq!(table.slot(&shared, 2), 0, "shared storage");
        assert_eq!(table.slot(&equal, 2), 0, "equal values");
        assert_eq!(table.slot(&differs_late, 2), 1, "one value differs");
        assert_eq!(
            table.slot(&negative_zero, 2),
            2,
            "-0.0 is not 0.0 bit for bit"
        );
        assert_eq!(table.slot(&other_grid, 2), 3, "another grid");
        assert_eq!(table.slot(&differs_late, 2), 1);
        assert_eq!(
            table.slot(&shared_other_grid, 2),
            5,
            "shared values under another grid"
        );
        assert_eq!(table.images().len(), 5);
        assert_eq!(table.slots, 7, "1 + 1 + 1 + 2 + 2 merged tokens");
    }
}

#[cfg(test)]
mod patch_checks {
    use super::*;

    #[test]
    fn empty_grids_and_wrong_lengths_are_named() {
        let patches = |values: usize, grid: [usize; 3]| PixelPatches {
            values: vec![0.0; values].into(),
            grid,
        };
        assert_eq!(patch_problem(&patches(4 * 3, [1, 2, 2]), 2, 3), None);
        let empty = patch_problem(&patches(0, [1, 0, 0]), 2, 3).expect("empty grid");
        assert!(empty.contains("no merged token"), "{empty}");
        let short = patch_problem(&patches(11, [1, 2, 2]), 2, 3).expect("short");
        assert!(
            short.contains("11 values") && short.contains("needs 12"),
            "{short}"
        );
    }
}
