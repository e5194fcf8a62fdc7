//! The skinny product against the general one, across builds, batches and parallel tasks.

use super::*;
use candle_core::{Device, Var};

fn matrix(rows: usize, cols: usize, seed: u32) -> Tensor {
    let values: Vec<f32> = (0..(rows * cols) as u32)
        .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    Tensor::from_vec(values, (rows, cols), &Device::Cpu).expect("matrix")
}

/// The skinny op itself, whatever the size gates of [`matmul_transposed`] would choose.
fn skinny(x: &Tensor, w: &Tensor) -> Tensor {
    x.apply_op2(w, SkinnyMatmul).expect("skinny")
}

#[test]
fn gates_send_only_small_batches_of_large_weights_to_the_skinny_op() {
    let large = matrix(1024, 64, 1);
    let rows = |n| matrix(n, 64, 3);
    assert!(takes_skinny(&rows(1), &large).expect("gate"));
    assert!(takes_skinny(&rows(SKINNY_MAX_ROWS), &large).expect("gate"));
    assert!(!takes_skinny(&rows(SKINNY_MAX_ROWS + 1), &large).expect("gate"));
    assert!(!takes_skinny(&rows(1), &matrix(64, 64, 2)).expect("gate"));
    let half = large.to_dtype(DType::BF16).expect("bf16");
    assert!(!takes_skinny(&rows(1).to_dtype(DType::BF16).expect("bf16"), &half).expect("gate"));
    let strided = matrix(64, 1024, 4).t().expect("t");
    assert!(!takes_skinny(&rows(1), &strided).expect("gate"));
}

#[test]
fn matches_general_product_on_odd_shapes() {
    for (rows, out, inner) in [
        (1, 1, 1),
        (1, 7, 9),
        (2, 5, 16),
        (3, 9, 17),
        (32, 600, 300),
        (5, 1100, 256),
    ] {
        let x = matrix(rows, inner, 1);
        let w = matrix(out, inner, 2);
        let fast: Vec<Vec<f32>> = skinny(&x, &w).to_vec2().expect("v");
        let slow: Vec<Vec<f32>> = x
            .matmul(&w.t().expect("t"))
            .expect("slow")
            .to_vec2()
            .expect("v");
        for (a, b) in fast.iter().flatten().zip(slow.iter().flatten()) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{a} vs {b} at {rows}x{out}x{inner}"
            );
        }
    }
}

#[test]
fn portable_and_accelerated_kernels_agree_bitwise() {
    // Row counts cover the four-, three-, two- and one-row blocks, below and from the count
    // where eight weight rows go together (with four- and one-row weight remainders); widths
    // with and without a tail, shorter than one step, and one step and a bit.
    for (rows, out, inner) in [
        (8, 8, 24),
        (10, 28, 72),
        (13, 21, 40),
        (7, 16, 24),
        (9, 12, 5),
        (11, 13, 37),
        (5, 13, 37),
        (4, 9, 64),
        (32, 22, 256),
        (7, 6, 8),
        (2, 3, 5),
        (11, 17, 16),
        (6, 8, 33),
        (64, 40, 896),
        (3, 9, 47),
        (9, 12, 1031),
        (1, 33, 200),
    ] {
        let x: Vec<f32> = matrix(rows, inner, 3)
            .flatten_all()
            .expect("f")
            .to_vec1()
            .expect("v");
        let w: Vec<f32> = matrix(out, inner, 4)
            .flatten_all()
            .expect("f")
            .to_vec1()
            .expect("v");
        let mut portable = vec![0f32; rows * out];
        run_body(
            &x,
            rows,
            &w,
            inner,
            &mut portable.chunks_mut(out).collect::<Vec<_>>(),
        );
        for (build, kernel) in RowKernel::accelerated_builds() {
            eprintln!("checking the {build} build at {rows}x{out}x{inner}");
            let mut accelerated = vec![0f32; rows * out];
            (kernel.run)(
                &x,
                rows,
                &w,
                inner,
                &mut accelerated.chunks_mut(out).collect::<Vec<_>>(),
            );
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&portable),
                bits(&accelerated),
                "{build} {rows}x{out}x{inner}"
            );
        }
    }
}

#[test]
fn tasks_split_weights_evenly_in_groups_of_four() {
    assert_eq!(rows_per_task(151_936, 2), MAX_ROWS_PER_TASK);
    assert_eq!(rows_per_task(896, 2), 112);
    assert_eq!(rows_per_task(900, 2), 116);
    assert_eq!(rows_per_task(3, 2), 4);
    assert_eq!(rows_per_task(896, 0), 224);
}

#[test]
fn parallel_tasks_equal_one_serial_pass() {
    // Above the parallel threshold, with a ragged last task and a tail of three rows.
    let (rows, out, inner) = (3, 4099, 80);
    assert!(out * inner >= PARALLEL_MIN_ELEMENTS);
    let values = |n: usize, seed: u32| -> Vec<f32> {
        (0..n)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 / u32::MAX as f32 - 0.5)
            .collect()
    };
    let x = values(rows * inner, 3);
    let w = values(out * inner, 4);
    let parallel = product(&x, rows, &w, out, inner);
    let mut serial = vec![0f32; rows * out];
    let mut dst: Vec<&mut [f32]> = serial.chunks_mut(out).collect();
    (RowKernel::detect().run)(&x, rows, &w, inner, &mut dst);
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&parallel), bits(&serial));
}

#[test]
fn a_rows_result_does_not_depend_on_the_batch() {
    let w = matrix(1030, 64, 8);
    let batch = matrix(SKINNY_MAX_ROWS, 64, 9);
    let together: Vec<Vec<f32>> = skinny(&batch, &w).to_vec2().expect("v");
    for row in [0, 1, 17, SKINNY_MAX_ROWS - 1] {
        let alone = batch
            .narrow(0, row, 1)
            .expect("narrow")
            .contiguous()
            .expect("c");
        let single: Vec<Vec<f32>> = skinny(&alone, &w).to_vec2().expect("v");
        assert_eq!(single[0], together[row], "row {row}");
    }
}

#[test]
fn gradients_match_general_product() {
    let x = Var::from_tensor(&matrix(3, 20, 5)).expect("x");
    let w = Var::from_tensor(&matrix(11, 20, 6)).expect("w");
    let weights = matrix(3, 11, 7);
    let fast = (skinny(x.as_tensor(), w.as_tensor()) * &weights)
        .expect("mul")
        .sum_all()
        .expect("sum")
        .backward()
        .expect("bwd");
    let slow = (x
        .as_tensor()
        .matmul(&w.as_tensor().t().expect("t"))
        .expect("slow")
        * &weights)
        .expect("mul")
        .sum_all()
        .expect("sum")
        .backward()
        .expect("bwd");
    let gradient = |grads: &candle_core::backprop::GradStore, var: &Var| -> Vec<f32> {
        grads
            .get(var.as_tensor())
            .expect("gradient")
            .flatten_all()
            .expect("f")
            .to_vec1()
            .expect("v")
    };
    for var in [&x, &w] {
        let a = gradient(&fast, var);
        let b = gradient(&slow, var);
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()));
        }
    }
}

#[test]
fn the_builds_this_processor_can_run_are_offered() {
    let names: Vec<&str> = RowKernel::accelerated_builds()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    #[cfg(target_arch = "x86_64")]
    {
        let has = |feature: &str| match feature {
            "avx512" => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            _ => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
        };
        assert_eq!(names.contains(&"avx512"), has("avx512"));
        assert_eq!(names.contains(&"avx2"), has("avx2"));
    }
    #[cfg(not(target_arch = "x86_64"))]
    assert!(names.is_empty());
}
