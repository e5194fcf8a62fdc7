//! Unit-conversion and reference-range cases.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::clinical::{CREATININE_UMOL_PER_MG_DL, GLUCOSE_MG_DL_PER_MMOL, KG_PER_LB};
use super::clinical_cases::{fixed, round_to, Case};

/// One conversion between two units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// grams to milligrams.
    GramToMilligram,
    /// milligrams to grams.
    MilligramToGram,
    /// pounds to kilograms.
    PoundToKilogram,
    /// kilograms to pounds.
    KilogramToPound,
    /// milligrams to micrograms.
    MilligramToMicrogram,
    /// degrees Fahrenheit to Celsius.
    FahrenheitToCelsius,
    /// degrees Celsius to Fahrenheit.
    CelsiusToFahrenheit,
    /// glucose mg/dL to mmol/L.
    GlucoseMgDlToMmol,
    /// glucose mmol/L to mg/dL.
    GlucoseMmolToMgDl,
    /// creatinine µmol/L to mg/dL.
    CreatinineUmolToMgDl,
    /// creatinine mg/dL to µmol/L.
    CreatinineMgDlToUmol,
}

impl Conversion {
    /// The conversions asked at each level.
    fn of_level(level: u8) -> &'static [Conversion] {
        match level {
            1 => &[Conversion::GramToMilligram, Conversion::MilligramToGram],
            2 => &[
                Conversion::PoundToKilogram,
                Conversion::KilogramToPound,
                Conversion::MilligramToMicrogram,
            ],
            3 => &[
                Conversion::FahrenheitToCelsius,
                Conversion::CelsiusToFahrenheit,
            ],
            4 => &[Conversion::GlucoseMgDlToMmol, Conversion::GlucoseMmolToMgDl],
            _ => &[
                Conversion::CreatinineUmolToMgDl,
                Conversion::CreatinineMgDlToUmol,
            ],
        }
    }

    /// (from unit, to unit, input range low, high, input decimals, answer decimals).
    fn table(self) -> (&'static str, &'static str, f64, f64, u32, u32) {
        match self {
            Conversion::GramToMilligram => ("g", "mg", 0.05, 5.0, 2, 0),
            Conversion::MilligramToGram => ("mg", "g", 50.0, 5000.0, 0, 3),
            Conversion::PoundToKilogram => ("lb", "kg", 5.0, 330.0, 1, 1),
            Conversion::KilogramToPound => ("kg", "lb", 2.0, 150.0, 1, 1),
            Conversion::MilligramToMicrogram => ("mg", "mcg", 0.01, 2.0, 3, 0),
            Conversion::FahrenheitToCelsius => ("°F", "°C", 94.0, 106.0, 1, 1),
            Conversion::CelsiusToFahrenheit => ("°C", "°F", 34.5, 41.0, 1, 1),
            Conversion::GlucoseMgDlToMmol => ("mg/dL glucose", "mmol/L", 40.0, 500.0, 0, 1),
            Conversion::GlucoseMmolToMgDl => ("mmol/L glucose", "mg/dL", 2.0, 28.0, 1, 0),
            Conversion::CreatinineUmolToMgDl => ("µmol/L creatinine", "mg/dL", 40.0, 900.0, 0, 2),
            Conversion::CreatinineMgDlToUmol => ("mg/dL creatinine", "µmol/L", 0.4, 10.0, 2, 0),
        }
    }

    /// The converted value and the formula written out.
    pub fn apply(self, value: f64) -> (f64, String) {
        match self {
            Conversion::GramToMilligram | Conversion::MilligramToMicrogram => {
                (value * 1000.0, "x 1000".into())
            }
            Conversion::MilligramToGram => (value / 1000.0, "/ 1000".into()),
            Conversion::PoundToKilogram => (value * KG_PER_LB, "x 0.45359237".into()),
            Conversion::KilogramToPound => (value / KG_PER_LB, "/ 0.45359237".into()),
            Conversion::FahrenheitToCelsius => {
                ((value - 32.0) * 5.0 / 9.0, "(F - 32) x 5/9".into())
            }
            Conversion::CelsiusToFahrenheit => (value * 9.0 / 5.0 + 32.0, "C x 9/5 + 32".into()),
            Conversion::GlucoseMgDlToMmol => (value / GLUCOSE_MG_DL_PER_MMOL, "/ 18".into()),
            Conversion::GlucoseMmolToMgDl => (value * GLUCOSE_MG_DL_PER_MMOL, "x 18".into()),
            Conversion::CreatinineUmolToMgDl => {
                (value / CREATININE_UMOL_PER_MG_DL, "/ 88.4".into())
            }
            Conversion::CreatinineMgDlToUmol => {
                (value * CREATININE_UMOL_PER_MG_DL, "x 88.4".into())
            }
        }
    }

    /// The answer of the inverse (wrong-direction) operation.
    fn slip(self, value: f64) -> f64 {
        match self {
            Conversion::GramToMilligram | Conversion::MilligramToMicrogram => value / 1000.0,
            Conversion::MilligramToGram => value * 1000.0,
            Conversion::PoundToKilogram => value / KG_PER_LB,
            Conversion::KilogramToPound => value * KG_PER_LB,
            Conversion::FahrenheitToCelsius => value * 5.0 / 9.0 - 32.0,
            Conversion::CelsiusToFahrenheit => value * 9.0 / 5.0,
            Conversion::GlucoseMgDlToMmol => value * GLUCOSE_MG_DL_PER_MMOL,
            Conversion::GlucoseMmolToMgDl => value / GLUCOSE_MG_DL_PER_MMOL,
            Conversion::CreatinineUmolToMgDl => value * CREATININE_UMOL_PER_MG_DL,
            Conversion::CreatinineMgDlToUmol => value / CREATININE_UMOL_PER_MG_DL,
        }
    }

    /// Stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Conversion::GramToMilligram => "g_to_mg",
            Conversion::MilligramToGram => "mg_to_g",
            Conversion::PoundToKilogram => "lb_to_kg",
            Conversion::KilogramToPound => "kg_to_lb",
            Conversion::MilligramToMicrogram => "mg_to_mcg",
            Conversion::FahrenheitToCelsius => "f_to_c",
            Conversion::CelsiusToFahrenheit => "c_to_f",
            Conversion::GlucoseMgDlToMmol => "glucose_mg_dl_to_mmol_l",
            Conversion::GlucoseMmolToMgDl => "glucose_mmol_l_to_mg_dl",
            Conversion::CreatinineUmolToMgDl => "creatinine_umol_l_to_mg_dl",
            Conversion::CreatinineMgDlToUmol => "creatinine_mg_dl_to_umol_l",
        }
    }
}

/// Unit conversion: level 1 g/mg, 2 lb/kg and mg/mcg, 3 temperature, 4 glucose, 5 creatinine.
pub fn unit_conversion(rng: &mut ChaCha8Rng, level: u8) -> Case {
    let choices = Conversion::of_level(level);
    let conversion = choices
        .get(rng.random_range(0..choices.len().max(1)))
        .copied()
        .unwrap_or(Conversion::GramToMilligram);
    let (from, to, low, high, input_decimals, decimals) = conversion.table();
    let value = round_to(rng.random_range(low..=high), input_decimals);
    let (converted, formula) = conversion.apply(value);
    let shown = fixed(value, input_decimals);
    let rule = match decimals {
        0 => "Round to the nearest whole number.".to_string(),
        1 => "Round to one decimal place.".to_string(),
        other => format!("Round to {other} decimal places."),
    };
    Case {
        question: format!("Convert {shown} {from} to {to}. {rule}"),
        answer: fixed(converted, decimals),
        cot: format!(
            "{shown} {from} {formula} = {} {to}.",
            fixed(converted, decimals)
        ),
        first_reading: format!(
            "Applying the conversion the other way gives {}.",
            fixed(conversion.slip(value), decimals)
        ),
        facts: vec![
            ("value", json!(value)),
            ("conversion", json!(conversion.name())),
            ("decimals", json!(decimals)),
        ],
        calculation: conversion.name().to_string(),
    }
}

/// A lab analyte: name, conventional unit, reference range, SI unit and SI per conventional unit.
struct Analyte {
    name: &'static str,
    unit: &'static str,
    low: f64,
    high: f64,
    decimals: u32,
    si_unit: &'static str,
    si_per_unit: f64,
    si_decimals: u32,
}

/// The analytes of the reference-range task.
const ANALYTES: [Analyte; 5] = [
    Analyte {
        name: "Fasting glucose",
        unit: "mg/dL",
        low: 70.0,
        high: 99.0,
        decimals: 0,
        si_unit: "mmol/L",
        si_per_unit: 1.0 / GLUCOSE_MG_DL_PER_MMOL,
        si_decimals: 2,
    },
    Analyte {
        name: "Serum creatinine",
        unit: "mg/dL",
        low: 0.6,
        high: 1.2,
        decimals: 2,
        si_unit: "µmol/L",
        si_per_unit: CREATININE_UMOL_PER_MG_DL,
        si_decimals: 0,
    },
    Analyte {
        name: "Hemoglobin",
        unit: "g/dL",
        low: 12.0,
        high: 16.0,
        decimals: 1,
        si_unit: "g/L",
        si_per_unit: 10.0,
        si_decimals: 0,
    },
    Analyte {
        name: "Total calcium",
        unit: "mg/dL",
        low: 8.5,
        high: 10.5,
        decimals: 1,
        si_unit: "mmol/L",
        si_per_unit: 0.2495,
        si_decimals: 2,
    },
    Analyte {
        name: "Serum potassium",
        unit: "mmol/L",
        low: 3.5,
        high: 5.1,
        decimals: 1,
        si_unit: "mEq/L",
        si_per_unit: 1.0,
        si_decimals: 1,
    },
];

/// How far outside (fraction of the range width) an abnormal value lies, per level.
const OUTSIDE_MARGIN: [(f64, f64); 5] = [
    (0.4, 0.8),
    (0.2, 0.4),
    (0.08, 0.2),
    (0.04, 0.1),
    (0.02, 0.06),
];

/// Low / normal / high: levels shrink the margin to the range edge; 4–5 state the value in the
/// other unit system; 5 adds vitals.
pub fn lab_interpretation(rng: &mut ChaCha8Rng, level: u8) -> Case {
    let analyte = ANALYTES
        .get(rng.random_range(0..ANALYTES.len()))
        .unwrap_or(&ANALYTES[0]);
    let width = analyte.high - analyte.low;
    let (margin_low, margin_high) = OUTSIDE_MARGIN
        .get(usize::from(level.clamp(1, 5) - 1))
        .copied()
        .unwrap_or((0.1, 0.2));
    let class: u32 = rng.random_range(0..3);
    let margin = rng.random_range(margin_low..=margin_high) * width;
    let drawn = match class {
        0 => analyte.low - margin,
        2 => analyte.high + margin,
        _ => analyte.low + width * rng.random_range(0.1..=0.9),
    };
    let in_si = level >= 4;
    let (stated, stated_unit, decimals) = if in_si {
        (
            round_to(drawn * analyte.si_per_unit, analyte.si_decimals),
            analyte.si_unit,
            analyte.si_decimals,
        )
    } else {
        (
            round_to(drawn.max(0.0), analyte.decimals),
            analyte.unit,
            analyte.decimals,
        )
    };
    let extra = if level >= 5 {
        format!(" Heart rate {}/min.", rng.random_range(55..=110u32))
    } else {
        String::new()
    };
    let conventional = if in_si {
        stated / analyte.si_per_unit
    } else {
        stated
    };
    let answer = if conventional < analyte.low {
        "low"
    } else if conventional > analyte.high {
        "high"
    } else {
        "normal"
    };
    let range = format!(
        "{}-{} {}",
        fixed(analyte.low, analyte.decimals),
        fixed(analyte.high, analyte.decimals),
        analyte.unit
    );
    let shown = fixed(stated, decimals);
    let convert_step = if in_si {
        format!(
            "{shown} {stated_unit} / {} = {conventional:.3} {}. ",
            analyte.si_per_unit, analyte.unit
        )
    } else {
        String::new()
    };
    let wrong = if answer == "normal" { "high" } else { "normal" };
    Case {
        question: format!(
            "{} is {shown} {stated_unit} (reference range {range}).{extra} Is it low, normal or high?",
            analyte.name
        ),
        answer: answer.to_string(),
        cot: format!("{convert_step}Compared with {range}, the value is {answer}."),
        first_reading: format!("At a glance the value looks {wrong}."),
        facts: vec![
            ("analyte", json!(analyte.name)),
            ("value", json!(stated)),
            ("unit", json!(stated_unit)),
            ("range_low", json!(analyte.low)),
            ("range_high", json!(analyte.high)),
            ("range_unit", json!(analyte.unit)),
            ("unit_per_range_unit", json!(if in_si { analyte.si_per_unit } else { 1.0 })),
        ],
        calculation: if in_si { "reference_range_si".into() } else { "reference_range".into() },
    }
}
