//! Reflection episodes: feedback turns, turn limits and configurable turn rewards.

use medgym_envs::{
    make, rewards::Rubric, ContentPart, Env, EnvConfig, EnvError, Role, Split, TurnReward,
    UNPARSEABLE_FEEDBACK, WRONG_FEEDBACK,
};

const ID: &str = "clinical/unit-conversion-v1";
const WRONG: &str = "<think>guess</think><answer>123456789</answer>";
const UNREADABLE: &str = "<think>hmm</think><answer>no idea</answer>";

fn env(max_turns: u32, turn_reward: TurnReward) -> Box<dyn Env> {
    make(
        ID,
        EnvConfig::new(Split::Train).with_turns(max_turns, turn_reward),
    )
    .unwrap()
}

fn last_text(observation: &medgym_envs::Observation) -> (Role, String) {
    let message = observation.messages.last().unwrap();
    let text = message
        .content
        .iter()
        .filter_map(|part| match part {
            ContentPart::Text(text) => Some(text.clone()),
            ContentPart::Image(_) => None,
        })
        .collect();
    (message.role, text)
}

#[test]
fn wrong_then_unreadable_then_correct_gets_feedback_each_time() {
    let mut env = env(3, TurnReward::EveryTurn);
    assert_eq!(env.spec().max_turns, 3);
    env.reset(Some(4)).unwrap();
    let reference = env.current_item().unwrap().reference_response.clone();
    let first = env.step(WRONG).unwrap();
    assert!(!first.terminated && !first.truncated);
    assert_eq!(
        last_text(&first.observation),
        (Role::User, WRONG_FEEDBACK.to_string())
    );
    assert!(
        (first.reward - 0.2).abs() < 1e-6,
        "format-only reward {}",
        first.reward
    );
    let second = env.step(UNREADABLE).unwrap();
    assert_eq!(
        last_text(&second.observation),
        (Role::User, UNPARSEABLE_FEEDBACK.to_string())
    );
    assert_eq!(second.observation.messages.len(), 2 + 4);
    let third = env.step(&reference).unwrap();
    assert!(third.terminated && !third.truncated);
    assert_eq!(third.info["turn"], 3);
    assert!((third.reward - 1.2).abs() < 1e-6);
    assert_eq!(last_text(&third.observation).0, Role::Assistant);
    assert!(matches!(
        env.step(WRONG),
        Err(EnvError::StepAfterTermination)
    ));
}

#[test]
fn the_turn_limit_truncates() {
    let mut env = env(2, TurnReward::LastTurn);
    env.reset(Some(1)).unwrap();
    let first = env.step(WRONG).unwrap();
    assert!(!first.terminated && !first.truncated);
    assert_eq!(
        first.reward, 0.0,
        "last-turn rewards pay nothing before the end"
    );
    let second = env.step(WRONG).unwrap();
    assert!(second.truncated && !second.terminated);
    assert!((second.reward - 0.2).abs() < 1e-6);
    assert!(env.step(WRONG).is_err());
    env.reset(None).unwrap();
    assert!(env.step(WRONG).is_ok(), "reset starts a new episode");
}

#[test]
fn discounted_rewards_shrink_with_the_turn() {
    for (wrong_turns, expected) in [(0, 1.2), (1, 0.6), (2, 0.3)] {
        let mut env = env(3, TurnReward::Discounted { gamma: 0.5 });
        env.reset(Some(2)).unwrap();
        let reference = env.current_item().unwrap().reference_response.clone();
        for _ in 0..wrong_turns {
            assert_eq!(env.step(WRONG).unwrap().reward, 0.0);
        }
        let last = env.step(&reference).unwrap();
        assert!(last.terminated);
        assert!(
            (last.reward - expected).abs() < 1e-6,
            "{wrong_turns}: {}",
            last.reward
        );
    }
}

#[test]
fn the_breakdown_is_the_rubric_score_of_each_turn() {
    let mut env = env(2, TurnReward::LastTurn);
    env.reset(Some(3)).unwrap();
    let item = env.current_item().unwrap().clone();
    let step = env.step(WRONG).unwrap();
    assert_eq!(
        step.breakdown,
        Rubric::standard().score(WRONG, &item.reference)
    );
}

#[test]
fn reflection_wraps_image_tasks_too() {
    let mut env = make(
        "medsynth/lesion-side-v1",
        EnvConfig::new(Split::Eval).with_turns(2, TurnReward::LastTurn),
    )
    .unwrap();
    let (observation, info) = env.reset(Some(0)).unwrap();
    assert_eq!(observation.images.len(), 1);
    assert_eq!(info["max_turns"], 2);
    let step = env.step(WRONG).unwrap();
    assert_eq!(step.observation.images.len(), 1);
    assert!(!step.truncated);
}
