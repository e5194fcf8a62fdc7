//! AdamW update rules behind one trait: candle-nn's composed AdamW for any device and dtype, and a
//! fused CPU f32 update that reads each parameter, gradient and moment once and writes in place.
//!
//! Both apply the same formula in the same f32 operation order (candle-nn's), so they agree to the
//! last bit on CPU f32 variables; the fused one skips the dozen `(params)`-sized temporaries the
//! composed form allocates per variable per step.

use std::sync::Mutex;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Storage, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer as _, ParamsAdamW};

use crate::TrainError;

/// One AdamW update rule over a fixed list of variables.
pub trait AdamWRule: std::fmt::Debug + Send {
    /// Applies one update with learning rate `params.lr`, after scaling every gradient by `grad_scale`.
    fn step(
        &mut self,
        vars: &[(String, Var)],
        grads: &mut GradStore,
        params: &ParamsAdamW,
        grad_scale: f64,
    ) -> Result<(), TrainError>;
}

/// candle-nn's AdamW (any device, any float dtype); gradient scaling replaces the stored gradients.
#[derive(Debug)]
pub struct ComposedAdamW {
    inner: AdamW,
}

impl ComposedAdamW {
    /// Moments for `vars`.
    pub fn new(vars: &[(String, Var)], params: ParamsAdamW) -> Result<Self, TrainError> {
        let inner = AdamW::new(vars.iter().map(|(_, var)| var.clone()).collect(), params)?;
        Ok(Self { inner })
    }
}

impl AdamWRule for ComposedAdamW {
    fn step(
        &mut self,
        vars: &[(String, Var)],
        grads: &mut GradStore,
        params: &ParamsAdamW,
        grad_scale: f64,
    ) -> Result<(), TrainError> {
        self.inner.set_learning_rate(params.lr);
        if grad_scale != 1.0 {
            crate::optim::scale_grads(grads, vars, grad_scale)?;
        }
        self.inner.step(grads)?;
        Ok(())
    }
}

/// First and second moments of one variable.
#[derive(Debug)]
struct Moments {
    first: Vec<f32>,
    second: Vec<f32>,
}

/// Fused AdamW for CPU f32 variables: moments live in host vectors, parameters update in place.
#[derive(Debug)]
pub struct FusedCpuAdamW {
    moments: Vec<Mutex<Moments>>,
    steps: i32,
}

impl FusedCpuAdamW {
    /// Moments for `vars`; `None` unless every variable is an f32 tensor on the CPU.
    pub fn new(vars: &[(String, Var)]) -> Option<Self> {
        if !vars
            .iter()
            .all(|(_, var)| var.device().is_cpu() && var.dtype() == DType::F32)
        {
            return None;
        }
        let moments = vars
            .iter()
            .map(|(_, var)| {
                let n = var.elem_count();
                Mutex::new(Moments {
                    first: vec![0.0; n],
                    second: vec![0.0; n],
                })
            })
            .collect();
        Some(Self { moments, steps: 0 })
    }
}

/// Constants of one step, all rounded to f32 exactly as candle's affine ops round them.
struct StepConstants {
    grad_scale: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    scale_m: f32,
    scale_v: f32,
    decay: f32,
    eps: f32,
    lr: f32,
    scaled: bool,
}

/// The in-place update of one variable.
struct FusedUpdate<'a> {
    constants: &'a StepConstants,
    moments: &'a Mutex<Moments>,
}

impl InplaceOp2 for FusedUpdate<'_> {
    fn name(&self) -> &'static str {
        "fused-adamw"
    }

    fn cpu_fwd(
        &self,
        param: &mut CpuStorage,
        param_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> candle_core::Result<()> {
        let (Some((p0, p1)), Some((g0, g1))) = (
            param_layout.contiguous_offsets(),
            grad_layout.contiguous_offsets(),
        ) else {
            candle_core::bail!("fused AdamW needs contiguous parameters and gradients");
        };
        let grad = &grad.as_slice::<f32>()?[g0..g1];
        let param = match param {
            CpuStorage::F32(values) => &mut values[p0..p1],
            _ => candle_core::bail!("fused AdamW needs f32 parameters"),
        };
        let mut guard = self
            .moments
            .lock()
            .map_err(|_| candle_core::Error::Msg("AdamW moments lock poisoned".into()))?;
        let Moments { first, second } = &mut *guard;
        if grad.len() != param.len() || first.len() != param.len() {
            candle_core::bail!(
                "fused AdamW: {} parameters, {} gradients, {} moments",
                param.len(),
                grad.len(),
                first.len()
            );
        }
        let c = self.constants;
        for (((theta, &g), m), v) in param
            .iter_mut()
            .zip(grad)
            .zip(first.iter_mut())
            .zip(second.iter_mut())
        {
            let g = if c.scaled { g * c.grad_scale } else { g };
            let next_m = *m * c.beta1 + g * c.one_minus_beta1;
            let next_v = *v * c.beta2 + (g * g) * c.one_minus_beta2;
            let m_hat = next_m * c.scale_m;
            let v_hat = next_v * c.scale_v;
            let adjusted = m_hat / (v_hat.sqrt() + c.eps);
            *theta = *theta * c.decay - adjusted * c.lr;
            *m = next_m;
            *v = next_v;
        }
        Ok(())
    }
}

impl AdamWRule for FusedCpuAdamW {
    fn step(
        &mut self,
        vars: &[(String, Var)],
        grads: &mut GradStore,
        params: &ParamsAdamW,
        grad_scale: f64,
    ) -> Result<(), TrainError> {
        self.steps += 1;
        let constants = StepConstants {
            grad_scale: grad_scale as f32,
            beta1: params.beta1 as f32,
            one_minus_beta1: (1.0 - params.beta1) as f32,
            beta2: params.beta2 as f32,
            one_minus_beta2: (1.0 - params.beta2) as f32,
            scale_m: (1.0 / (1.0 - params.beta1.powi(self.steps))) as f32,
            scale_v: (1.0 / (1.0 - params.beta2.powi(self.steps))) as f32,
            decay: (1.0 - params.lr * params.weight_decay) as f32,
            eps: params.eps as f32,
            lr: params.lr as f32,
            scaled: grad_scale != 1.0,
        };
        for ((_, var), moments) in vars.iter().zip(&self.moments) {
            if let Some(grad) = grads.get(var.as_tensor()) {
                let grad = grad.contiguous()?;
                let update = FusedUpdate {
                    constants: &constants,
                    moments,
                };
                var.as_tensor().inplace_op2(&grad, &update)?;
            }
        }
        Ok(())
    }
}

/// Sum of squares of a tensor's values in f64, without temporaries for CPU f32 tensors.
pub fn squared_sum(tensor: &Tensor) -> Result<f64, TrainError> {
    if tensor.device().is_cpu() && tensor.dtype() == DType::F32 {
        let tensor = tensor.contiguous()?;
        let (storage, layout) = tensor.storage_and_layout();
        if let (Storage::Cpu(storage), Some((start, end))) =
            (&*storage, layout.contiguous_offsets())
        {
            let values = &storage.as_slice::<f32>()?[start..end];
            let mut lanes = [0f64; 4];
            let chunks = values.chunks_exact(4);
            let tail: f64 = chunks
                .remainder()
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum();
            for chunk in chunks {
                for (lane, &x) in lanes.iter_mut().zip(chunk) {
                    *lane += f64::from(x) * f64::from(x);
                }
            }
            return Ok(lanes.iter().sum::<f64>() + tail);
        }
    }
    Ok(tensor
        .to_dtype(DType::F64)?
        .sqr()?
        .sum_all()?
        .to_scalar::<f64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn vars(seed: u32) -> Vec<(String, Var)> {
        let values = |n: usize, k: u32| -> Vec<f32> {
            (0..n as u32)
                .map(|i| ((i.wrapping_mul(2_654_435_761) ^ (k + seed)) % 1000) as f32 / 500.0 - 1.0)
                .collect()
        };
        vec![
            (
                "a".into(),
                Var::from_vec(values(37, 1), (37,), &Device::Cpu).expect("a"),
            ),
            (
                "b".into(),
                Var::from_vec(values(6 * 5, 2), (6, 5), &Device::Cpu).expect("b"),
            ),
        ]
    }

    #[test]
    fn fused_and_composed_rules_agree_bitwise() {
        let fused_vars = vars(3);
        let composed_vars = vars(3);
        let mut fused = FusedCpuAdamW::new(&fused_vars).expect("cpu f32");
        let params = ParamsAdamW {
            lr: 3e-3,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
        };
        let mut composed = ComposedAdamW::new(&composed_vars, params.clone()).expect("composed");
        for step in 0..5u32 {
            let grad_scale = if step % 2 == 0 { 1.0 } else { 0.37 };
            let loss = |vars: &[(String, Var)]| -> Tensor {
                let mut total = Tensor::new(0f32, &Device::Cpu).expect("zero");
                for (_, var) in vars {
                    let term = (var.as_tensor().cos().expect("cos").sum_all().expect("sum")
                        * f64::from(step + 1))
                    .expect("scale");
                    total = (total + term).expect("add");
                }
                total
            };
            let mut fused_grads = loss(&fused_vars).backward().expect("fused grads");
            let mut composed_grads = loss(&composed_vars).backward().expect("composed grads");
            fused
                .step(&fused_vars, &mut fused_grads, &params, grad_scale)
                .expect("fused");
            composed
                .step(&composed_vars, &mut composed_grads, &params, grad_scale)
                .expect("composed");
            for ((_, f), (_, c)) in fused_vars.iter().zip(&composed_vars) {
                let a: Vec<f32> = f
                    .as_tensor()
                    .flatten_all()
                    .expect("f")
                    .to_vec1()
                    .expect("v");
                let b: Vec<f32> = c
                    .as_tensor()
                    .flatten_all()
                    .expect("c")
                    .to_vec1()
                    .expect("v");
                assert_eq!(a, b, "step {step}");
            }
        }
    }

    #[test]
    fn fused_rule_refuses_non_f32_variables() {
        let var = Var::zeros(3, DType::F64, &Device::Cpu).expect("var");
        assert!(FusedCpuAdamW::new(&[("x".into(), var)]).is_none());
    }

    #[test]
    fn squared_sum_matches_composed() {
        let tensor = Tensor::arange(0f32, 1001.0, &Device::Cpu).expect("t");
        let expected: f64 = (0..1001).map(|i| (i * i) as f64).sum();
        assert_eq!(squared_sum(&tensor).expect("sum"), expected);
        let strided = tensor
            .narrow(0, 0, 1000)
            .expect("n")
            .reshape((10, 100))
            .expect("r")
            .t()
            .expect("t");
        let expected: f64 = (0..1000).map(|i| (i * i) as f64).sum();
        assert_eq!(squared_sum(&strided).expect("sum"), expected);
    }
}
