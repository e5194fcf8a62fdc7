//! Gradient clipping, AdamW and the learning-rate schedule.

use std::f64::consts::PI;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use candle_nn::optim::ParamsAdamW;

use crate::adamw::{squared_sum, AdamWRule, ComposedAdamW, FusedCpuAdamW};

use crate::TrainError;

fn invalid(what: impl Into<String>, reason: impl Into<String>) -> TrainError {
    TrainError::InvalidArgument {
        what: what.into(),
        reason: reason.into(),
    }
}

/// Looks up the gradient of every var, failing with the names of those that have none.
fn collect_grads<'a>(
    grads: &'a GradStore,
    vars: &[(String, Var)],
) -> Result<Vec<&'a Tensor>, TrainError> {
    let mut found = Vec::with_capacity(vars.len());
    let mut missing = Vec::new();
    for (name, var) in vars {
        match grads.get(var.as_tensor()) {
            Some(grad) => found.push(grad),
            None => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(TrainError::MissingGradient { names: missing });
    }
    Ok(found)
}

/// Global L2 norm of the gradients of `vars` (sorted by name by the caller); vars without a gradient are an error that names them.
pub fn grad_norm(grads: &GradStore, vars: &[(String, Var)]) -> Result<f64, TrainError> {
    let mut squared_total = 0.0f64;
    for grad in collect_grads(grads, vars)? {
        squared_total += squared_sum(grad)?;
    }
    Ok(squared_total.sqrt())
}

/// Scale all gradients in place so the global norm is at most max_norm; returns the norm before clipping.
///
/// `max_norm` may be `f64::INFINITY` to disable clipping; a non-finite gradient
/// norm is an error because scaling cannot repair it.
pub fn clip_grad_norm(
    grads: &mut GradStore,
    vars: &[(String, Var)],
    max_norm: f64,
) -> Result<f64, TrainError> {
    if max_norm.is_nan() || max_norm <= 0.0 {
        return Err(invalid(
            "max_norm",
            format!("must be positive, got {max_norm}"),
        ));
    }
    let norm = grad_norm(grads, vars)?;
    if !norm.is_finite() {
        return Err(invalid(
            "gradients",
            format!("global gradient norm is not finite ({norm})"),
        ));
    }
    if norm > max_norm {
        scale_grads(grads, vars, max_norm / norm)?;
    }
    Ok(norm)
}

/// Multiplies the gradient of every variable in `vars` by `scale`, in place in `grads`.
pub fn scale_grads(
    grads: &mut GradStore,
    vars: &[(String, Var)],
    scale: f64,
) -> Result<(), TrainError> {
    for (_, var) in vars {
        let tensor = var.as_tensor();
        if let Some(grad) = grads.get(tensor) {
            let scaled = (grad * scale)?.detach();
            grads.insert(tensor, scaled);
        }
    }
    Ok(())
}

/// Settings of [`Optimizer`]: AdamW hyper-parameters, clipping and learning-rate schedule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimizerConfig {
    /// Peak learning rate, reached at the end of warm-up.
    pub lr: f64,
    /// Decoupled weight decay (AdamW).
    pub weight_decay: f64,
    /// Exponential decay of the first moment.
    pub beta1: f64,
    /// Exponential decay of the second moment.
    pub beta2: f64,
    /// Added to the root of the second moment.
    pub eps: f64,
    /// Global gradient-norm ceiling (`f64::INFINITY` disables clipping).
    pub max_grad_norm: f64,
    /// Steps of linear warm-up from lr/warmup_steps to lr.
    pub warmup_steps: usize,
    /// Total number of steps, the end of the cosine decay.
    pub total_steps: usize,
    /// Final learning rate as a fraction of `lr`; 1.0 keeps it constant after warm-up, below 1.0 decays by cosine.
    pub min_lr_ratio: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            max_grad_norm: 1.0,
            warmup_steps: 0,
            total_steps: 1000,
            min_lr_ratio: 1.0,
        }
    }
}

impl OptimizerConfig {
    /// Checks every field, naming the first one that is out of range.
    pub fn validate(&self) -> Result<(), TrainError> {
        let positive = |name: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(invalid(
                    format!("OptimizerConfig.{name}"),
                    format!("must be finite and positive, got {value}"),
                ))
            }
        };
        positive("lr", self.lr)?;
        positive("eps", self.eps)?;
        if self.max_grad_norm.is_nan() || self.max_grad_norm <= 0.0 {
            return Err(invalid(
                "OptimizerConfig.max_grad_norm",
                format!("must be positive, got {}", self.max_grad_norm),
            ));
        }
        if !self.weight_decay.is_finite() || self.weight_decay < 0.0 {
            return Err(invalid(
                "OptimizerConfig.weight_decay",
                format!("must be finite and non-negative, got {}", self.weight_decay),
            ));
        }
        for (name, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(invalid(
                    format!("OptimizerConfig.{name}"),
                    format!("must lie in [0, 1), got {beta}"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return Err(invalid(
                "OptimizerConfig.min_lr_ratio",
                format!("must lie in [0, 1], got {}", self.min_lr_ratio),
            ));
        }
        Ok(())
    }

    /// Learning rate for the step with zero-based index `step`: linear warm-up, then constant or cosine down to `lr * min_lr_ratio`.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        if self.min_lr_ratio >= 1.0 {
            return self.lr;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps);
        let progress = if decay_steps == 0 {
            1.0
        } else {
            ((step - self.warmup_steps) as f64 / decay_steps as f64).min(1.0)
        };
        let min_lr = self.lr * self.min_lr_ratio;
        min_lr + 0.5 * (self.lr - min_lr) * (1.0 + (PI * progress).cos())
    }
}

/// What one optimisation step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Loss value before the update (NaN when the step was given gradients only).
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate used for this update.
    pub lr: f64,
}

/// AdamW over named vars in a fixed (name-sorted) order with a warm-up/cosine learning-rate schedule and global-norm clipping.
#[derive(Debug)]
pub struct Optimizer {
    vars: Vec<(String, Var)>,
    config: OptimizerConfig,
    rule: Box<dyn AdamWRule>,
    params: ParamsAdamW,
    steps_taken: usize,
}

impl Optimizer {
    /// Creates the optimizer; vars are sorted by name, names must be unique and every var must be floating point.
    pub fn new(mut vars: Vec<(String, Var)>, config: OptimizerConfig) -> Result<Self, TrainError> {
        config.validate()?;
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(pair) = vars.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(invalid(
                format!("vars[{}]", pair[0].0),
                "variable name appears more than once",
            ));
        }
        if let Some((name, var)) = vars.iter().find(|(_, var)| !var.dtype().is_float()) {
            return Err(invalid(
                format!("vars[{name}]"),
                format!(
                    "only floating-point variables can be trained, got {:?}",
                    var.dtype()
                ),
            ));
        }
        let params = ParamsAdamW {
            lr: config.lr_at(0),
            beta1: config.beta1,
            beta2: config.beta2,
            eps: config.eps,
            weight_decay: config.weight_decay,
        };
        let rule: Box<dyn AdamWRule> = match FusedCpuAdamW::new(&vars) {
            Some(fused) => Box::new(fused),
            None => Box::new(ComposedAdamW::new(&vars, params.clone())?),
        };
        Ok(Self {
            vars,
            config,
            rule,
            params,
            steps_taken: 0,
        })
    }

    /// Backward + clip + step; returns StepStats { loss, grad_norm, lr }.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<StepStats, TrainError> {
        if loss.rank() != 0 {
            return Err(invalid(
                "loss",
                format!("expected a scalar, got shape {:?}", loss.dims()),
            ));
        }
        let loss_value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        if !loss_value.is_finite() {
            return Err(invalid(
                "loss",
                format!("value is not finite ({loss_value})"),
            ));
        }
        let mut grads = loss.backward()?;
        let stats = self.step_with_grads(&mut grads)?;
        Ok(StepStats {
            loss: loss_value,
            ..stats
        })
    }

    /// Clip + step with externally computed (for example accumulated) gradients; `loss` in the result is NaN.
    pub fn step_with_grads(&mut self, grads: &mut GradStore) -> Result<StepStats, TrainError> {
        let norm = grad_norm(grads, &self.vars)?;
        if !norm.is_finite() {
            return Err(invalid(
                "gradients",
                format!("global gradient norm is not finite ({norm})"),
            ));
        }
        let max_norm = self.config.max_grad_norm;
        let grad_scale = if norm > max_norm {
            max_norm / norm
        } else {
            1.0
        };
        let lr = self.config.lr_at(self.steps_taken);
        self.params.lr = lr;
        self.rule
            .step(&self.vars, grads, &self.params, grad_scale)?;
        self.steps_taken += 1;
        Ok(StepStats {
            loss: f64::NAN,
            grad_norm: norm,
            lr,
        })
    }

    /// Learning rate the next step will use.
    pub fn current_lr(&self) -> f64 {
        self.config.lr_at(self.steps_taken)
    }

    /// Number of updates applied so far.
    pub fn steps_taken(&self) -> usize {
        self.steps_taken
    }

    /// The trained vars in their fixed, name-sorted order.
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// The configuration this optimizer was built with.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }
}
