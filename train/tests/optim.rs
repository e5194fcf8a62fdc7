//! Tests of gradient norms, clipping, the learning-rate schedule and AdamW.

use candle_core::{Device, Tensor, Var};
use medgym_train::optim::{clip_grad_norm, grad_norm, Optimizer, OptimizerConfig};
use medgym_train::TrainError;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn named_vars() -> Result<Vec<(String, Var)>, candle_core::Error> {
    Ok(vec![
        ("a".to_string(), Var::new(&[1.0f32, 2.0], &Device::Cpu)?),
        (
            "b".to_string(),
            Var::new(&[[0.5f32, -1.0], [2.0, 0.0]], &Device::Cpu)?,
        ),
    ])
}

/// Loss whose gradient is exactly (3, 4) for `a` and all 12 for `b`: norm √(9 + 16 + 4·144) = √601.
fn linear_loss(vars: &[(String, Var)]) -> Result<Tensor, candle_core::Error> {
    let weights = Tensor::new(&[3.0f32, 4.0], &Device::Cpu)?;
    let first = (vars[0].1.as_tensor() * &weights)?.sum_all()?;
    let second = (vars[1].1.as_tensor().sum_all()? * 12.0)?;
    first + second
}

#[test]
fn grad_norm_is_global_l2_norm() -> TestResult {
    let vars = named_vars()?;
    let grads = linear_loss(&vars)?.backward()?;
    let norm = grad_norm(&grads, &vars)?;
    assert!((norm - 601f64.sqrt()).abs() < 1e-9, "{norm}");
    Ok(())
}

#[test]
fn grad_norm_names_vars_without_gradient() -> TestResult {
    let mut vars = named_vars()?;
    vars.push((
        "unused.weight".to_string(),
        Var::new(&[1.0f32], &Device::Cpu)?,
    ));
    let grads = linear_loss(&vars)?.backward()?;
    let error = grad_norm(&grads, &vars).err().ok_or("expected an error")?;
    assert!(matches!(error, TrainError::MissingGradient { .. }));
    assert!(error.to_string().contains("unused.weight"), "{error}");
    Ok(())
}

#[test]
fn clip_grad_norm_scales_to_exactly_max_norm() -> TestResult {
    let vars = named_vars()?;
    let mut grads = linear_loss(&vars)?.backward()?;
    let before = clip_grad_norm(&mut grads, &vars, 2.0)?;
    assert!((before - 601f64.sqrt()).abs() < 1e-9, "{before}");
    let after = grad_norm(&grads, &vars)?;
    assert!((after - 2.0).abs() < 1e-6, "{after}");
    let scale = 2.0 / 601f64.sqrt();
    let a_grad = grads
        .get(vars[0].1.as_tensor())
        .ok_or("missing")?
        .to_vec1::<f32>()?;
    assert!((f64::from(a_grad[0]) - 3.0 * scale).abs() < 1e-6);
    assert!((f64::from(a_grad[1]) - 4.0 * scale).abs() < 1e-6);
    Ok(())
}

#[test]
fn clip_grad_norm_leaves_small_gradients_alone() -> TestResult {
    let vars = named_vars()?;
    let mut grads = linear_loss(&vars)?.backward()?;
    let before = clip_grad_norm(&mut grads, &vars, 100.0)?;
    let after = grad_norm(&grads, &vars)?;
    assert_eq!(before, after);
    assert!(clip_grad_norm(&mut grads, &vars, 0.0).is_err());
    Ok(())
}

#[test]
fn learning_rate_schedule_warms_up_then_decays() {
    let config = OptimizerConfig {
        lr: 1.0,
        warmup_steps: 4,
        total_steps: 14,
        min_lr_ratio: 0.1,
        ..OptimizerConfig::default()
    };
    let warmup: Vec<f64> = (0..4).map(|s| config.lr_at(s)).collect();
    assert_eq!(warmup, vec![0.25, 0.5, 0.75, 1.0]);
    assert!((config.lr_at(4) - 1.0).abs() < 1e-12);
    assert!(
        (config.lr_at(9) - 0.55).abs() < 1e-12,
        "{}",
        config.lr_at(9)
    );
    assert!((config.lr_at(14) - 0.1).abs() < 1e-12);
    assert!((config.lr_at(100) - 0.1).abs() < 1e-12);
    let constant = OptimizerConfig {
        lr: 0.5,
        warmup_steps: 2,
        ..OptimizerConfig::default()
    };
    assert_eq!(constant.lr_at(1), 0.5);
    assert_eq!(constant.lr_at(500), 0.5);
    assert_eq!(constant.lr_at(5000), 0.5);
}

#[test]
fn config_validation_names_the_field() {
    let bad = OptimizerConfig {
        beta2: 1.0,
        ..OptimizerConfig::default()
    };
    let message = bad
        .validate()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("beta2"), "{message}");
    assert!(OptimizerConfig::default().validate().is_ok());
}

/// Runs AdamW on Σ (x − target)² and returns the losses and final parameters.
fn run_quadratic(steps: usize) -> Result<(Vec<f64>, Vec<f32>), Box<dyn std::error::Error>> {
    let vars = vec![
        ("z.bias".to_string(), Var::new(&[0.5f32], &Device::Cpu)?),
        (
            "x.weight".to_string(),
            Var::new(&[2.0f32, -1.5, 0.3], &Device::Cpu)?,
        ),
    ];
    let target = Tensor::new(&[0.25f32, 0.5, -0.75], &Device::Cpu)?;
    let config = OptimizerConfig {
        lr: 0.05,
        weight_decay: 0.01,
        warmup_steps: 2,
        total_steps: steps,
        min_lr_ratio: 0.1,
        ..OptimizerConfig::default()
    };
    let mut optimizer = Optimizer::new(vars, config)?;
    let names: Vec<&str> = optimizer.vars().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["x.weight", "z.bias"]);
    let mut losses = Vec::new();
    for step in 0..steps {
        let weight = optimizer.vars()[0].1.as_tensor();
        let bias = optimizer.vars()[1].1.as_tensor();
        let loss = ((weight - &target)?.sqr()?.sum_all()? + (bias - 1.0)?.sqr()?.sum_all()?)?;
        let stats = optimizer.backward_step(&loss)?;
        assert_eq!(stats.lr, optimizer.config().lr_at(step));
        assert!(stats.grad_norm > 0.0);
        losses.push(stats.loss);
    }
    assert_eq!(optimizer.steps_taken(), steps);
    let mut parameters = Vec::new();
    for (_, var) in optimizer.vars() {
        parameters.extend(var.as_tensor().to_vec1::<f32>()?);
    }
    Ok((losses, parameters))
}

#[test]
fn adamw_decreases_a_quadratic_loss() -> TestResult {
    let (losses, _) = run_quadratic(40)?;
    let first = losses[0];
    let last = losses[losses.len() - 1];
    assert!(last < 0.5 * first, "loss went from {first} to {last}");
    assert!(losses.windows(2).skip(2).all(|w| w[1] < w[0]), "{losses:?}");
    Ok(())
}

#[test]
fn adamw_runs_are_bit_identical() -> TestResult {
    let (losses_one, parameters_one) = run_quadratic(12)?;
    let (losses_two, parameters_two) = run_quadratic(12)?;
    let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&parameters_one), bits(&parameters_two));
    assert_eq!(losses_one, losses_two);
    Ok(())
}

#[test]
fn step_with_grads_clips_and_updates() -> TestResult {
    let vars = named_vars()?;
    let before = vars[0].1.as_tensor().to_vec1::<f32>()?;
    let config = OptimizerConfig {
        lr: 0.1,
        max_grad_norm: 1.0,
        ..OptimizerConfig::default()
    };
    let mut optimizer = Optimizer::new(vars, config)?;
    let mut grads = linear_loss(optimizer.vars())?.backward()?;
    let stats = optimizer.step_with_grads(&mut grads)?;
    assert!((stats.grad_norm - 601f64.sqrt()).abs() < 1e-9);
    assert!(stats.loss.is_nan());
    let after = optimizer.vars()[0].1.as_tensor().to_vec1::<f32>()?;
    // The first AdamW step moves each coordinate by about lr against the gradient sign.
    for (b, a) in before.iter().zip(&after) {
        assert!((b - a - 0.1).abs() < 1e-4, "{b} -> {a}");
    }
    Ok(())
}

#[test]
fn optimizer_rejects_duplicate_names_and_non_scalar_loss() -> TestResult {
    let duplicate = vec![
        ("w".to_string(), Var::new(&[1.0f32], &Device::Cpu)?),
        ("w".to_string(), Var::new(&[2.0f32], &Device::Cpu)?),
    ];
    assert!(Optimizer::new(duplicate, OptimizerConfig::default()).is_err());
    let vars = named_vars()?;
    let mut optimizer = Optimizer::new(vars, OptimizerConfig::default())?;
    let vector_loss = (optimizer.vars()[0].1.as_tensor() * 2.0)?;
    assert!(optimizer.backward_step(&vector_loss).is_err());
    Ok(())
}
