//! Deterministic arithmetic shared bit-for-bit by the CPU backend and the CUDA kernel.
//!
//! Every function here uses only IEEE-754 operations that are correctly rounded on both sides
//! (add, sub, mul, div, fused multiply-add, round-to-nearest-even, exact conversions), in a fixed
//! order. The CUDA source receives the same constants as exact hexadecimal literals
//! ([`cuda_constants_prelude`]) and is compiled with `--fmad=false`, so no multiply-add is fused
//! unless written as an explicit `fmaf`/`fma`, exactly where Rust calls `mul_add`.

/// Fixed-point weights carry this many fractional bits: `w = round(e × 2^40)`.
pub const FIXED_POINT_BITS: u32 = 40;
/// Largest supported vocabulary: `2^23` weights of at most `2^40` sum below `2^63`.
pub const MAX_VOCAB_SIZE: usize = 1 << 23;
/// `log2(e)` rounded to f32.
pub(crate) const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// High part of `ln 2` (exact in few bits, so `n × LN2_HIGH` is exact for |n| ≤ 127).
pub(crate) const LN2_HIGH: f32 = f32::from_bits(0x3F31_7200);
/// Low part of `ln 2`: `ln 2 − LN2_HIGH` rounded to f32.
pub(crate) const LN2_LOW: f32 = f32::from_bits(0x35BF_BE8E);
/// Inputs below this are clamped so that `2^n` stays a normal f32.
pub(crate) const EXP_INPUT_FLOOR: f32 = -87.0;
/// `1.5 × 2^23`: adding it to |y| < 2^22 rounds y to an integer, ties to even (as `rintf`).
pub(crate) const ROUND_TO_INTEGER: f32 = 12_582_912.0;
/// Taylor coefficients `1/k!`, k = 0..=7, highest degree first.
pub(crate) const EXP_COEFFICIENTS: [f32; 8] = [
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];
/// Series coefficients `1/(2k+1)`, k = 11..=0, of `ln(m) = 2s Σ s^(2k)/(2k+1)`, highest first.
const LN_COEFFICIENTS: [f64; 12] = [
    1.0 / 23.0,
    1.0 / 21.0,
    1.0 / 19.0,
    1.0 / 17.0,
    1.0 / 15.0,
    1.0 / 13.0,
    1.0 / 11.0,
    1.0 / 9.0,
    1.0 / 7.0,
    1.0 / 5.0,
    1.0 / 3.0,
    1.0,
];
/// `ln 2` rounded to f64.
const LN2_F64: f64 = std::f64::consts::LN_2;
/// `√2` rounded to f64: mantissas above it are halved so the series argument stays small.
const SQRT2_F64: f64 = std::f64::consts::SQRT_2;
/// `2^52`: adding it to a value in `[0, 2^52)` rounds that value to an integer, ties to even.
pub(crate) const ROUNDING_MAGIC: f64 = 4_503_599_627_370_496.0;
/// `2^40` as f64.
pub(crate) const FIXED_POINT_SCALE: f64 = (1u64 << FIXED_POINT_BITS) as f64;

/// `exp(x)` for `x <= 0` (−inf allowed): Cody–Waite reduction and a degree-7 polynomial in FMAs.
///
/// `det_exp(0.0) == 1.0` exactly; inputs below −87 are clamped to −87 (result ≈ 1.6e-38).
#[inline(always)]
pub fn det_exp(x: f32) -> f32 {
    // Written with selects and integer bit operations only, so the row loops vectorise; the values
    // equal fmaxf / rintf / (int) of the CUDA twin exactly (no NaN reaches here, |n| <= 126).
    let clamped = if x < EXP_INPUT_FLOOR {
        EXP_INPUT_FLOOR
    } else {
        x
    };
    let shifted = clamped * LOG2_E + ROUND_TO_INTEGER;
    let n = shifted - ROUND_TO_INTEGER;
    let exponent = shifted.to_bits().wrapping_sub(ROUND_TO_INTEGER.to_bits());
    let reduced = n.mul_add(-LN2_HIGH, clamped);
    let reduced = n.mul_add(-LN2_LOW, reduced);
    let mut poly = EXP_COEFFICIENTS[0];
    for &coefficient in &EXP_COEFFICIENTS[1..] {
        poly = poly.mul_add(reduced, coefficient);
    }
    let scale = f32::from_bits(exponent.wrapping_add(127) << 23);
    poly * scale
}

/// Fixed-point weight of an exponential in `[0, 1]`: `round_half_even(e × 2^40)`.
#[inline(always)]
pub fn fixed_weight(exponential: f32) -> u64 {
    let shifted = f64::from(exponential) * FIXED_POINT_SCALE + ROUNDING_MAGIC;
    shifted.to_bits().wrapping_sub(ROUNDING_MAGIC.to_bits())
}

/// `ln(total × 2^-40)` for a fixed-point sum `total >= 1`, from an atanh series in f64 FMAs.
pub fn det_ln_fixed(total: u64) -> f64 {
    let total = total.max(1);
    let mut exponent = 63 - total.leading_zeros() as i64;
    let as_float = total as f64;
    let mut mantissa = as_float * f64::from_bits(((1023 - exponent) as u64) << 52);
    if mantissa > SQRT2_F64 {
        mantissa *= 0.5;
        exponent += 1;
    }
    let ratio = (mantissa - 1.0) / (mantissa + 1.0);
    let ratio_squared = ratio * ratio;
    let mut series = LN_COEFFICIENTS[0];
    for &coefficient in &LN_COEFFICIENTS[1..] {
        series = series.mul_add(ratio_squared, coefficient);
    }
    let log_mantissa = 2.0 * ratio * series;
    (exponent - i64::from(FIXED_POINT_BITS)) as f64 * LN2_F64 + log_mantissa
}

/// `⌊a × b / 2^64⌋`: maps a 64-bit random word onto `[0, b)`.
#[inline]
pub fn multiply_high(random: u64, bound: u64) -> u64 {
    ((u128::from(random) * u128::from(bound)) >> 64) as u64
}

/// Fixed-point form of `top_p` with 32 fractional bits (`2^32` for 1.0).
pub fn top_p_fixed(top_p: f32) -> u64 {
    (f64::from(top_p) * 4_294_967_296.0).round() as u64
}

/// Mass target of top-p over a kept mass `kept`: `max(1, ⌊kept × q / 2^32⌋)`.
pub fn top_p_target(kept: u64, top_p_fixed: u64) -> u64 {
    (((u128::from(kept) * u128::from(top_p_fixed)) >> 32) as u64).max(1)
}

/// An f64 as an exact C hexadecimal floating literal.
fn hex_f64(value: f64) -> String {
    if value == 0.0 {
        return "0x0p+0".into();
    }
    let bits = value.to_bits();
    let sign = if bits >> 63 == 1 { "-" } else { "" };
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let fraction = bits & ((1u64 << 52) - 1);
    format!("{sign}0x1.{fraction:013x}p{exponent:+}")
}

/// `#define` lines giving the CUDA source the exact constants used above.
pub fn cuda_constants_prelude() -> String {
    let mut lines = vec![
        format!("#define DET_LOG2_E {}f", hex_f64(f64::from(LOG2_E))),
        format!("#define DET_LN2_HIGH {}f", hex_f64(f64::from(LN2_HIGH))),
        format!("#define DET_LN2_LOW {}f", hex_f64(f64::from(LN2_LOW))),
        format!(
            "#define DET_EXP_FLOOR {}f",
            hex_f64(f64::from(EXP_INPUT_FLOOR))
        ),
        format!("#define DET_LN2_F64 {}", hex_f64(LN2_F64)),
        format!("#define DET_SQRT2_F64 {}", hex_f64(SQRT2_F64)),
        format!("#define DET_ROUNDING_MAGIC {}", hex_f64(ROUNDING_MAGIC)),
        format!("#define DET_FIXED_SCALE {}", hex_f64(FIXED_POINT_SCALE)),
        format!("#define DET_FIXED_BITS {FIXED_POINT_BITS}"),
    ];
    let exp_list: Vec<String> = EXP_COEFFICIENTS
        .iter()
        .map(|&c| format!("{}f", hex_f64(f64::from(c))))
        .collect();
    lines.push(format!(
        "__device__ __constant__ float DET_EXP_COEFFICIENTS[{}] = {{{}}};",
        EXP_COEFFICIENTS.len(),
        exp_list.join(", ")
    ));
    let ln_list: Vec<String> = LN_COEFFICIENTS.iter().map(|&c| hex_f64(c)).collect();
    lines.push(format!(
        "__device__ __constant__ double DET_LN_COEFFICIENTS[{}] = {{{}}};",
        LN_COEFFICIENTS.len(),
        ln_list.join(", ")
    ));
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn det_exp_is_exact_at_zero_and_close_elsewhere() {
        assert_eq!(det_exp(0.0), 1.0);
        assert_eq!(det_exp(-0.0), 1.0);
        assert!(det_exp(f32::NEG_INFINITY) < 1e-37);
        let sweep = (0..40_000).map(|i| -(i as f32) * 0.002_187);
        let edges = [
            -0.5f32,
            -1.5,
            -2.5,
            -87.0,
            -86.9,
            f32::from_bits(0xBEB1_7218),
        ];
        for x in sweep.chain(edges) {
            let n = (x.max(EXP_INPUT_FLOOR) * LOG2_E).round_ties_even();
            let shifted = x.max(EXP_INPUT_FLOOR) * LOG2_E + ROUND_TO_INTEGER;
            assert_eq!(shifted - ROUND_TO_INTEGER, n, "rounding of {x}");
        }
        let mut x = -30.0f32;
        while x <= 0.0 {
            let exact = f64::from(x).exp();
            let relative = (f64::from(det_exp(x)) - exact).abs() / exact;
            assert!(relative < 3e-7, "x {x}: {} vs {exact}", det_exp(x));
            x += 0.0137;
        }
    }

    #[test]
    fn det_exp_never_exceeds_one() {
        let mut x = -1.0f32;
        while x <= 0.0 {
            assert!(det_exp(x) <= 1.0, "x {x}");
            x += 1e-4;
        }
    }

    #[test]
    fn fixed_weight_rounds_half_to_even() {
        assert_eq!(fixed_weight(1.0), 1 << 40);
        assert_eq!(fixed_weight(0.0), 0);
        assert_eq!(fixed_weight(0.5), 1 << 39);
        let half_unit = (0.5f64 / FIXED_POINT_SCALE) as f32;
        assert_eq!(fixed_weight(half_unit), 0);
        assert_eq!(fixed_weight(half_unit * 3.0), 2);
    }

    #[test]
    fn det_ln_fixed_matches_libm() {
        for total in [
            1u64,
            2,
            3,
            1 << 40,
            (1 << 40) + 1,
            3 << 40,
            123_456_789_012_345,
            u64::MAX >> 1,
        ] {
            let exact = (total as f64 / FIXED_POINT_SCALE).ln();
            let got = det_ln_fixed(total);
            assert!(
                (got - exact).abs() < 1e-14,
                "total {total}: {got} vs {exact}"
            );
        }
        assert_eq!(det_ln_fixed(1 << 40), 0.0);
    }

    #[test]
    fn top_p_fixed_point_targets() {
        assert_eq!(top_p_fixed(1.0), 1 << 32);
        assert_eq!(top_p_target(1000, top_p_fixed(1.0)), 1000);
        assert_eq!(top_p_target(1000, top_p_fixed(0.5)), 500);
        assert_eq!(top_p_target(1000, 0), 1);
        assert_eq!(multiply_high(u64::MAX, 10), 9);
        assert_eq!(multiply_high(0, 10), 0);
    }

    #[test]
    fn hex_literals_are_exact() {
        assert_eq!(hex_f64(1.0), "0x1.0000000000000p+0");
        assert_eq!(hex_f64(0.5), "0x1.0000000000000p-1");
        assert_eq!(hex_f64(-3.0), "-0x1.8000000000000p+1");
        assert!(cuda_constants_prelude().contains("DET_LN_COEFFICIENTS[12]"));
    }
}
