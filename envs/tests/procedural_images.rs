//! Version-2 scans and coloured shapes: answers agree with the generator's facts and the pixels.

use medgym_envs::medsynth::{Lesion, Organ, Palette};
use medgym_envs::{task_at, ItemImage, Split, TaskItem};
use serde_json::Value;

fn items(id: &str, level: u8, count: u64) -> Vec<TaskItem> {
    let family = task_at(id, Some(level)).unwrap();
    (0..count)
        .map(|index| family.item(Split::Eval, 3, index).unwrap())
        .collect()
}

fn lesions(item: &TaskItem) -> Vec<Lesion> {
    serde_json::from_value(item.meta["lesions"].clone()).unwrap()
}

#[test]
fn scan_answers_match_the_scene() {
    for level in 1..=5 {
        for item in items("medsynth/lesion-count-v2", level, 20) {
            assert_eq!(item.reference.answer(), lesions(&item).len().to_string());
        }
        for item in items("medsynth/lesion-presence-v2", level, 20) {
            let expected = if lesions(&item).is_empty() {
                "no"
            } else {
                "yes"
            };
            assert_eq!(item.reference.answer(), expected);
        }
        for item in items("medsynth/lesion-side-v2", level, 10) {
            let lesion = lesions(&item)[0];
            let side = if lesion.center_x < 32 {
                "right"
            } else {
                "left"
            };
            assert_eq!(item.reference.answer(), side);
        }
        for item in items("medsynth/lesion-size-v2", level, 10) {
            let lesion = lesions(&item)[0];
            let modality = serde_json::from_value(item.meta["modality"].clone()).unwrap();
            let organ_gray = i32::from(Palette::of(modality).organ(lesion.organ));
            let scan = item.scan().unwrap();
            let row = lesion.center_y as u32;
            let noise = item.meta["noise"].as_i64().unwrap() as i32;
            let contrast = item.meta["contrast"].as_i64().unwrap() as i32;
            let differs = |x: i32| {
                let value = i32::from(scan.pixel(x as u32, row).unwrap());
                (value - organ_gray).abs() > noise.max(contrast / 2)
            };
            if contrast > 2 * noise {
                let left = (0..=8)
                    .take_while(|step| differs(lesion.center_x - step))
                    .count() as i32;
                let right = (0..=8)
                    .take_while(|step| differs(lesion.center_x + step))
                    .count() as i32;
                assert_eq!(left + right - 1, 2 * lesion.radius + 1, "{}", item.id);
            }
            assert_eq!(item.reference.answer(), (2 * lesion.radius + 1).to_string());
        }
        for item in items("medsynth/organ-v2", level, 10) {
            assert_eq!(item.reference.answer(), lesions(&item)[0].organ.name());
        }
        for item in items("medsynth/modality-v2", level, 10) {
            assert_eq!(
                Value::from(item.reference.answer().to_owned()),
                item.meta["modality"]
            );
        }
    }
}

/// Mean pixel value over a lesion disk minus the mean over its organ outside the disk.
fn lesion_contrast(item: &TaskItem) -> f64 {
    let scan = item.scan().unwrap();
    let lesion = lesions(item)[0];
    let organs: Vec<Organ> = serde_json::from_value(item.meta["organs"].clone()).unwrap();
    let organ = organs
        .iter()
        .find(|organ| organ.kind == lesion.organ)
        .unwrap();
    let (mut inside, mut inside_count, mut around, mut around_count) = (0.0, 0.0, 0.0, 0.0);
    for (x, y) in organ.shape.pixels() {
        let value = f64::from(scan.pixel(x as u32, y as u32).unwrap());
        if lesion.covers(x, y) {
            inside += value;
            inside_count += 1.0;
        } else {
            around += value;
            around_count += 1.0;
        }
    }
    (inside / inside_count - around / around_count).abs()
}

#[test]
fn harder_levels_have_lower_lesion_contrast_and_smaller_lesions() {
    let easy = items("medsynth/organ-v2", 1, 20);
    let hard = items("medsynth/organ-v2", 5, 20);
    let mean = |set: &[TaskItem]| set.iter().map(lesion_contrast).sum::<f64>() / set.len() as f64;
    assert!(mean(&easy) > 80.0, "easy contrast {}", mean(&easy));
    assert!(mean(&hard) < 40.0, "hard contrast {}", mean(&hard));
    let mean_radius = |set: &[TaskItem]| {
        set.iter()
            .map(|item| f64::from(lesions(item)[0].radius))
            .sum::<f64>()
            / set.len() as f64
    };
    assert!(mean_radius(&easy) > mean_radius(&hard) + 1.0);
    assert!(hard.iter().all(|item| lesions(item)[0].radius <= 3));
    assert!(hard
        .iter()
        .all(|item| item.meta["distractors"].as_array().unwrap().len() == 3));
}

#[test]
fn grades_order_the_measured_contrast() {
    let mut by_grade = std::collections::BTreeMap::<String, Vec<f64>>::new();
    for item in items("medsynth/lesion-grade-v2", 1, 40) {
        by_grade
            .entry(item.reference.answer().to_owned())
            .or_default()
            .push(lesion_contrast(&item));
    }
    let mean = |name: &str| {
        let values = &by_grade[name];
        values.iter().sum::<f64>() / values.len() as f64
    };
    assert!(
        mean("mild") < mean("moderate") && mean("moderate") < mean("marked"),
        "{by_grade:?}"
    );
}

#[derive(serde::Deserialize)]
struct Object {
    shape: String,
    colour: String,
    column: u32,
    row: u32,
}

fn objects(item: &TaskItem) -> Vec<Object> {
    serde_json::from_value(item.meta["objects"].clone()).unwrap()
}

#[test]
fn shape_answers_match_the_objects() {
    for level in 1..=5 {
        for item in items("shapes/count-v1", level, 20) {
            let objects = objects(&item);
            let question = item.question.to_lowercase();
            let count = objects
                .iter()
                .filter(|object| {
                    question.contains(&format!("many {}s", object.shape))
                        || question.contains(&format!("many {} shapes", object.colour))
                })
                .count();
            assert_eq!(
                item.reference.answer(),
                count.to_string(),
                "{}",
                item.question
            );
        }
        for item in items("shapes/color-v1", level, 20) {
            let objects = objects(&item);
            let target = objects
                .iter()
                .find(|object| item.question.contains(&format!("the {}?", object.shape)))
                .unwrap();
            assert_eq!(
                objects
                    .iter()
                    .filter(|object| object.shape == target.shape)
                    .count(),
                1
            );
            assert_eq!(item.reference.answer(), target.colour);
        }
        for item in items("shapes/relation-v1", level, 20) {
            let objects = objects(&item);
            let (a, b) = (&objects[0], &objects[1]);
            let holds = if item.question.contains("left of") {
                a.column < b.column
            } else {
                a.row < b.row
            };
            assert_eq!(
                item.reference.answer(),
                if holds { "yes" } else { "no" },
                "{}",
                item.question
            );
        }
    }
}

#[test]
fn shape_pixels_have_the_named_colour_at_level_one() {
    for item in items("shapes/color-v1", 1, 10) {
        let ItemImage::Color(image) = &item.images[0] else {
            panic!("not a colour image")
        };
        let target = &objects(&item)[0];
        let x = target.column * 24 + 12;
        let y = target.row * 24 + 12;
        let start = ((y * image.width + x) * 3) as usize;
        let expected: [u8; 3] = match target.colour.as_str() {
            "red" => [210, 30, 30],
            "green" => [30, 160, 50],
            "blue" => [35, 60, 210],
            "yellow" => [225, 200, 20],
            "purple" => [130, 40, 170],
            "orange" => [240, 130, 20],
            other => panic!("colour {other}"),
        };
        assert_eq!(&image.pixels[start..start + 3], expected, "{}", item.id);
    }
}
