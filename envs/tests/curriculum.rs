//! The difficulty curriculum moves levels as measured pass rates change.

use medgym_envs::{Curriculum, CurriculumConfig, LevelMove};

fn config() -> CurriculumConfig {
    CurriculumConfig {
        start_level: 2,
        window: 10,
        min_samples: 5,
        promote_at: 0.8,
        demote_at: 0.3,
    }
}

#[test]
fn high_pass_rates_promote_and_low_ones_demote() {
    let mut curriculum = Curriculum::new(config()).unwrap();
    assert_eq!(curriculum.level(), 2);
    for _ in 0..4 {
        assert_eq!(curriculum.record(2, true).unwrap(), LevelMove::Stay);
    }
    assert_eq!(curriculum.record(2, true).unwrap(), LevelMove::Up(3));
    assert_eq!(curriculum.level(), 3);
    assert_eq!(
        curriculum.pass_rate(2),
        None,
        "the window restarts after a move"
    );
    for passed in [true, false, false, false] {
        assert_eq!(curriculum.record(3, passed).unwrap(), LevelMove::Stay);
    }
    assert_eq!(curriculum.record(3, false).unwrap(), LevelMove::Down(2));
    assert_eq!(curriculum.level(), 2);
}

#[test]
fn middling_rates_stay_and_other_levels_do_not_move_it() {
    let mut curriculum = Curriculum::new(config()).unwrap();
    for step in 0..20 {
        assert_eq!(
            curriculum.record(2, step % 2 == 0).unwrap(),
            LevelMove::Stay
        );
    }
    assert!((curriculum.pass_rate(2).unwrap() - 0.5).abs() < 1e-12);
    for _ in 0..10 {
        assert_eq!(curriculum.record(4, true).unwrap(), LevelMove::Stay);
    }
    assert_eq!(curriculum.level(), 2);
    assert!((curriculum.pass_rate(4).unwrap() - 1.0).abs() < 1e-12);
}

#[test]
fn levels_stay_within_one_to_five() {
    let mut curriculum = Curriculum::new(CurriculumConfig {
        start_level: 5,
        ..config()
    })
    .unwrap();
    for _ in 0..20 {
        assert_eq!(curriculum.record(5, true).unwrap(), LevelMove::Stay);
    }
    let mut low = Curriculum::new(CurriculumConfig {
        start_level: 1,
        ..config()
    })
    .unwrap();
    for _ in 0..20 {
        assert_eq!(low.record(1, false).unwrap(), LevelMove::Stay);
    }
    assert!(low.record(0, true).is_err());
    assert!(low.record(6, true).is_err());
}

#[test]
fn inconsistent_thresholds_are_rejected() {
    for bad in [
        CurriculumConfig {
            start_level: 0,
            ..config()
        },
        CurriculumConfig {
            min_samples: 11,
            ..config()
        },
        CurriculumConfig {
            promote_at: 0.2,
            ..config()
        },
    ] {
        assert!(Curriculum::new(bad).is_err(), "{bad:?}");
    }
}
