//! Image preprocessing against transformers' Qwen2-VL processor (fixtures made by
//! `scripts/make_image_fixtures.py`): smart-resize sizes and resampled bytes exactly, pixel
//! values to float rounding.

mod hf_common;

use candle_core::Device;
use hf_common::fixture;
use medgym_policy::hf::{
    preprocess, resize_rgb, rgb_on_white, smart_resize, HfConfig, ResizeBounds, RgbImage,
};
use serde_json::Value;

fn image_fixture(name: &str) -> std::path::PathBuf {
    fixture("image").join(name)
}

fn json(name: &str) -> Value {
    let text = std::fs::read_to_string(image_fixture(name)).expect("fixture json");
    serde_json::from_str(&text).expect("json parses")
}

fn bounds(row: &Value) -> ResizeBounds {
    ResizeBounds {
        min_pixels: row["min_pixels"].as_u64().expect("min") as usize,
        max_pixels: row["max_pixels"].as_u64().expect("max") as usize,
    }
}

#[test]
fn smart_resize_gives_transformers_sizes() {
    let rows = json("smart_resize.json");
    let rows = rows.as_array().expect("rows");
    assert!(rows.len() > 1000);
    for row in rows {
        let (height, width) = (
            row["height"].as_u64().expect("h") as usize,
            row["width"].as_u64().expect("w") as usize,
        );
        let ours = smart_resize(height, width, 28, bounds(row));
        match row["expected"].as_array() {
            Some(expected) => {
                let expected = (
                    expected[0].as_u64().expect("h") as usize,
                    expected[1].as_u64().expect("w") as usize,
                );
                assert_eq!(ours.ok(), Some(expected), "{row}");
            }
            None => assert!(ours.is_err(), "{row}: transformers refuses"),
        }
    }
    assert!(smart_resize(0, 10, 28, ResizeBounds::default()).is_err());
}

#[test]
fn preprocessing_matches_the_processor() {
    let config = HfConfig::from_dir(&fixture("qwen25vl")).expect("config");
    let vision = config.vision.expect("vision config");
    let reference =
        candle_core::safetensors::load(image_fixture("pixel_values.safetensors"), &Device::Cpu)
            .expect("reference");
    let cases = json("cases.json");
    for case in cases.as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let source = image::open(image_fixture(case["source"].as_str().expect("source")))
            .expect("png")
            .to_rgb8();
        let image = RgbImage {
            width: source.width() as usize,
            height: source.height() as usize,
            pixels: source.into_raw(),
        };
        let patches = preprocess(&image, &vision, bounds(case)).expect("preprocess");
        let grid: Vec<usize> = case["grid"]
            .as_array()
            .expect("grid")
            .iter()
            .map(|v| v.as_u64().expect("dim") as usize)
            .collect();
        assert_eq!(patches.grid.to_vec(), grid, "{name}: grid");
        let expected: Vec<f32> = reference[name]
            .flatten_all()
            .expect("flat")
            .to_vec1()
            .expect("values");
        assert_eq!(patches.values.len(), expected.len(), "{name}: values");
        let diffs: Vec<f32> = patches
            .values
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .collect();
        let max = diffs.iter().cloned().fold(0f32, f32::max);
        // Resampling gives PIL's bytes, so only float rounding of the normalisation remains.
        assert!(max < 1e-5, "{name}: max diff {max}");
        eprintln!("{name}: max diff {max:e} over {} values", diffs.len());
    }
}

#[test]
fn resize_bounds_read_both_config_layouts_and_refuse_bad_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        ResizeBounds::from_dir(dir.path()).expect("absent"),
        ResizeBounds::default()
    );
    let write = |text: &str| {
        std::fs::write(dir.path().join("preprocessor_config.json"), text).expect("write")
    };
    write(r#"{"min_pixels": 3136, "max_pixels": 12845056}"#);
    assert_eq!(
        ResizeBounds::from_dir(dir.path()).expect("v4"),
        ResizeBounds {
            min_pixels: 3136,
            max_pixels: 12_845_056
        }
    );
    // A null top-level value gives way to `size`, as in transformers.
    write(r#"{"min_pixels": null, "size": {"shortest_edge": 1000, "longest_edge": 5000}}"#);
    assert_eq!(
        ResizeBounds::from_dir(dir.path()).expect("v5"),
        ResizeBounds {
            min_pixels: 1000,
            max_pixels: 5000
        }
    );
    for bad in [
        r#"{"min_pixels": -1}"#,
        r#"{"min_pixels": 9, "max_pixels": 3}"#,
        "{",
    ] {
        write(bad);
        let err = ResizeBounds::from_dir(dir.path())
            .expect_err(bad)
            .to_string();
        assert!(err.contains("preprocessor_config.json"), "{err}");
    }
}

/// The fixture script's noise bytes: a 31-bit linear congruential generator.
fn noise(count: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = (state * 1_103_515_245 + 12_345) % (1 << 31);
            ((state >> 16) & 255) as u8
        })
        .collect()
}

#[test]
fn resizing_gives_pils_bicubic_bytes() {
    let table = json("resize_cases.json");
    let expected =
        candle_core::safetensors::load(image_fixture("resized.safetensors"), &Device::Cpu)
            .expect("resized");
    let cases = table["cases"].as_array().expect("cases");
    assert!(cases.len() > 80);
    let mut vertical_first = 0;
    for case in cases {
        let size = |key: &str| case[key].as_u64().expect(key) as usize;
        let (height, width) = (size("height"), size("width"));
        let (new_height, new_width) = (size("new_height"), size("new_width"));
        let image = RgbImage {
            width,
            height,
            pixels: noise(height * width * 3, case["seed"].as_u64().expect("seed")),
        };
        let ours = resize_rgb(&image, new_height, new_width).expect("resize");
        let name = case["name"].as_str().expect("name");
        let theirs: Vec<u8> = expected[name]
            .flatten_all()
            .expect("flat")
            .to_vec1()
            .expect("bytes");
        assert_eq!(
            ours.pixels, theirs,
            "{name}: {height}x{width} -> {new_height}x{new_width}"
        );
        if new_height < height && height - new_height > 2 * width.saturating_sub(new_width) {
            vertical_first += 1;
        }
    }
    assert!(
        vertical_first > 0,
        "some cases take the vertical pass first"
    );
    eprintln!(
        "{} resizes equal Pillow {}'s bytes ({vertical_first} vertical first)",
        cases.len(),
        table["pillow"]
    );
}

#[test]
fn transparency_is_composited_onto_white_as_transformers_does() {
    let mut rgba = image::RgbaImage::new(3, 1);
    rgba.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
    rgba.put_pixel(1, 0, image::Rgba([200, 100, 0, 255]));
    rgba.put_pixel(2, 0, image::Rgba([0, 0, 0, 128]));
    let rgb = rgb_on_white(&image::DynamicImage::ImageRgba8(rgba));
    // PIL.Image.alpha_composite onto white: (c·a + 255·(255 − a) + 127) / 255.
    assert_eq!(rgb.pixels, vec![255, 255, 255, 200, 100, 0, 127, 127, 127]);
    let grey =
        image::DynamicImage::ImageLuma8(image::GrayImage::from_raw(1, 1, vec![9]).expect("grey"));
    assert_eq!(rgb_on_white(&grey).pixels, vec![9, 9, 9]);
}
