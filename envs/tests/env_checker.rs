//! The environment checker passes on every registered environment, single-turn and
//! reflection variants, at every difficulty level of tasks that have levels.

use medgym_envs::{
    check_env, check_observation, list, task, ContentPart, EnvConfig, EnvError, Message,
    Observation, Role, ScanImage, Split, TurnReward, MAX_DIFFICULTY, MIN_DIFFICULTY,
};

const SEEDS: [u64; 2] = [0, 17];

#[test]
fn every_registered_env_passes_the_checker() {
    let specs = list();
    assert!(specs.len() >= 4 + 7 + 6 + 3, "{} envs", specs.len());
    for spec in specs {
        for split in [Split::Train, Split::Eval] {
            let report = check_env(&spec.id, split, &SEEDS)
                .unwrap_or_else(|error| panic!("{}: {error}", spec.id));
            assert!(report.steps >= SEEDS.len() * 2, "{}", spec.id);
        }
    }
}

#[test]
fn every_env_passes_as_a_reflection_episode() {
    for spec in list() {
        for turn_reward in [
            TurnReward::LastTurn,
            TurnReward::EveryTurn,
            TurnReward::Discounted { gamma: 0.5 },
        ] {
            let config = EnvConfig::new(Split::Train).with_turns(3, turn_reward);
            check_env(&spec.id, config, &SEEDS)
                .unwrap_or_else(|error| panic!("{} {turn_reward:?}: {error}", spec.id));
        }
    }
}

#[test]
fn every_difficulty_level_passes_the_checker() {
    let mut levelled = 0;
    for spec in list() {
        if task(&spec.id).unwrap().difficulty().is_none() {
            continue;
        }
        levelled += 1;
        for level in MIN_DIFFICULTY..=MAX_DIFFICULTY {
            let config = EnvConfig::new(Split::Eval).with_difficulty(level);
            check_env(&spec.id, config, &SEEDS)
                .unwrap_or_else(|error| panic!("{} level {level}: {error}", spec.id));
        }
    }
    assert!(levelled >= 16, "{levelled} tasks with levels");
}

#[test]
fn v1_tasks_have_no_levels_and_bad_levels_are_rejected() {
    let error = medgym_envs::make(
        "medsynth/lesion-count-v1",
        EnvConfig::new(Split::Train).with_difficulty(2),
    )
    .err()
    .unwrap();
    assert!(matches!(error, EnvError::Difficulty { .. }), "{error}");
    for level in [0, 6] {
        let error = medgym_envs::make(
            "medsynth/lesion-count-v2",
            EnvConfig::new(Split::Train).with_difficulty(level),
        )
        .err()
        .unwrap();
        assert!(error.to_string().contains("outside 1..=5"), "{error}");
    }
    let error = medgym_envs::make(
        "clinical/bmi-v1",
        EnvConfig::new(Split::Train).with_turns(0, TurnReward::LastTurn),
    )
    .err()
    .unwrap();
    assert!(error.to_string().contains("max_turns"), "{error}");
}

fn scan_observation(images: Vec<ScanImage>, parts: Vec<ContentPart>) -> Observation {
    Observation {
        messages: vec![
            Message::text(Role::System, "sys"),
            Message {
                role: Role::User,
                content: parts,
            },
        ],
        images: images.into_iter().map(Into::into).collect(),
    }
}

#[test]
fn the_observation_check_catches_bad_indices_and_buffers() {
    let good = ScanImage::new(2, 2, vec![0; 4]).unwrap();
    let ok = scan_observation(vec![good.clone()], vec![ContentPart::Image(0)]);
    check_observation("x", &ok).unwrap();
    let out_of_range = scan_observation(vec![good.clone()], vec![ContentPart::Image(1)]);
    assert!(check_observation("x", &out_of_range)
        .unwrap_err()
        .to_string()
        .contains("image_index"));
    let unreferenced = scan_observation(vec![good.clone()], vec![]);
    assert!(check_observation("x", &unreferenced).is_err());
    let mut broken = good;
    broken.pixels.pop();
    let malformed = scan_observation(vec![broken], vec![ContentPart::Image(0)]);
    assert!(check_observation("x", &malformed)
        .unwrap_err()
        .to_string()
        .contains("3 bytes"));
}
