//! How `make` builds an environment: split, difficulty, turn limit and turn rewards.

use serde::{Deserialize, Serialize};

use crate::error::EnvError;
use crate::types::Split;

/// Most turns a reflection episode may be configured with.
pub const MAX_TURNS_LIMIT: u32 = 16;

/// Which turns of a multi-turn episode pay a reward.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TurnReward {
    /// Only the final turn is rewarded (earlier turns get 0).
    LastTurn,
    /// Every turn is rewarded with its own rubric score.
    EveryTurn,
    /// Only the final turn is rewarded, scaled by `gamma^(turn − 1)` (turns counted from 1).
    Discounted {
        /// Per-turn discount in (0, 1].
        gamma: f32,
    },
}

/// Options of [`crate::make`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnvConfig {
    /// Which item stream the environment draws from.
    pub split: Split,
    /// Difficulty level 1–5 for tasks that have levels; `None` keeps the task's default.
    pub difficulty: Option<u8>,
    /// Turns per episode; 1 is single-turn, more wraps the task in a reflection episode.
    pub max_turns: u32,
    /// Which turns are rewarded when `max_turns > 1`.
    pub turn_reward: TurnReward,
}

impl Default for EnvConfig {
    fn default() -> Self {
        Self {
            split: Split::Train,
            difficulty: None,
            max_turns: 1,
            turn_reward: TurnReward::LastTurn,
        }
    }
}

impl From<Split> for EnvConfig {
    fn from(split: Split) -> Self {
        Self {
            split,
            ..Self::default()
        }
    }
}

impl EnvConfig {
    /// The default config on `split`.
    pub fn new(split: Split) -> Self {
        Self::from(split)
    }

    /// This config at difficulty `level`.
    pub fn with_difficulty(mut self, level: u8) -> Self {
        self.difficulty = Some(level);
        self
    }

    /// This config with up to `max_turns` turns rewarded as `turn_reward`.
    pub fn with_turns(mut self, max_turns: u32, turn_reward: TurnReward) -> Self {
        self.max_turns = max_turns;
        self.turn_reward = turn_reward;
        self
    }

    /// Rejects a zero or excessive turn limit and a discount outside (0, 1].
    pub fn validate(&self) -> Result<(), EnvError> {
        if self.max_turns == 0 || self.max_turns > MAX_TURNS_LIMIT {
            return Err(EnvError::InvalidConfig {
                field: "max_turns".into(),
                reason: format!("{} is outside 1..={MAX_TURNS_LIMIT}", self.max_turns),
            });
        }
        if let TurnReward::Discounted { gamma } = self.turn_reward {
            if !(gamma > 0.0 && gamma <= 1.0) {
                return Err(EnvError::InvalidConfig {
                    field: "turn_reward.gamma".into(),
                    reason: format!("{gamma} is outside (0, 1]"),
                });
            }
        }
        Ok(())
    }
}
