//! Reflection episodes: after an unparseable or wrong answer the environment replies with a
//! feedback turn and the agent may answer again, up to a turn limit.

use std::sync::Arc;

use medgym_rewards::Outcome;
use serde_json::Value;

use crate::config::{EnvConfig, TurnReward};
use crate::env::{item_info, Env, ItemStream};
use crate::error::EnvError;
use crate::task::TaskFamily;
use crate::types::{EnvSpec, Info, Message, Observation, Role, StepResult, TaskItem};

/// Feedback after an answer the verifier could not read.
pub const UNPARSEABLE_FEEDBACK: &str = "I could not read an answer. Reason inside <think></think>, then give only the final answer inside <answer></answer>.";
/// Feedback after a readable but wrong answer.
pub const WRONG_FEEDBACK: &str =
    "That answer is not correct. Re-check the question carefully and answer again.";

/// A multi-turn reflection episode over any task family.
#[derive(Clone)]
pub struct ReflectionEnv {
    stream: ItemStream,
    spec: EnvSpec,
    turn_reward: TurnReward,
    current: Option<TaskItem>,
    observation: Option<Observation>,
    turn: u32,
    done: bool,
}

impl std::fmt::Debug for ReflectionEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReflectionEnv")
            .field("task", &self.spec.id)
            .field("split", &self.stream.split)
            .field("max_turns", &self.spec.max_turns)
            .field("turn", &self.turn)
            .field("done", &self.done)
            .finish()
    }
}

impl ReflectionEnv {
    /// A reflection environment over `task` using `config`'s split, turn limit and turn rewards.
    pub fn new(task: Arc<dyn TaskFamily>, config: &EnvConfig) -> Result<Self, EnvError> {
        config.validate()?;
        let mut spec = task.spec().clone();
        spec.max_turns = config.max_turns;
        Ok(Self {
            stream: ItemStream::new(task, config.split),
            spec,
            turn_reward: config.turn_reward,
            current: None,
            observation: None,
            turn: 0,
            done: false,
        })
    }

    /// Turns taken in the current episode.
    pub fn turn(&self) -> u32 {
        self.turn
    }

    /// The reward paid for a turn scoring `score`, given whether the episode ends with it.
    fn turn_reward(&self, score: f32, last: bool) -> f32 {
        match self.turn_reward {
            TurnReward::EveryTurn => score,
            TurnReward::LastTurn if last => score,
            TurnReward::Discounted { gamma } if last => {
                let exponent = i32::try_from(self.turn.saturating_sub(1)).unwrap_or(i32::MAX);
                score * gamma.powi(exponent)
            }
            TurnReward::LastTurn | TurnReward::Discounted { .. } => 0.0,
        }
    }
}

impl Env for ReflectionEnv {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn current_item(&self) -> Option<&TaskItem> {
        self.current.as_ref()
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<(Observation, Info), EnvError> {
        let (item, observation, mut info) = self.stream.start_episode(seed)?;
        info.insert("max_turns".into(), Value::from(self.spec.max_turns));
        self.current = Some(item);
        self.observation = Some(observation.clone());
        self.turn = 0;
        self.done = false;
        Ok((observation, info))
    }

    fn step(&mut self, action: &str) -> Result<StepResult, EnvError> {
        let item = self.current.as_ref().ok_or(EnvError::StepBeforeReset)?;
        if self.done {
            return Err(EnvError::StepAfterTermination);
        }
        let breakdown = self.stream.task.score(item, action);
        let mut observation = self.observation.take().ok_or(EnvError::StepBeforeReset)?;
        observation
            .messages
            .push(Message::text(Role::Assistant, action));
        self.turn = self.turn.saturating_add(1);
        let terminated = breakdown.correct;
        let truncated = !terminated && self.turn >= self.spec.max_turns;
        let mut info = item_info(item);
        info.insert("turn".into(), Value::from(self.turn));
        info.insert("correct".into(), Value::from(breakdown.correct));
        info.insert("format_ok".into(), Value::from(breakdown.format_ok));
        info.insert("outcome".into(), Value::from(breakdown.outcome.as_str()));
        if terminated || truncated {
            info.insert(
                "reference_answer".into(),
                Value::from(item.reference.answer().to_owned()),
            );
        } else {
            let feedback = if breakdown.outcome == Outcome::Incorrect {
                WRONG_FEEDBACK
            } else {
                UNPARSEABLE_FEEDBACK
            };
            observation
                .messages
                .push(Message::text(Role::User, feedback));
        }
        self.done = terminated || truncated;
        let reward = self.turn_reward(breakdown.total, self.done);
        self.observation = Some(observation.clone());
        Ok(StepResult {
            observation,
            reward,
            breakdown,
            terminated,
            truncated,
            info,
        })
    }
}
