//! PIL's bicubic resize of 8-bit images, reproduced byte for byte, because transformers' Qwen2-VL
//! processor resizes with PIL: Keys cubic weights (a = −0.5) over a support that widens when
//! shrinking, turned into 22-bit fixed-point coefficients, one pass per direction with the bytes
//! rounded and clipped between them. Pillow 13 takes the vertical pass first when the height
//! shrinks by more than twice as much as the width; earlier versions always go horizontal first.

/// Fractional bits of the fixed-point coefficients.
const PRECISION_BITS: u32 = 32 - 8 - 2;
/// Half of the unit of the fixed-point sums (rounds to nearest).
const HALF: i64 = 1 << (PRECISION_BITS - 1);

/// Keys' cubic convolution kernel with a = −0.5 (PIL's `BICUBIC`), support 2.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output position along one axis: the first input index and its fixed-point weights.
struct Taps {
    first: Vec<usize>,
    weights: Vec<Vec<i64>>,
}

/// The taps of resizing `in_size` samples to `out_size` (PIL's `precompute_coeffs` and
/// `normalize_coeffs_8bpc`).
fn taps(in_size: usize, out_size: usize) -> Taps {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    let mut first = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for out in 0..out_size {
        let center = (out as f64 + 0.5) * scale;
        // C's (int) cast truncates toward zero, as `as i64` does.
        let start = ((center - support + 0.5) as i64).max(0) as usize;
        let end = ((center + support + 0.5) as i64).min(in_size as i64).max(0) as usize;
        let raw: Vec<f64> = (start..end.max(start))
            .map(|x| bicubic((x as f64 - center + 0.5) * (1.0 / filter_scale)))
            .collect();
        let total: f64 = raw.iter().sum();
        let fixed = raw
            .iter()
            .map(|&w| {
                let w = if total != 0.0 { w / total } else { w };
                let scaled = w * f64::from(1u32 << PRECISION_BITS);
                if w < 0.0 {
                    (scaled - 0.5) as i64
                } else {
                    (scaled + 0.5) as i64
                }
            })
            .collect();
        first.push(start);
        weights.push(fixed);
    }
    Taps { first, weights }
}

/// A fixed-point sum back to a byte (PIL's `clip8`).
fn clip8(sum: i64) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Interleaved 8-bit pixels: `height × width × channels` bytes.
struct Plane<'a> {
    data: &'a [u8],
    width: usize,
    channels: usize,
}

/// Resizes rows to `taps.first.len()` columns.
fn horizontal(plane: &Plane, height: usize, taps: &Taps) -> Vec<u8> {
    let (c, out_width) = (plane.channels, taps.first.len());
    let mut out = Vec::with_capacity(height * out_width * c);
    let mut sums = vec![0i64; c];
    for y in 0..height {
        let row = &plane.data[y * plane.width * c..(y + 1) * plane.width * c];
        for (start, weights) in taps.first.iter().zip(&taps.weights) {
            sums.fill(HALF);
            let window = &row[start * c..(start + weights.len()) * c];
            for (pixel, &w) in window.chunks_exact(c).zip(weights) {
                for (sum, &value) in sums.iter_mut().zip(pixel) {
                    *sum += i64::from(value) * w;
                }
            }
            out.extend(sums.iter().map(|&sum| clip8(sum)));
        }
    }
    out
}

/// Resizes columns to `taps.first.len()` rows.
fn vertical(plane: &Plane, taps: &Taps) -> Vec<u8> {
    let row_len = plane.width * plane.channels;
    let mut out = Vec::with_capacity(taps.first.len() * row_len);
    let mut sums = vec![0i64; row_len];
    for (start, weights) in taps.first.iter().zip(&taps.weights) {
        sums.fill(HALF);
        for (i, &w) in weights.iter().enumerate() {
            let row = &plane.data[(start + i) * row_len..(start + i + 1) * row_len];
            for (sum, &value) in sums.iter_mut().zip(row) {
                *sum += i64::from(value) * w;
            }
        }
        out.extend(sums.iter().map(|&sum| clip8(sum)));
    }
    out
}

/// `data` (`height × width × channels` bytes) resized to `new_height × new_width` as Pillow 13's
/// `Image.resize(..., BICUBIC)` does. The caller checks that the sizes are positive and match.
pub(crate) fn resize_bicubic(
    data: &[u8],
    (height, width): (usize, usize),
    (new_height, new_width): (usize, usize),
    channels: usize,
) -> Vec<u8> {
    let resize_width = |data: &[u8], rows: usize| {
        if new_width == width {
            return data.to_vec();
        }
        let plane = Plane {
            data,
            width,
            channels,
        };
        horizontal(&plane, rows, &taps(width, new_width))
    };
    let resize_height = |data: &[u8], columns: usize| {
        if new_height == height {
            return data.to_vec();
        }
        let plane = Plane {
            data,
            width: columns,
            channels,
        };
        vertical(&plane, &taps(height, new_height))
    };
    let vertical_first =
        new_height < height && height - new_height > 2 * width.saturating_sub(new_width);
    if vertical_first {
        resize_width(&resize_height(data, width), new_height)
    } else {
        resize_height(&resize_width(data, height), new_width)
    }
}
