//! Observations as Hugging Face chat prompts: the checkpoint's chat template renders the
//! messages, and each image is preprocessed as the checkpoint's processor does, its placeholder
//! expanded to the merged patch grid.

use medgym_envs::image::to_rgb;
use medgym_envs::{ContentPart, ItemImage, Observation, Role};
use medgym_policy::hf::{
    decode_rgb, image_placeholder, preprocess, HfInput, HfModel, HfTokenizer, ResizeBounds,
    RgbImage,
};
use serde_json::{json, Value};

use crate::error::{Result, RolloutError};

/// Tokenizes an observation for a Hugging Face checkpoint, with the generation prompt.
///
/// Each message's parts are joined into one text, an image part becoming its
/// [`image_placeholder`], which is what the Qwen2-VL chat templates write for an image entry.
pub fn encode_hf_prompt(
    observation: &Observation,
    model: &HfModel,
    tokenizer: &HfTokenizer,
    bounds: ResizeBounds,
) -> Result<HfInput> {
    let mut images = Vec::new();
    let mut messages = Vec::with_capacity(observation.messages.len());
    for message in &observation.messages {
        let mut text = String::new();
        for part in &message.content {
            match part {
                ContentPart::Text(part) => text.push_str(part),
                ContentPart::Image(index) => {
                    let image = observation.images.get(*index).ok_or_else(|| {
                        RolloutError::InvalidRequest(format!(
                            "message refers to image {index} but the observation has {}",
                            observation.images.len()
                        ))
                    })?;
                    let vision = model.config().vision.as_ref().ok_or_else(|| {
                        RolloutError::InvalidRequest(format!(
                            "image {}: the checkpoint has no vision tower",
                            image.describe()
                        ))
                    })?;
                    let rgb = rgb_image(image)?;
                    let patches = preprocess(&rgb, vision, bounds).map_err(|err| {
                        RolloutError::InvalidRequest(format!("image {}: {err}", image.describe()))
                    })?;
                    text.push_str(&image_placeholder(
                        patches.merged_tokens(vision.spatial_merge_size),
                    ));
                    images.push(patches);
                }
            }
        }
        let role = match message.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        messages.push(json!({ "role": role, "content": text }));
    }
    let rendered = tokenizer.render_chat(&Value::Array(messages), true)?;
    Ok(HfInput {
        token_ids: tokenizer.encode(&rendered)?,
        images,
    })
}

/// An item image as the checkpoint's processor sees it: files and encoded bytes decoded with their
/// transparency composited onto white (as transformers converts them), drawn images as they are.
pub fn rgb_image(image: &ItemImage) -> Result<RgbImage> {
    let decode = |bytes: &[u8], origin: &str| {
        decode_rgb(bytes).map_err(|err| {
            RolloutError::InvalidRequest(format!("image {origin}: not a readable image: {err}"))
        })
    };
    match image {
        ItemImage::File { path } => {
            let bytes = std::fs::read(path).map_err(|err| {
                RolloutError::InvalidRequest(format!("image {}: {err}", path.display()))
            })?;
            decode(&bytes, &path.display().to_string())
        }
        ItemImage::Encoded { bytes, origin } => decode(bytes, origin),
        ItemImage::Scan(_) | ItemImage::Color(_) => {
            let color = to_rgb(image)?;
            Ok(RgbImage {
                width: color.width as usize,
                height: color.height as usize,
                pixels: color.pixels,
            })
        }
    }
}
