//! Where weights come from while a model is built: seeded random init, a loaded checkpoint, or a
//! built model's own variables (to rebuild it with some of them frozen).

use std::collections::{BTreeMap, BTreeSet};

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{PolicyError, Result};

/// How a fresh tensor is initialised.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// Uniform in ±sqrt(3)·std (same variance as a normal with that std).
    Uniform {
        /// Standard deviation of the distribution.
        std: f64,
    },
    /// Every element equal to this value.
    Constant(f64),
}

enum Source {
    Random {
        rng: Box<ChaCha8Rng>,
    },
    Loaded {
        tensors: BTreeMap<String, Tensor>,
    },
    /// A built model's own variables, handed out detached where `frozen` holds the name.
    Existing {
        vars: BTreeMap<String, Var>,
        frozen: BTreeSet<String>,
    },
    /// A built model's variables for a frozen copy: those named in `shared` keep their storage,
    /// the others are copied.
    Snapshot {
        vars: BTreeMap<String, Var>,
        shared: BTreeSet<String>,
    },
}

/// Hands out named parameters while modules are built and records them as `Var`s.
pub struct ParamBuilder {
    source: Source,
    device: Device,
    dtype: DType,
    vars: BTreeMap<String, Var>,
    problems: Vec<String>,
    origin: String,
}

impl ParamBuilder {
    /// Parameters drawn from a seeded generator.
    pub fn random(seed: u64, dtype: DType, device: &Device) -> Self {
        Self {
            source: Source::Random {
                rng: Box::new(ChaCha8Rng::seed_from_u64(seed)),
            },
            device: device.clone(),
            dtype,
            vars: BTreeMap::new(),
            problems: Vec::new(),
            origin: format!("random(seed={seed})"),
        }
    }

    /// Parameters taken from loaded tensors; `origin` names the checkpoint in errors.
    pub fn loaded(
        tensors: BTreeMap<String, Tensor>,
        origin: &str,
        dtype: DType,
        device: &Device,
    ) -> Self {
        Self {
            source: Source::Loaded { tensors },
            device: device.clone(),
            dtype,
            vars: BTreeMap::new(),
            problems: Vec::new(),
            origin: origin.to_string(),
        }
    }

    /// A built model's variables again, the same storage: names in `frozen` come back detached
    /// (no gradient flows to them), the others as the variables themselves.
    pub fn existing(
        vars: BTreeMap<String, Var>,
        frozen: BTreeSet<String>,
        origin: &str,
        dtype: DType,
        device: &Device,
    ) -> Self {
        Self {
            source: Source::Existing { vars, frozen },
            device: device.clone(),
            dtype,
            vars: BTreeMap::new(),
            problems: Vec::new(),
            origin: origin.to_string(),
        }
    }

    /// A built model's variables for a copy that reads every parameter detached: names in
    /// `shared` keep the variables' storage, the others get storage of their own.
    pub fn snapshot(
        vars: BTreeMap<String, Var>,
        shared: BTreeSet<String>,
        origin: &str,
        dtype: DType,
        device: &Device,
    ) -> Self {
        Self {
            source: Source::Snapshot { vars, shared },
            device: device.clone(),
            dtype,
            vars: BTreeMap::new(),
            problems: Vec::new(),
            origin: origin.to_string(),
        }
    }

    /// Fetch (or create) the parameter `name` with `shape`.
    pub fn get(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Tensor> {
        let tensor = match &mut self.source {
            Source::Random { rng } => {
                let count: usize = shape.iter().product();
                let values: Vec<f32> = match init {
                    Init::Uniform { std } => {
                        let bound = (3.0f64).sqrt() * std;
                        (0..count)
                            .map(|_| rng.random_range(-bound..=bound) as f32)
                            .collect()
                    }
                    Init::Constant(v) => vec![v as f32; count],
                };
                Tensor::from_vec(values, shape, &self.device)?.to_dtype(self.dtype)?
            }
            Source::Existing { vars, frozen } => {
                let found = vars.remove(name);
                let frozen = frozen.contains(name);
                return self.existing_handle(name, shape, found, frozen);
            }
            Source::Snapshot { vars, shared } => {
                let found = vars.remove(name);
                let share = shared.contains(name);
                let handle = self.existing_handle(name, shape, found, true)?;
                if share {
                    return Ok(handle);
                }
                // Copied below into a variable of its own, replacing the shared one.
                handle
            }
            Source::Loaded { tensors } => match tensors.remove(name) {
                Some(t) if t.dims() == shape => t.to_dtype(self.dtype)?.to_device(&self.device)?,
                Some(t) => {
                    self.problems
                        .push(format!("{name}: shape {:?}, expected {shape:?}", t.dims()));
                    Tensor::zeros(shape, self.dtype, &self.device)?
                }
                None => {
                    self.problems.push(format!("{name}: missing"));
                    Tensor::zeros(shape, self.dtype, &self.device)?
                }
            },
        };
        let var = Var::from_tensor(&tensor)?;
        let handle = var.as_tensor().clone();
        self.vars.insert(name.to_string(), var);
        Ok(handle)
    }

    /// The handle of an existing variable (detached when frozen); a zero tensor and a recorded
    /// problem when it is missing or differs in shape, dtype or device.
    fn existing_handle(
        &mut self,
        name: &str,
        shape: &[usize],
        found: Option<Var>,
        frozen: bool,
    ) -> Result<Tensor> {
        let problem = match &found {
            None => Some(format!("{name}: missing")),
            Some(var) if var.dims() != shape => Some(format!(
                "{name}: shape {:?}, expected {shape:?}",
                var.dims()
            )),
            Some(var) if var.dtype() != self.dtype || !var.device().same_device(&self.device) => {
                Some(format!(
                    "{name}: {:?} on {:?}, expected {:?} on {:?}",
                    var.dtype(),
                    var.device().location(),
                    self.dtype,
                    self.device.location()
                ))
            }
            Some(_) => None,
        };
        match (found, problem) {
            (Some(var), None) => {
                let handle = if frozen {
                    var.as_tensor().detach()
                } else {
                    var.as_tensor().clone()
                };
                self.vars.insert(name.to_string(), var);
                Ok(handle)
            }
            (_, problem) => {
                self.problems.extend(problem);
                Ok(Tensor::zeros(shape, self.dtype, &self.device)?)
            }
        }
    }

    /// Finish: every loaded tensor must have been used and every requested one found.
    pub fn finish(self) -> Result<BTreeMap<String, Var>> {
        let mut problems = self.problems;
        let left: Vec<&String> = match &self.source {
            Source::Loaded { tensors } => tensors.keys().collect(),
            Source::Existing { vars, .. } | Source::Snapshot { vars, .. } => vars.keys().collect(),
            Source::Random { .. } => Vec::new(),
        };
        problems.extend(left.iter().map(|n| format!("{n}: unexpected")));
        if problems.is_empty() {
            Ok(self.vars)
        } else {
            Err(PolicyError::TensorMismatch {
                path: self.origin,
                problems: problems.join("\n"),
            })
        }
    }
}

/// The parameters whose name passes `keep`, as (name, variable) pairs sorted by name.
pub(crate) fn select_vars(
    vars: &BTreeMap<String, Var>,
    keep: impl Fn(&str) -> bool,
) -> Vec<(String, Var)> {
    vars.iter()
        .filter(|(name, _)| keep(name))
        .map(|(name, var)| (name.clone(), var.clone()))
        .collect()
}

/// Number of scalars held by `vars`.
pub(crate) fn scalar_count(vars: &BTreeMap<String, Var>) -> usize {
    vars.values().map(|var| var.elem_count()).sum()
}
