//! The task-family abstraction: a procedural source of scored items.

use std::sync::Arc;

use medgym_rewards::{RewardBreakdown, Rubric};

use crate::error::EnvError;
use crate::types::{ContentPart, EnvSpec, Message, Observation, Role, Split, TaskItem};

/// The system prompt shared by built-in tasks.
pub const SYSTEM_PROMPT: &str =
    "Think inside <think></think>, then answer inside <answer></answer>.";

/// A family of procedurally generated items.
pub trait TaskFamily: Send + Sync {
    /// Static description of the task.
    fn spec(&self) -> &EnvSpec;

    /// The item at `index` of the stream `(split, seed)`; a pure function of its arguments.
    fn item(&self, split: Split, seed: u64, index: u64) -> Result<TaskItem, EnvError>;

    /// Expected accuracy of uniform random guessing over the answer space.
    fn chance(&self) -> f64;

    /// The chat observation for an item: [system: SYSTEM_PROMPT, user: [Image(0), …, Image(n−1), Text(question)]].
    fn observation(&self, item: &TaskItem) -> Observation {
        Observation {
            messages: vec![
                Message::text(Role::System, SYSTEM_PROMPT),
                Message {
                    role: Role::User,
                    content: (0..item.images.len())
                        .map(ContentPart::Image)
                        .chain(std::iter::once(ContentPart::Text(item.question.clone())))
                        .collect(),
                },
            ],
            images: item.images.clone(),
        }
    }

    /// The difficulty level (1–5) items are drawn at, or `None` for tasks without levels.
    fn difficulty(&self) -> Option<u8> {
        None
    }

    /// The same task drawing items at another difficulty level (1–5); an error for tasks without levels.
    fn with_difficulty(&self, level: u8) -> Result<Arc<dyn TaskFamily>, EnvError> {
        Err(EnvError::Difficulty {
            id: self.spec().id.clone(),
            reason: format!("has no difficulty levels (asked for level {level})"),
        })
    }

    /// Score a response with `Rubric::standard()`.
    fn score(&self, item: &TaskItem, response: &str) -> RewardBreakdown {
        Rubric::standard().score(response, &item.reference)
    }
}
