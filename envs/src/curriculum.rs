//! A difficulty curriculum: the level moves up when the measured pass rate at the current level
//! is high and down when it is low.

use std::collections::VecDeque;

use serde::Serialize;

use crate::error::EnvError;
use crate::procedural::{MAX_DIFFICULTY, MIN_DIFFICULTY};

/// Thresholds of a [`Curriculum`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurriculumConfig {
    /// Starting level (1–5).
    pub start_level: u8,
    /// Outcomes remembered per level (a sliding window).
    pub window: usize,
    /// Outcomes needed at the current level before it may move.
    pub min_samples: usize,
    /// Move up when the pass rate reaches this.
    pub promote_at: f64,
    /// Move down when the pass rate falls to this.
    pub demote_at: f64,
}

impl Default for CurriculumConfig {
    fn default() -> Self {
        Self {
            start_level: MIN_DIFFICULTY,
            window: 64,
            min_samples: 32,
            promote_at: 0.8,
            demote_at: 0.3,
        }
    }
}

/// What a recorded outcome did to the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LevelMove {
    /// The level stays.
    Stay,
    /// The level went up to the given level.
    Up(u8),
    /// The level went down to the given level.
    Down(u8),
}

/// Pass rates per difficulty level and the level to draw from next.
#[derive(Debug, Clone)]
pub struct Curriculum {
    config: CurriculumConfig,
    level: u8,
    outcomes: Vec<VecDeque<bool>>,
}

impl Curriculum {
    /// A curriculum starting at `config.start_level`; rejects inconsistent thresholds.
    pub fn new(config: CurriculumConfig) -> Result<Self, EnvError> {
        let invalid = |field: &str, reason: String| EnvError::InvalidConfig {
            field: format!("curriculum.{field}"),
            reason,
        };
        if !(MIN_DIFFICULTY..=MAX_DIFFICULTY).contains(&config.start_level) {
            return Err(invalid(
                "start_level",
                format!(
                    "{} is outside {MIN_DIFFICULTY}..={MAX_DIFFICULTY}",
                    config.start_level
                ),
            ));
        }
        if config.window == 0 || config.min_samples == 0 || config.min_samples > config.window {
            return Err(invalid(
                "min_samples",
                format!(
                    "need 1 <= min_samples ({}) <= window ({})",
                    config.min_samples, config.window
                ),
            ));
        }
        let ordered = (0.0..1.0).contains(&config.demote_at)
            && config.demote_at < config.promote_at
            && config.promote_at <= 1.0;
        if !ordered {
            return Err(invalid(
                "promote_at",
                format!(
                    "need 0 <= demote_at ({}) < promote_at ({}) <= 1",
                    config.demote_at, config.promote_at
                ),
            ));
        }
        Ok(Self {
            config,
            level: config.start_level,
            outcomes: vec![VecDeque::new(); usize::from(MAX_DIFFICULTY)],
        })
    }

    /// The level to draw items from now.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Pass rate over the remembered outcomes at `level`, or `None` before any outcome.
    pub fn pass_rate(&self, level: u8) -> Option<f64> {
        let window = self.outcomes.get(usize::from(level.checked_sub(1)?))?;
        if window.is_empty() {
            return None;
        }
        let passed = window.iter().filter(|passed| **passed).count();
        Some(passed as f64 / window.len() as f64)
    }

    /// Records whether an item drawn at `level` was answered correctly, then moves the level
    /// when the current level's pass rate crosses a threshold (its window then starts afresh).
    pub fn record(&mut self, level: u8, passed: bool) -> Result<LevelMove, EnvError> {
        let slot = usize::from(level)
            .checked_sub(1)
            .and_then(|position| self.outcomes.get_mut(position))
            .ok_or_else(|| EnvError::InvalidConfig {
                field: "level".into(),
                reason: format!("{level} is outside {MIN_DIFFICULTY}..={MAX_DIFFICULTY}"),
            })?;
        slot.push_back(passed);
        while slot.len() > self.config.window {
            slot.pop_front();
        }
        if level != self.level || slot.len() < self.config.min_samples {
            return Ok(LevelMove::Stay);
        }
        let rate = self.pass_rate(level).unwrap_or(0.0);
        let next = if rate >= self.config.promote_at && self.level < MAX_DIFFICULTY {
            self.level + 1
        } else if rate <= self.config.demote_at && self.level > MIN_DIFFICULTY {
            self.level - 1
        } else {
            return Ok(LevelMove::Stay);
        };
        if let Some(window) = self.outcomes.get_mut(usize::from(level - 1)) {
            window.clear();
        }
        let moved = if next > self.level {
            LevelMove::Up(next)
        } else {
            LevelMove::Down(next)
        };
        self.level = next;
        Ok(moved)
    }
}
