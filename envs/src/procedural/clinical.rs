//! "clinical": text-only medical calculations with numeric answers (dose by weight, infusion
//! rates, unit conversion, BMI, Cockcroft–Gault creatinine clearance) and reference-range
//! interpretation. Levels add unit conversions, extra steps and irrelevant facts.

use std::sync::Arc;

use medgym_rewards::{AnswerType, Reference};
use rand_chacha::ChaCha8Rng;

use super::clinical_cases::{bmi, creatinine_clearance, infusion_rate, weight_based_dose, Case};
use super::clinical_units::{lab_interpretation, unit_conversion};
use super::{put, Generated, Generator};
use crate::error::EnvError;
use crate::types::Info;

/// Kilograms per pound (exact by definition).
pub const KG_PER_LB: f64 = 0.453_592_37;
/// Centimetres per inch (exact by definition).
pub const CM_PER_INCH: f64 = 2.54;
/// Creatinine: µmol/L per mg/dL.
pub const CREATININE_UMOL_PER_MG_DL: f64 = 88.4;
/// Glucose: mg/dL per mmol/L.
pub const GLUCOSE_MG_DL_PER_MMOL: f64 = 18.0;
/// Cockcroft–Gault factor for female patients.
pub const CG_FEMALE_FACTOR: f64 = 0.85;

/// Which calculation a clinical task asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClinicalQuestion {
    /// Body-mass index from weight and height.
    Bmi,
    /// Cockcroft–Gault creatinine clearance.
    CreatinineClearance,
    /// Dose (or volume) from a weight-based order.
    WeightBasedDose,
    /// Infusion rate in mL/h or drops/min.
    InfusionRate,
    /// Conversion between clinical units.
    UnitConversion,
    /// Low / normal / high against a reference range.
    LabInterpretation,
}

impl ClinicalQuestion {
    /// Every clinical question.
    pub const ALL: [ClinicalQuestion; 6] = [
        ClinicalQuestion::Bmi,
        ClinicalQuestion::CreatinineClearance,
        ClinicalQuestion::WeightBasedDose,
        ClinicalQuestion::InfusionRate,
        ClinicalQuestion::UnitConversion,
        ClinicalQuestion::LabInterpretation,
    ];
}

/// The clinical generators.
pub fn generators() -> Vec<Arc<dyn Generator>> {
    ClinicalQuestion::ALL
        .iter()
        .map(|question| Arc::new(ClinicalGenerator(*question)) as Arc<dyn Generator>)
        .collect()
}

/// Generator of one clinical question.
#[derive(Debug, Clone, Copy)]
pub struct ClinicalGenerator(pub ClinicalQuestion);

impl Generator for ClinicalGenerator {
    fn id(&self) -> &'static str {
        match self.0 {
            ClinicalQuestion::Bmi => "clinical/bmi-v1",
            ClinicalQuestion::CreatinineClearance => "clinical/creatinine-clearance-v1",
            ClinicalQuestion::WeightBasedDose => "clinical/weight-based-dose-v1",
            ClinicalQuestion::InfusionRate => "clinical/infusion-rate-v1",
            ClinicalQuestion::UnitConversion => "clinical/unit-conversion-v1",
            ClinicalQuestion::LabInterpretation => "clinical/lab-interpretation-v1",
        }
    }

    fn answer_type(&self) -> AnswerType {
        match self.0 {
            ClinicalQuestion::LabInterpretation => AnswerType::Closed,
            _ => AnswerType::Numeric,
        }
    }

    fn description(&self) -> &'static str {
        match self.0 {
            ClinicalQuestion::Bmi => {
                "Text only; body-mass index from weight and height (units vary by level)."
            }
            ClinicalQuestion::CreatinineClearance => {
                "Text only; Cockcroft-Gault creatinine clearance in mL/min."
            }
            ClinicalQuestion::WeightBasedDose => {
                "Text only; weight-based dose, divided doses, caps and suspension volumes."
            }
            ClinicalQuestion::InfusionRate => "Text only; infusion rates in mL/h or drops/min.",
            ClinicalQuestion::UnitConversion => {
                "Text only; clinical unit conversions (mass, weight, temperature, lab units)."
            }
            ClinicalQuestion::LabInterpretation => {
                "Text only; is a lab value low, normal or high for its reference range?"
            }
        }
    }

    fn chance(&self) -> f64 {
        match self.0 {
            ClinicalQuestion::LabInterpretation => 1.0 / 3.0,
            _ => 0.0,
        }
    }

    fn generate(&self, rng: &mut ChaCha8Rng, level: u8) -> Result<Generated, EnvError> {
        let case: Case = match self.0 {
            ClinicalQuestion::Bmi => bmi(rng, level),
            ClinicalQuestion::CreatinineClearance => creatinine_clearance(rng, level),
            ClinicalQuestion::WeightBasedDose => weight_based_dose(rng, level),
            ClinicalQuestion::InfusionRate => infusion_rate(rng, level),
            ClinicalQuestion::UnitConversion => unit_conversion(rng, level),
            ClinicalQuestion::LabInterpretation => lab_interpretation(rng, level),
        };
        let mut meta = Info::new();
        for (key, value) in &case.facts {
            put(&mut meta, key, value)?;
        }
        put(&mut meta, "calculation", &case.calculation)?;
        Ok(Generated {
            images: Vec::new(),
            question: case.question,
            reference: Reference::new(&case.answer, self.answer_type())?,
            cot: case.cot,
            first_reading: case.first_reading,
            meta,
        })
    }
}
