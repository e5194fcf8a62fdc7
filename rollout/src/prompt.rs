//! Turning an environment observation into policy input.

use medgym_envs::{ContentPart, ItemImage, Observation, Role};
use medgym_policy::{ChatMessage, ChatPart, ImageInput, PolicyTokenizer, SequenceInput};

use crate::error::{Result, RolloutError};

/// Convert an observation image into the policy's image type (in-memory grayscale scans only).
pub fn image_input(image: &ItemImage) -> Result<ImageInput> {
    let scan = image.as_scan().ok_or_else(|| {
        RolloutError::InvalidRequest(format!(
            "image {}: the built-in policy reads in-memory grayscale scans only; \
             file and encoded images need an RGB vision tower",
            image.describe()
        ))
    })?;
    Ok(ImageInput {
        width: scan.width as usize,
        height: scan.height as usize,
        pixels: scan.pixels.clone(),
    })
}

/// Chat messages and the (single) image of an observation.
pub fn chat_messages(observation: &Observation) -> Result<(Vec<ChatMessage>, Option<ImageInput>)> {
    let mut image = None;
    let mut messages = Vec::with_capacity(observation.messages.len());
    for message in &observation.messages {
        let role = match message.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut content = Vec::with_capacity(message.content.len());
        for part in &message.content {
            match part {
                ContentPart::Text(text) => content.push(ChatPart::Text { text: text.clone() }),
                ContentPart::Image(index) => {
                    if image.is_some() {
                        return Err(RolloutError::InvalidRequest(
                            "observations with more than one image are not supported by this policy yet"
                                .into(),
                        ));
                    }
                    let scan = observation.images.get(*index).ok_or_else(|| {
                        RolloutError::InvalidRequest(format!(
                            "message refers to image {index} but the observation has {}",
                            observation.images.len()
                        ))
                    })?;
                    image = Some(image_input(scan)?);
                    content.push(ChatPart::Image);
                }
            }
        }
        messages.push(ChatMessage {
            role: role.to_string(),
            content,
        });
    }
    Ok((messages, image))
}

/// Tokenized prompt (chat template with generation prompt) for an observation.
pub fn encode_prompt(
    observation: &Observation,
    tokenizer: &PolicyTokenizer,
    tokens_per_image: usize,
) -> Result<SequenceInput> {
    let (messages, image) = chat_messages(observation)?;
    let token_ids = tokenizer.encode_chat(&messages, tokens_per_image, true)?;
    Ok(SequenceInput { token_ids, image })
}
