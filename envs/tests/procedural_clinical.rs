//! Clinical generators: every answer is recomputed here from the stated inputs with the
//! textbook formulas, at every level.

use medgym_envs::{task_at, Info, Split, TaskItem};

const LB_TO_KG: f64 = 0.45359237;

fn items(id: &str, level: u8, count: u64) -> Vec<TaskItem> {
    let family = task_at(id, Some(level)).unwrap();
    (0..count)
        .map(|index| family.item(Split::Train, 11, index).unwrap())
        .collect()
}

fn number(meta: &Info, key: &str) -> f64 {
    meta[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} in {meta:?}"))
}

fn text<'a>(meta: &'a Info, key: &str) -> &'a str {
    meta[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {meta:?}"))
}

/// The reference parsed as a number must equal `expected` within half a unit of its last decimal.
fn assert_answer(item: &TaskItem, expected: f64) {
    let answer: f64 = item.reference.answer().parse().unwrap();
    let decimals = item
        .reference
        .answer()
        .split('.')
        .nth(1)
        .map_or(0, str::len);
    let half_unit = 0.5 * 10f64.powi(-(decimals as i32)) + 1e-9;
    assert!(
        (answer - expected).abs() <= half_unit,
        "{}: answer {answer} vs recomputed {expected} ({})",
        item.id,
        item.question
    );
}

fn kilograms(meta: &Info) -> f64 {
    let weight = number(meta, "weight");
    match text(meta, "weight_unit") {
        "lb" => weight * LB_TO_KG,
        "kg" => weight,
        other => panic!("unit {other}"),
    }
}

#[test]
fn bmi_is_weight_over_height_squared() {
    for level in 1..=5 {
        for item in items("clinical/bmi-v1", level, 25) {
            let meta = &item.meta;
            let height = number(meta, "height");
            let metres = match text(meta, "height_unit") {
                "m" => height,
                "cm" => height / 100.0,
                "in" => height * 2.54 / 100.0,
                other => panic!("unit {other}"),
            };
            assert!(item.question.contains(text(meta, "weight_unit")));
            assert!(item.images.is_empty());
            assert_answer(&item, kilograms(meta) / (metres * metres));
        }
    }
}

#[test]
fn creatinine_clearance_follows_cockcroft_gault() {
    for level in 1..=5 {
        for item in items("clinical/creatinine-clearance-v1", level, 25) {
            let meta = &item.meta;
            let age = number(meta, "age");
            let creatinine = number(meta, "creatinine");
            let mg_dl = match text(meta, "creatinine_unit") {
                "mg/dL" => creatinine,
                "umol/L" => creatinine / 88.4,
                other => panic!("unit {other}"),
            };
            let female = meta["female"].as_bool().unwrap();
            let expected =
                (140.0 - age) * kilograms(meta) / (72.0 * mg_dl) * if female { 0.85 } else { 1.0 };
            assert_answer(&item, expected);
            if level == 1 {
                assert!(!female && text(meta, "weight_unit") == "kg");
            }
        }
    }
}

#[test]
fn weight_based_doses_match_the_order() {
    for level in 1..=5 {
        for item in items("clinical/weight-based-dose-v1", level, 25) {
            let meta = &item.meta;
            let total = number(meta, "mg_per_kg") * kilograms(meta);
            let expected = match text(meta, "calculation") {
                "single_dose" => total,
                "divided_dose" => {
                    let daily = meta["daily_cap_mg"]
                        .as_f64()
                        .map_or(total, |cap| total.min(cap));
                    daily / number(meta, "doses_per_day")
                }
                "suspension_volume" => total / number(meta, "concentration_mg_per_ml"),
                other => panic!("calculation {other}"),
            };
            assert_answer(&item, expected);
        }
    }
}

#[test]
fn infusion_rates_match_volume_time_and_concentration() {
    for level in 1..=5 {
        for item in items("clinical/infusion-rate-v1", level, 25) {
            let meta = &item.meta;
            let volume = number(meta, "volume_ml");
            let concentration = number(meta, "drug_mg") / volume;
            let expected = match text(meta, "calculation") {
                "ml_per_hour" => volume / number(meta, "hours"),
                "ml_per_hour_from_minutes" => volume * 60.0 / number(meta, "minutes"),
                "drops_per_minute" => {
                    volume * number(meta, "drop_factor") / (number(meta, "hours") * 60.0)
                }
                "dose_rate_to_ml_per_hour" => number(meta, "dose_mg_per_h") / concentration,
                "weight_dose_rate_to_ml_per_hour" => {
                    number(meta, "dose_mcg_per_kg_min") * number(meta, "weight_kg") * 60.0
                        / 1000.0
                        / concentration
                }
                other => panic!("calculation {other}"),
            };
            assert_answer(&item, expected);
        }
    }
}

#[test]
fn unit_conversions_are_exact() {
    let mut seen = std::collections::BTreeSet::new();
    for level in 1..=5 {
        for item in items("clinical/unit-conversion-v1", level, 25) {
            let meta = &item.meta;
            let value = number(meta, "value");
            let name = text(meta, "conversion");
            seen.insert(name.to_string());
            let expected = match name {
                "g_to_mg" | "mg_to_mcg" => value * 1000.0,
                "mg_to_g" => value / 1000.0,
                "lb_to_kg" => value * LB_TO_KG,
                "kg_to_lb" => value / LB_TO_KG,
                "f_to_c" => (value - 32.0) / 1.8,
                "c_to_f" => value * 1.8 + 32.0,
                "glucose_mg_dl_to_mmol_l" => value / 18.0,
                "glucose_mmol_l_to_mg_dl" => value * 18.0,
                "creatinine_umol_l_to_mg_dl" => value / 88.4,
                "creatinine_mg_dl_to_umol_l" => value * 88.4,
                other => panic!("conversion {other}"),
            };
            assert_answer(&item, expected);
        }
    }
    assert!(seen.len() >= 9, "{seen:?}");
}

#[test]
fn lab_values_are_classified_against_their_range() {
    let mut answers = std::collections::BTreeMap::new();
    for level in 1..=5 {
        for item in items("clinical/lab-interpretation-v1", level, 30) {
            let meta = &item.meta;
            let value = number(meta, "value") / number(meta, "unit_per_range_unit");
            let expected = if value < number(meta, "range_low") {
                "low"
            } else if value > number(meta, "range_high") {
                "high"
            } else {
                "normal"
            };
            assert_eq!(item.reference.answer(), expected, "{}", item.question);
            *answers.entry(expected).or_insert(0) += 1;
        }
    }
    assert_eq!(answers.len(), 3, "{answers:?}");
}

#[test]
fn harder_levels_add_conversions_and_distractors() {
    let easy = &items("clinical/bmi-v1", 1, 1)[0];
    let hard = &items("clinical/bmi-v1", 5, 1)[0];
    assert_eq!(text(&easy.meta, "weight_unit"), "kg");
    assert_eq!(text(&hard.meta, "height_unit"), "in");
    assert!(hard.question.contains("Heart rate") && !easy.question.contains("Heart rate"));
    assert_eq!(hard.meta["difficulty"], 5);
}
