//! The clinical case generators: each draws stated inputs, computes the answer from exactly
//! the stated (rounded) numbers, and writes the reasoning and a plausible slip.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::clinical::{CG_FEMALE_FACTOR, CM_PER_INCH, CREATININE_UMOL_PER_MG_DL, KG_PER_LB};

/// One generated clinical case.
#[derive(Debug, Clone)]
pub struct Case {
    /// The question text.
    pub question: String,
    /// The answer as written in the reference.
    pub answer: String,
    /// Reasoning text.
    pub cot: String,
    /// A plausible wrong first attempt.
    pub first_reading: String,
    /// Stated inputs with their units, for independent checks.
    pub facts: Vec<(&'static str, Value)>,
    /// Which variant of the calculation the level asks for.
    pub calculation: String,
}

/// `value` rounded to `decimals` places.
pub fn round_to(value: f64, decimals: u32) -> f64 {
    let scale = 10f64.powi(decimals as i32);
    (value * scale).round() / scale
}

/// `value` written with exactly `decimals` places.
pub fn fixed(value: f64, decimals: u32) -> String {
    format!("{:.*}", decimals as usize, round_to(value, decimals))
}

/// A uniform draw in `[low, high]`, rounded to `decimals` places.
fn draw(rng: &mut ChaCha8Rng, low: f64, high: f64, decimals: u32) -> f64 {
    round_to(rng.random_range(low..=high), decimals)
}

/// One element of a non-empty slice, uniformly.
fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T], fallback: T) -> T {
    let position = rng.random_range(0..items.len().max(1));
    items.get(position).copied().unwrap_or(fallback)
}

/// Irrelevant vital signs added at the hardest level.
fn distractor_facts(rng: &mut ChaCha8Rng) -> String {
    let heart_rate: u32 = rng.random_range(55..=110);
    let systolic: u32 = rng.random_range(100..=160);
    let diastolic: u32 = rng.random_range(60..=95);
    let temperature = draw(rng, 36.4, 38.4, 1);
    format!(
        " Heart rate {heart_rate}/min, blood pressure {systolic}/{diastolic} mmHg, temperature {temperature:.1} °C."
    )
}

/// Distractor vitals from `distractor_facts` at level 5 and above; nothing (and no draw) below.
fn distractors_at_level(rng: &mut ChaCha8Rng, level: u8) -> String {
    if level >= 5 {
        distractor_facts(rng)
    } else {
        String::new()
    }
}

/// The weight as stated: in pounds (one decimal) when `in_pounds`, else the kilograms as drawn.
fn stated_weight(weight_kg: f64, in_pounds: bool) -> (f64, &'static str) {
    if in_pounds {
        (round_to(weight_kg / KG_PER_LB, 1), "lb")
    } else {
        (weight_kg, "kg")
    }
}

/// Kilograms from a stated weight in `unit` ("lb" or "kg").
fn kilograms(weight: f64, unit: &str) -> f64 {
    if unit == "lb" {
        weight * KG_PER_LB
    } else {
        weight
    }
}

/// "Round to N decimal place(s)."
fn rounding(decimals: u32) -> String {
    match decimals {
        0 => "Round to the nearest whole number.".to_string(),
        1 => "Round to one decimal place.".to_string(),
        other => format!("Round to {other} decimal places."),
    }
}

/// Body-mass index: level 1 kg and m, 2 kg and cm, 3 lb and cm, 4 lb and in, 5 adds vitals.
pub fn bmi(rng: &mut ChaCha8Rng, level: u8) -> Case {
    let weight_kg = draw(rng, 40.0, 140.0, 1);
    let height_cm = draw(rng, 145.0, 200.0, 0);
    let extra = distractors_at_level(rng, level);
    let (weight, weight_unit) = stated_weight(weight_kg, level >= 3);
    let (height, height_unit, height_text) = match level {
        1 => (
            height_cm / 100.0,
            "m",
            format!("{:.2} m", height_cm / 100.0),
        ),
        2 | 3 => (height_cm, "cm", format!("{height_cm:.0} cm")),
        _ => {
            let inches = round_to(height_cm / CM_PER_INCH, 1);
            (inches, "in", format!("{inches:.1} in"))
        }
    };
    let kg = kilograms(weight, weight_unit);
    let metres = match height_unit {
        "m" => height,
        "cm" => height / 100.0,
        _ => height * CM_PER_INCH / 100.0,
    };
    let value = kg / (metres * metres);
    let question = format!(
        "A patient weighs {weight:.1} {weight_unit} and is {height_text} tall.{extra} What is the body-mass index in kg/m²? {}",
        rounding(1)
    );
    let mut steps = Vec::new();
    if weight_unit == "lb" {
        steps.push(format!("{weight:.1} lb x 0.4536 = {kg:.2} kg."));
    }
    if height_unit != "m" {
        steps.push(format!("{height_text} = {metres:.3} m."));
    }
    steps.push(format!(
        "BMI = {kg:.2} / {metres:.3}^2 = {} kg/m².",
        fixed(value, 1)
    ));
    let first_reading = if weight_unit == "lb" {
        format!(
            "Using {weight:.1} as kilograms gives {}.",
            fixed(weight / (metres * metres), 1)
        )
    } else {
        format!(
            "Dividing {kg:.1} kg by {metres:.3} m gives {}.",
            fixed(kg / metres, 1)
        )
    };
    Case {
        question,
        answer: fixed(value, 1),
        cot: steps.join(" "),
        first_reading,
        facts: vec![
            ("weight", json!(weight)),
            ("weight_unit", json!(weight_unit)),
            ("height", json!(height)),
            ("height_unit", json!(height_unit)),
        ],
        calculation: format!("bmi_{weight_unit}_{height_unit}"),
    }
}

/// Cockcroft–Gault: level 1 male kg mg/dL, 2 either sex, 3 weight in lb, 4 creatinine in µmol/L, 5 adds vitals.
pub fn creatinine_clearance(rng: &mut ChaCha8Rng, level: u8) -> Case {
    let age: u32 = rng.random_range(20..=90);
    let weight_kg = draw(rng, 45.0, 120.0, 1);
    let creatinine_mg = draw(rng, 0.6, 3.0, 2);
    let female = level >= 2 && rng.random_range(0..2u32) == 1;
    let extra = distractors_at_level(rng, level);
    let (weight, weight_unit) = stated_weight(weight_kg, level >= 3);
    let (creatinine, creatinine_unit) = if level >= 4 {
        (
            round_to(creatinine_mg * CREATININE_UMOL_PER_MG_DL, 0),
            "umol/L",
        )
    } else {
        (creatinine_mg, "mg/dL")
    };
    let kg = kilograms(weight, weight_unit);
    let scr = if creatinine_unit == "umol/L" {
        creatinine / CREATININE_UMOL_PER_MG_DL
    } else {
        creatinine
    };
    let sex_factor = if female { CG_FEMALE_FACTOR } else { 1.0 };
    let value = (140.0 - f64::from(age)) * kg / (72.0 * scr) * sex_factor;
    let sex = if female { "woman" } else { "man" };
    let creatinine_text = if creatinine_unit == "umol/L" {
        format!("{creatinine:.0} µmol/L")
    } else {
        format!("{creatinine:.2} mg/dL")
    };
    let question = format!(
        "A {age}-year-old {sex} weighs {weight:.1} {weight_unit}; serum creatinine is {creatinine_text}.{extra} Estimate creatinine clearance with the Cockcroft-Gault equation, in mL/min. {}",
        rounding(1)
    );
    let mut steps = Vec::new();
    if weight_unit == "lb" {
        steps.push(format!("{weight:.1} lb = {kg:.2} kg."));
    }
    if creatinine_unit == "umol/L" {
        steps.push(format!("{creatinine:.0} / 88.4 = {scr:.3} mg/dL."));
    }
    let female_step = if female { " x 0.85" } else { "" };
    steps.push(format!(
        "CrCl = (140 - {age}) x {kg:.2} / (72 x {scr:.3}){female_step} = {} mL/min.",
        fixed(value, 1)
    ));
    let first_reading = if female {
        format!(
            "Without the female factor I get {} mL/min.",
            fixed(value / sex_factor, 1)
        )
    } else if weight_unit == "lb" {
        format!(
            "Using {weight:.1} as kilograms gives {} mL/min.",
            fixed((140.0 - f64::from(age)) * weight / (72.0 * scr), 1)
        )
    } else {
        format!(
            "Using 140 + age gives {} mL/min.",
            fixed((140.0 + f64::from(age)) * kg / (72.0 * scr), 1)
        )
    };
    Case {
        question,
        answer: fixed(value, 1),
        cot: steps.join(" "),
        first_reading,
        facts: vec![
            ("age", json!(age)),
            ("female", json!(female)),
            ("weight", json!(weight)),
            ("weight_unit", json!(weight_unit)),
            ("creatinine", json!(creatinine)),
            ("creatinine_unit", json!(creatinine_unit)),
        ],
        calculation: format!("cockcroft_gault_{weight_unit}_{creatinine_unit}"),
    }
}

/// Weight-based dosing: 1 single dose (kg), 2 weight in lb, 3 daily dose split, 4 with a daily cap, 5 suspension volume.
pub fn weight_based_dose(rng: &mut ChaCha8Rng, level: u8) -> Case {
    let per_kg = pick(rng, &[5.0, 7.5, 10.0, 12.5, 15.0, 20.0], 10.0);
    let weight_kg = draw(rng, 4.0, 80.0, 1);
    let doses: u32 = rng.random_range(2..=4);
    let cap_factor = pick(rng, &[0.7, 1.3], 1.3);
    let concentration = pick(rng, &[20.0, 25.0, 40.0, 50.0, 100.0], 50.0);
    let extra = distractors_at_level(rng, level);
    let (weight, weight_unit) = stated_weight(weight_kg, level == 2 || level >= 4);
    let kg = kilograms(weight, weight_unit);
    let total = per_kg * kg;
    let convert = if weight_unit == "lb" {
        format!("{weight:.1} lb = {kg:.2} kg. ")
    } else {
        String::new()
    };
    let patient = format!("A child weighs {weight:.1} {weight_unit}.{extra}");
    let (question, value, cot, first, calculation, cap) = match level {
        1 | 2 => (
            format!("{patient} The order is {per_kg} mg/kg as a single dose. How many mg is the dose? {}", rounding(1)),
            total,
            format!("{convert}{per_kg} mg/kg x {kg:.2} kg = {} mg.", fixed(total, 1)),
            if weight_unit == "lb" {
                format!("{per_kg} x {weight:.1} = {} mg, using the weight in pounds.", fixed(per_kg * weight, 1))
            } else {
                format!("Reading the order as {} mg/kg gives {} mg.", per_kg * 10.0, fixed(total * 10.0, 1))
            },
            "single_dose",
            None,
        ),
        3 | 4 => {
            let cap = (level == 4).then(|| round_to(total * cap_factor / 10.0, 0) * 10.0);
            let daily = cap.map_or(total, |limit| total.min(limit));
            let per_dose = daily / f64::from(doses);
            let cap_text = cap.map_or(String::new(), |limit| format!(" Do not exceed {limit:.0} mg per day."));
            let cap_step = cap.map_or(String::new(), |limit| {
                format!(" The cap is {limit:.0} mg/day, so the daily dose is {daily:.2} mg.")
            });
            (
                format!("{patient} The order is {per_kg} mg/kg/day divided into {doses} equal doses.{cap_text} How many mg is each dose? {}", rounding(1)),
                per_dose,
                format!("{convert}{per_kg} x {kg:.2} = {total:.2} mg/day.{cap_step} {daily:.2} / {doses} = {} mg per dose.", fixed(per_dose, 1)),
                if cap.is_some() && daily < total {
                    format!("Ignoring the daily cap gives {} mg per dose.", fixed(total / f64::from(doses), 1))
                } else {
                    format!("The whole daily amount is {} mg.", fixed(total, 1))
                },
                "divided_dose",
                cap,
            )
        }
        _ => {
            let volume = total / concentration;
            (
                format!("{patient} The order is {per_kg} mg/kg as a single dose of a suspension containing {concentration:.0} mg/mL. How many mL should be given? {}", rounding(1)),
                volume,
                format!("{convert}{per_kg} x {kg:.2} = {total:.2} mg. {total:.2} / {concentration:.0} = {} mL.", fixed(volume, 1)),
                format!("The dose is {} mg, so I would answer {}.", fixed(total, 1), fixed(total, 1)),
                "suspension_volume",
                None,
            )
        }
    };
    Case {
        question,
        answer: fixed(value, 1),
        cot,
        first_reading: first,
        facts: vec![
            ("mg_per_kg", json!(per_kg)),
            ("weight", json!(weight)),
            ("weight_unit", json!(weight_unit)),
            ("doses_per_day", json!(doses)),
            ("daily_cap_mg", json!(cap)),
            ("concentration_mg_per_ml", json!(concentration)),
        ],
        calculation: calculation.to_string(),
    }
}

/// Infusions: 1 mL/h over hours, 2 over minutes, 3 drops/min, 4 mg/h to mL/h, 5 mcg/kg/min to mL/h.
pub fn infusion_rate(rng: &mut ChaCha8Rng, level: u8) -> Case {
    let volume = pick(rng, &[100.0, 250.0, 500.0, 1000.0], 500.0);
    let hours: u32 = rng.random_range(2..=12);
    let minutes: u32 = 15 * rng.random_range(2..=16u32);
    let drop_factor = pick(rng, &[10.0, 15.0, 20.0, 60.0], 20.0);
    let drug_mg = pick(rng, &[50.0, 100.0, 200.0, 400.0, 800.0], 200.0);
    let dose_mg_h = draw(rng, 1.0, 40.0, 1);
    let dose_mcg_kg_min = draw(rng, 1.0, 20.0, 1);
    let weight = draw(rng, 40.0, 120.0, 1);
    let extra = distractors_at_level(rng, level);
    let concentration = drug_mg / volume;
    let (question, value, decimals, cot, first, calculation) = match level {
        1 => {
            let rate = volume / f64::from(hours);
            (
                format!(
                    "Infuse {volume:.0} mL over {hours} hours. What is the rate in mL/h? {}",
                    rounding(1)
                ),
                rate,
                1,
                format!("{volume:.0} mL / {hours} h = {} mL/h.", fixed(rate, 1)),
                format!(
                    "Per minute that is {} mL, so {}.",
                    fixed(rate / 60.0, 1),
                    fixed(rate / 60.0, 1)
                ),
                "ml_per_hour",
            )
        }
        2 => {
            let rate = volume / (f64::from(minutes) / 60.0);
            (
                format!(
                    "Infuse {volume:.0} mL over {minutes} minutes. What is the rate in mL/h? {}",
                    rounding(1)
                ),
                rate,
                1,
                format!(
                    "{minutes} min = {:.3} h. {volume:.0} / {:.3} = {} mL/h.",
                    f64::from(minutes) / 60.0,
                    f64::from(minutes) / 60.0,
                    fixed(rate, 1)
                ),
                format!(
                    "{volume:.0} / {minutes} = {}.",
                    fixed(volume / f64::from(minutes), 1)
                ),
                "ml_per_hour_from_minutes",
            )
        }
        3 => {
            let rate = volume * drop_factor / (f64::from(hours) * 60.0);
            (
                format!("Infuse {volume:.0} mL over {hours} hours with a giving set of {drop_factor:.0} drops/mL. How many drops per minute? {}", rounding(0)),
                rate, 0,
                format!("{volume:.0} x {drop_factor:.0} / ({hours} x 60) = {} drops/min.", fixed(rate, 0)),
                format!("Without the drop factor, {volume:.0} / {} = {}.", hours * 60, fixed(volume / (f64::from(hours) * 60.0), 0)),
                "drops_per_minute",
            )
        }
        4 => {
            let rate = dose_mg_h / concentration;
            (
                format!("A bag holds {drug_mg:.0} mg of drug in {volume:.0} mL. The order is {dose_mg_h:.1} mg/h. What pump rate in mL/h? {}", rounding(1)),
                rate, 1,
                format!("Concentration {drug_mg:.0} / {volume:.0} = {concentration:.4} mg/mL. {dose_mg_h:.1} / {concentration:.4} = {} mL/h.", fixed(rate, 1)),
                format!("Multiplying {dose_mg_h:.1} by {concentration:.4} gives {}.", fixed(dose_mg_h * concentration, 1)),
                "dose_rate_to_ml_per_hour",
            )
        }
        _ => {
            let mg_per_hour = dose_mcg_kg_min * weight * 60.0 / 1000.0;
            let rate = mg_per_hour / concentration;
            (
                format!("A {weight:.1} kg patient is ordered {dose_mcg_kg_min:.1} mcg/kg/min. The bag holds {drug_mg:.0} mg in {volume:.0} mL.{extra} What pump rate in mL/h? {}", rounding(1)),
                rate, 1,
                format!("{dose_mcg_kg_min:.1} x {weight:.1} x 60 / 1000 = {mg_per_hour:.4} mg/h. Concentration {concentration:.4} mg/mL. {mg_per_hour:.4} / {concentration:.4} = {} mL/h.", fixed(rate, 1)),
                format!("Forgetting the 60 minutes per hour gives {}.", fixed(rate / 60.0, 1)),
                "weight_dose_rate_to_ml_per_hour",
            )
        }
    };
    Case {
        question,
        answer: fixed(value, decimals),
        cot,
        first_reading: first,
        facts: vec![
            ("volume_ml", json!(volume)),
            ("hours", json!(hours)),
            ("minutes", json!(minutes)),
            ("drop_factor", json!(drop_factor)),
            ("drug_mg", json!(drug_mg)),
            ("dose_mg_per_h", json!(dose_mg_h)),
            ("dose_mcg_per_kg_min", json!(dose_mcg_kg_min)),
            ("weight_kg", json!(weight)),
            ("decimals", json!(decimals)),
        ],
        calculation: calculation.to_string(),
    }
}
