//! Scene facts: geometry, visibility, and agreement between image, reasoning and answer.

mod common;

use common::{get_task, MEDSYNTH_IDS};
use medgym_envs::medsynth::scene::{BODY, BONE_RING_THICKNESS};
use medgym_envs::medsynth::tasks::lesion_list;
use medgym_envs::medsynth::{scene_from_meta, Modality, OrganKind, Scene, Side};
use medgym_envs::{ScanImage, Split, TaskItem};

const ITEMS_PER_TASK: u64 = 200;

fn items(id: &str) -> Vec<(TaskItem, Scene)> {
    let task = get_task(id);
    (0..ITEMS_PER_TASK)
        .map(|index| {
            let item = task.item(Split::Train, 99, index).unwrap();
            let scene = scene_from_meta(&item.meta).unwrap();
            (item, scene)
        })
        .collect()
}

fn all_items() -> Vec<(TaskItem, Scene)> {
    MEDSYNTH_IDS.iter().flat_map(|id| items(id)).collect()
}

fn pixel(image: &ScanImage, x: i32, y: i32) -> f64 {
    let value = image
        .pixel(u32::try_from(x).unwrap(), u32::try_from(y).unwrap())
        .unwrap_or_else(|| panic!("pixel ({x}, {y}) outside the image"));
    f64::from(value)
}

fn mean(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "mean of no pixels");
    values.iter().sum::<f64>() / values.len() as f64
}

/// Whether `name` occurs in `text` as whole words.
fn mentions(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + name.len()..].chars().next();
        let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        !is_word(before) && !is_word(after)
    })
}

#[test]
fn lesions_lie_inside_their_organ_and_do_not_overlap() {
    for (item, scene) in all_items() {
        assert!(scene.lesions.len() <= 3, "{}", item.id);
        for lesion in &scene.lesions {
            assert!((3..=5).contains(&lesion.radius), "{}: {lesion:?}", item.id);
            let organ = scene.organ(lesion.organ).unwrap();
            for (x, y) in lesion.shape().pixels() {
                assert!(
                    organ.shape.contains(x, y),
                    "{}: lesion pixel ({x}, {y}) outside {:?}",
                    item.id,
                    organ
                );
            }
        }
        for (i, first) in scene.lesions.iter().enumerate() {
            for second in &scene.lesions[i + 1..] {
                let shared = first
                    .shape()
                    .pixels()
                    .into_iter()
                    .any(|(x, y)| second.covers(x, y));
                assert!(!shared, "{}: {first:?} overlaps {second:?}", item.id);
            }
        }
    }
}

#[test]
fn organs_are_apart_and_inside_the_body() {
    for (item, scene) in all_items() {
        assert_eq!(scene.organs.len(), OrganKind::ALL.len(), "{}", item.id);
        for (i, organ) in scene.organs.iter().enumerate() {
            let base = organ.kind.base_shape();
            assert!((organ.shape.center_x - base.center_x).abs() <= 1);
            assert!((organ.shape.center_y - base.center_y).abs() <= 1);
            for (x, y) in organ.shape.pixels() {
                assert!(
                    BODY.contains_inset(x, y, BONE_RING_THICKNESS),
                    "{}: {:?} reaches the bone ring at ({x}, {y})",
                    item.id,
                    organ.kind
                );
                for other in &scene.organs[i + 1..] {
                    assert!(
                        !other.shape.contains(x, y),
                        "{}: {:?} overlaps {:?}",
                        item.id,
                        organ.kind,
                        other.kind
                    );
                }
            }
        }
    }
}

#[test]
fn lesion_side_follows_its_image_column_and_organ() {
    for (item, scene) in all_items() {
        for lesion in &scene.lesions {
            assert_eq!(
                lesion.side,
                Side::of_image_x(lesion.center_x),
                "{}",
                item.id
            );
            assert_eq!(lesion.side, lesion.organ.side(), "{}", item.id);
        }
    }
    assert_eq!(OrganKind::Liver.side(), Side::Right);
    assert_eq!(OrganKind::Spleen.side(), Side::Left);
    assert_eq!(OrganKind::RightLung.side(), Side::Right);
    assert_eq!(OrganKind::LeftKidney.side(), Side::Left);
}

#[test]
fn lesions_stand_out_from_their_organ() {
    for (item, scene) in all_items() {
        for lesion in &scene.lesions {
            let organ = scene.organ(lesion.organ).unwrap();
            let lesion_pixels: Vec<f64> = lesion
                .shape()
                .pixels()
                .into_iter()
                .map(|(x, y)| pixel(item.scan().unwrap(), x, y))
                .collect();
            let tissue_pixels: Vec<f64> = organ
                .shape
                .pixels()
                .into_iter()
                .filter(|&(x, y)| !scene.lesions.iter().any(|other| other.covers(x, y)))
                .map(|(x, y)| pixel(item.scan().unwrap(), x, y))
                .collect();
            let contrast = (mean(&lesion_pixels) - mean(&tissue_pixels)).abs();
            assert!(
                contrast >= 60.0,
                "{}: lesion in {:?} contrast only {contrast:.1}",
                item.id,
                lesion.organ
            );
        }
    }
}

#[test]
fn modalities_look_different() {
    for (item, scene) in items("medsynth/modality-v1") {
        let ring = pixel(item.scan().unwrap(), 32, 4);
        let corner = pixel(item.scan().unwrap(), 0, 0);
        let lung = scene.organ(OrganKind::RightLung).unwrap().shape;
        let lung_center = pixel(item.scan().unwrap(), lung.center_x, lung.center_y);
        let lesion_at_lung_center = scene
            .lesions
            .iter()
            .any(|lesion| lesion.covers(lung.center_x, lung.center_y));
        match scene.modality {
            Modality::Ct => {
                assert!(ring > 200.0 && corner < 30.0, "{}", item.id);
                assert!(lesion_at_lung_center || lung_center < 50.0, "{}", item.id);
            }
            Modality::Mri => assert!(ring < 100.0 && corner < 30.0, "{}", item.id),
            Modality::XRay => {
                assert!(ring > 200.0 && corner > 170.0, "{}", item.id);
                assert!(lesion_at_lung_center || lung_center > 120.0, "{}", item.id);
            }
        }
        let expected = format!("This is {}.", scene.modality.display_name());
        assert!(item.reference_cot.ends_with(&expected), "{}", item.id);
        assert_eq!(item.reference.answer(), scene.modality.answer());
    }
}

#[test]
fn reasoning_mentions_exactly_the_lesions_of_the_scene() {
    for id in [
        "medsynth/lesion-presence-v1",
        "medsynth/lesion-count-v1",
        "medsynth/lesion-side-v1",
    ] {
        for (item, scene) in items(id) {
            let cot = &item.reference_cot;
            for organ in OrganKind::ALL {
                let has_lesion = scene.lesions.iter().any(|lesion| lesion.organ == organ);
                assert_eq!(
                    mentions(cot, organ.name()),
                    has_lesion,
                    "{}: {:?} in {cot:?}",
                    item.id,
                    organ
                );
            }
            let sorted = scene.lesions.windows(2).all(|pair| {
                (pair[0].center_y, pair[0].center_x) <= (pair[1].center_y, pair[1].center_x)
            });
            assert!(sorted, "{}: lesions not in canonical order", item.id);
            assert!(
                cot.contains(&lesion_list(&scene.lesions)),
                "{}: {cot:?}",
                item.id
            );
            let scan = format!("{} scan.", scene.modality.display_name());
            assert!(cot.starts_with(&scan), "{}: {cot:?}", item.id);
        }
    }
}

#[test]
fn answers_agree_with_the_scene() {
    for (item, scene) in items("medsynth/lesion-presence-v1") {
        let expected = if scene.lesions.is_empty() {
            "no"
        } else {
            "yes"
        };
        assert_eq!(item.reference.answer(), expected, "{}", item.id);
    }
    for (item, scene) in items("medsynth/lesion-count-v1") {
        let letters = ["A", "B", "C", "D"];
        assert_eq!(
            item.reference.answer(),
            letters[scene.lesions.len()],
            "{}",
            item.id
        );
        assert_eq!(item.meta["lesion_count"], scene.lesions.len());
    }
    for (item, scene) in items("medsynth/lesion-side-v1") {
        assert_eq!(scene.lesions.len(), 1, "{}", item.id);
        assert_eq!(
            item.reference.answer(),
            scene.lesions[0].side.name(),
            "{}",
            item.id
        );
        let claim = format!("on the patient's {}.", scene.lesions[0].side.name());
        assert!(item.reference_cot.ends_with(&claim), "{}", item.id);
    }
}

#[test]
fn scenes_use_every_organ_and_lesion_size() {
    let mut organs_hit = std::collections::BTreeSet::new();
    let mut radii = std::collections::BTreeSet::new();
    for (_, scene) in all_items() {
        for lesion in &scene.lesions {
            organs_hit.insert(lesion.organ);
            radii.insert(lesion.radius);
        }
    }
    assert_eq!(organs_hit.len(), OrganKind::ALL.len(), "{organs_hit:?}");
    assert_eq!(radii.into_iter().collect::<Vec<_>>(), [3, 4, 5]);
}
