//! The Gymnasium-shaped environment contract and the registry.

mod common;

use common::{get_task, MEDSYNTH_IDS};
use medgym_envs::{
    builtin_task_ids, list, make, task, ContentPart, Env, EnvError, Role, SingleTurnEnv, Split,
    SYSTEM_PROMPT,
};

#[test]
fn list_is_sorted_and_has_the_four_medsynth_tasks() {
    let specs = list();
    let ids: Vec<&str> = specs.iter().map(|spec| spec.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    for id in MEDSYNTH_IDS {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    for spec in &specs {
        assert!(
            spec.id.ends_with(&format!("-v{}", spec.version)),
            "{}",
            spec.id
        );
        assert!(
            spec.id.starts_with(&format!("{}/", spec.family)),
            "{}",
            spec.id
        );
        assert_eq!(spec.max_turns, 1);
        assert!(spec.reward_range.0 < spec.reward_range.1);
        assert!(!spec.description.is_empty());
        if MEDSYNTH_IDS.contains(&spec.id.as_str()) {
            assert_eq!((spec.version, spec.family.as_str()), (1, "medsynth"));
        }
    }
    assert_eq!(builtin_task_ids(), ids);
}

#[test]
fn unknown_ids_error_with_the_known_ids() {
    let error = make("medsynth/nope-v9", Split::Train).err().unwrap();
    match &error {
        EnvError::UnknownEnv { id, known } => {
            assert_eq!(id, "medsynth/nope-v9");
            for known_id in MEDSYNTH_IDS {
                assert!(known.contains(known_id), "{known}");
            }
        }
        other => panic!("expected UnknownEnv, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("medsynth/nope-v9") && message.contains(MEDSYNTH_IDS[0]));
    assert!(task("").is_err());
}

#[test]
fn reset_with_the_same_seed_repeats_the_observation() {
    for id in MEDSYNTH_IDS {
        let mut env = make(id, Split::Train).unwrap();
        let (first, first_info) = env.reset(Some(42)).unwrap();
        let (next, next_info) = env.reset(None).unwrap();
        let (again, again_info) = env.reset(Some(42)).unwrap();
        assert_eq!(first, again, "{id}");
        assert_eq!(first_info, again_info, "{id}");
        assert_ne!(first.images, next.images, "{id}: reset(None) must advance");
        assert_eq!(first_info["index"], 0);
        assert_eq!(next_info["index"], 1);
        assert_eq!(first_info["task_id"], id);
        assert_eq!(first_info["split"], "train");
        assert!(first_info.contains_key("item_id"));
    }
}

#[test]
fn observation_is_system_then_image_and_question() {
    let mut env = make("medsynth/lesion-side-v1", Split::Eval).unwrap();
    let (observation, _) = env.reset(Some(1)).unwrap();
    assert_eq!(observation.images.len(), 1);
    assert_eq!(observation.messages.len(), 2);
    assert_eq!(observation.messages[0].role, Role::System);
    assert_eq!(
        observation.messages[0].content,
        [ContentPart::Text(SYSTEM_PROMPT.to_string())]
    );
    assert_eq!(observation.messages[1].role, Role::User);
    assert_eq!(
        observation.messages[1].content,
        [
            ContentPart::Image(0),
            ContentPart::Text("On which side of the patient is the lesion?".to_string())
        ]
    );
}

#[test]
fn step_before_reset_and_after_termination_fail() {
    let mut env = make("medsynth/modality-v1", Split::Train).unwrap();
    assert!(matches!(env.step("x"), Err(EnvError::StepBeforeReset)));
    env.reset(Some(0)).unwrap();
    let result = env.step("<think>t</think><answer>ct</answer>").unwrap();
    assert!(result.terminated);
    assert!(!result.truncated);
    assert!(matches!(
        env.step("again"),
        Err(EnvError::StepAfterTermination)
    ));
    env.reset(None).unwrap();
    assert!(env.step("<answer>mri</answer>").is_ok());
}

#[test]
fn rewards_stay_in_range_and_reference_earns_the_top() {
    let actions = [
        "",
        "ct",
        "<think></think><answer></answer>",
        "<think>guess</think><answer>yes</answer>",
        "<answer>A</answer>",
        "<think>unclosed",
    ];
    for id in MEDSYNTH_IDS {
        let shared = get_task(id);
        let mut env = SingleTurnEnv::new(shared, Split::Train);
        let (low, high) = env.spec().reward_range;
        for seed in 0..10 {
            for action in actions {
                env.reset(Some(seed)).unwrap();
                let result = env.step(action).unwrap();
                assert!(
                    (low..=high).contains(&result.reward),
                    "{id}: reward {} for {action:?} outside {low}..={high}",
                    result.reward
                );
                assert_eq!(result.reward, result.breakdown.total);
            }
            env.reset(Some(seed)).unwrap();
            let item = env.current_item().unwrap().clone();
            let result = env.step(&item.reference_response).unwrap();
            assert!(result.breakdown.correct, "{id}: {:?}", result.breakdown);
            assert!((low..=high).contains(&result.reward));
            assert_eq!(result.info["item_id"], item.id.as_str());
            let last = result.observation.messages.last().unwrap();
            assert_eq!(last.role, Role::Assistant);
        }
    }
}

#[test]
fn current_item_tracks_resets() {
    let mut env = SingleTurnEnv::new(task("medsynth/lesion-count-v1").unwrap(), Split::Eval);
    assert!(env.current_item().is_none());
    let (_, info) = env.reset(Some(5)).unwrap();
    let item = env.current_item().unwrap();
    assert_eq!(info["item_id"], item.id.as_str());
    assert_eq!((item.seed, item.index, item.split), (5, 0, Split::Eval));
}
