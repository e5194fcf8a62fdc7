//! PNG encoding of in-memory item images (for inspection tools).

use std::io::Cursor;

use image::{ExtendedColorType, ImageEncoder};

use crate::error::EnvError;
use crate::types::ItemImage;

/// PNG bytes of an in-memory scan (8-bit gray) or colour image (8-bit RGB); file and encoded
/// images are not re-encoded and give an error naming them.
pub fn encode_png(image: &ItemImage) -> Result<Vec<u8>, EnvError> {
    let (width, height, pixels, colour) = match image {
        ItemImage::Scan(scan) => (scan.width, scan.height, &scan.pixels, ExtendedColorType::L8),
        ItemImage::Color(color) => (
            color.width,
            color.height,
            &color.pixels,
            ExtendedColorType::Rgb8,
        ),
        ItemImage::File { .. } | ItemImage::Encoded { .. } => {
            return Err(EnvError::ImageEncode {
                image: image.describe(),
                reason: "only in-memory scan and colour images are written as PNG".into(),
            })
        }
    };
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(Cursor::new(&mut bytes))
        .write_image(pixels, width, height, colour)
        .map_err(|error| EnvError::ImageEncode {
            image: image.describe(),
            reason: error.to_string(),
        })?;
    Ok(bytes)
}
