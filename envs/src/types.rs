//! Data types shared by every environment: images, chat messages, specs, items and step results.

use std::fmt;

use medgym_rewards::{AnswerType, Reference, RewardBreakdown};
use serde::{Deserialize, Serialize};

use crate::error::EnvError;

/// Grayscale image, row-major u8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major pixel intensities, `width * height` entries.
    pub pixels: Vec<u8>,
}

impl ScanImage {
    /// Builds an image, checking that the pixel buffer matches the dimensions.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Result<Self, EnvError> {
        let expected = width as usize * height as usize;
        if pixels.len() != expected {
            return Err(EnvError::InvalidImage {
                width,
                height,
                expected,
                actual: pixels.len(),
            });
        }
        Ok(Self {
            width,
            height,
            pixels,
        })
    }

    /// The intensity at column `x`, row `y`, or `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<u8> {
        if x >= self.width || y >= self.height {
            return None;
        }
        self.pixels
            .get(y as usize * self.width as usize + x as usize)
            .copied()
    }

    /// binary PGM (P5) bytes, for inspection
    pub fn to_pgm(&self) -> Vec<u8> {
        let header = format!("P5\n{} {}\n255\n", self.width, self.height);
        let mut bytes = Vec::with_capacity(header.len() + self.pixels.len());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&self.pixels);
        bytes
    }
}

/// RGB image, row-major, three bytes (R, G, B) per pixel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColorImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub pixels: Vec<u8>,
}

impl ColorImage {
    /// Checks that `pixels` holds exactly `width * height * 3` bytes.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Result<Self, EnvError> {
        let expected = width as usize * height as usize * 3;
        if pixels.len() != expected {
            return Err(EnvError::InvalidImage {
                width,
                height,
                expected,
                actual: pixels.len(),
            });
        }
        Ok(Self {
            width,
            height,
            pixels,
        })
    }
}

/// An image an item shows: pixels drawn in memory, or an encoded image decoded when it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ItemImage {
    /// A grayscale scan drawn in memory (procedural tasks).
    Scan(ScanImage),
    /// An RGB image drawn in memory (procedural general-image tasks).
    Color(ColorImage),
    /// An image file (PNG or JPEG) on disk, read and decoded on use.
    File {
        /// The file's path.
        path: std::path::PathBuf,
    },
    /// Encoded image bytes held in memory (e.g. embedded in a parquet row), decoded on use.
    Encoded {
        /// The encoded bytes (PNG or JPEG).
        #[serde(skip)]
        bytes: std::sync::Arc<[u8]>,
        /// Where the bytes came from (file, row, column), for error messages.
        origin: String,
    },
}

impl ItemImage {
    /// The in-memory scan, when this image is one.
    pub fn as_scan(&self) -> Option<&ScanImage> {
        match self {
            ItemImage::Scan(scan) => Some(scan),
            ItemImage::Color(_) | ItemImage::File { .. } | ItemImage::Encoded { .. } => None,
        }
    }

    /// Where the image comes from, for messages: "scan WxH", a path, or an origin.
    pub fn describe(&self) -> String {
        match self {
            ItemImage::Scan(scan) => format!("scan {}x{}", scan.width, scan.height),
            ItemImage::Color(image) => format!("color image {}x{}", image.width, image.height),
            ItemImage::File { path } => path.display().to_string(),
            ItemImage::Encoded { origin, .. } => origin.clone(),
        }
    }
}

impl From<ScanImage> for ItemImage {
    fn from(scan: ScanImage) -> Self {
        ItemImage::Scan(scan)
    }
}

/// Speaker of a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The environment's question.
    User,
    /// The agent's reply.
    Assistant,
}

/// One piece of a message: text or a reference to an observation image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentPart {
    /// Plain text.
    Text(String),
    /// Index into [`Observation::images`].
    Image(usize),
}

/// A chat message made of text and image parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// Ordered content parts.
    pub content: Vec<ContentPart>,
}

impl Message {
    /// A message holding a single text part.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: vec![ContentPart::Text(text.into())],
        }
    }
}

/// What the agent sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Images referenced by [`ContentPart::Image`] indices.
    pub images: Vec<ItemImage>,
}

/// Free-form key/value facts attached to resets, steps and items.
pub type Info = std::collections::BTreeMap<String, serde_json::Value>;

/// Gymnasium-shaped step result.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// Observation after the action (the conversation including the reply).
    pub observation: Observation,
    /// Scalar reward, equal to `breakdown.total`.
    pub reward: f32,
    /// Full reward breakdown from the rubric.
    pub breakdown: RewardBreakdown,
    /// The episode ended naturally.
    pub terminated: bool,
    /// The episode was cut off by a limit.
    pub truncated: bool,
    /// Extra facts about the step.
    pub info: Info,
}

/// Train or evaluation split; part of every item's random key, so the two streams never share an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Items for training.
    Train,
    /// Held-out items for evaluation.
    Eval,
}

impl Split {
    /// The split's numeric key used when seeding item generators (train 0, eval 1).
    pub fn key(self) -> u64 {
        match self {
            Split::Train => 0,
            Split::Eval => 1,
        }
    }

    /// Lowercase name, as serialized.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Eval => "eval",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Static description of an environment. id like "medsynth/lesion-count-v1".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvSpec {
    /// Unique id, `family/name-vN`.
    pub id: String,
    /// Task family the environment belongs to.
    pub family: String,
    /// Version number, also the id's `-vN` suffix.
    pub version: u32,
    /// Kind of answer expected.
    pub answer_type: AnswerType,
    /// Maximum number of agent turns per episode.
    pub max_turns: u32,
    /// Lowest and highest possible reward.
    pub reward_range: (f32, f32),
    /// One-sentence human description.
    pub description: String,
}

/// One task item: a pure function of (task id, split, seed, index).
#[derive(Debug, Clone, Serialize)]
pub struct TaskItem {
    /// Unique item id, `task_id:split:seed:index`.
    pub id: String,
    /// Id of the task that produced the item.
    pub task_id: String,
    /// Split the item belongs to.
    pub split: Split,
    /// Stream seed.
    pub seed: u64,
    /// Position in the stream.
    pub index: u64,
    /// The images shown to the agent, in the order the question refers to them (none for text-only items).
    pub images: Vec<ItemImage>,
    /// The question asked about the scan.
    pub question: String,
    /// The verifiable reference answer.
    pub reference: Reference,
    /// The reasoning text (no tags).
    pub reference_cot: String,
    /// Exactly `<think>{cot}</think><answer>{answer}</answer>`.
    pub reference_response: String,
    /// A reflective reference: a plausible wrong first reading, an explicit re-check, then the
    /// reasoning and the correct answer; `None` when the task has no generator for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reflective_response: Option<String>,
    /// Scene facts: modality, lesion list, etc.
    pub meta: Info,
}

impl TaskItem {
    /// `<think>{cot}</think><answer>{answer}</answer>`, the plain reference response.
    pub fn plain_response(cot: &str, answer: &str) -> String {
        format!("<think>{cot}</think><answer>{answer}</answer>")
    }

    /// `<think>{first_reading} Wait, let me re-check. {cot}</think><answer>{answer}</answer>`.
    pub fn reflective(first_reading: &str, cot: &str, answer: &str) -> String {
        format!(
            "<think>{first_reading} Wait, let me re-check. {cot}</think><answer>{answer}</answer>"
        )
    }

    /// The first image when it is an in-memory scan (procedural tasks draw exactly one).
    pub fn scan(&self) -> Option<&ScanImage> {
        self.images.first().and_then(ItemImage::as_scan)
    }
}
