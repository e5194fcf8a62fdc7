//! Decoding item images to RGB and Qwen2.5-VL smart resizing.

use std::sync::Arc;

use medgym_envs::image::{smart_resize, to_rgb, to_rgb_smart_resized, ResizeBounds};
use medgym_envs::{ColorImage, EnvError, ItemImage, ScanImage};

fn encode(image: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).expect("encode");
    bytes.into_inner()
}

fn gray_png(width: u32, height: u32) -> Vec<u8> {
    let gray = image::GrayImage::from_fn(width, height, |x, y| image::Luma([(x * 10 + y) as u8]));
    encode(
        image::DynamicImage::ImageLuma8(gray),
        image::ImageFormat::Png,
    )
}

#[test]
fn smart_resize_matches_the_reference_rule() {
    let qwen = ResizeBounds::default();
    let small_max = ResizeBounds {
        factor: 28,
        min_pixels: 56 * 56,
        max_pixels: 28 * 28 * 1280,
    };
    // (height, width) → expected, computed with Hugging Face's smart_resize.
    let cases = [
        ((20, 16), qwen, (84, 56)),
        ((224, 224), qwen, (224, 224)),
        ((1080, 1920), qwen, (1092, 1932)),
        ((1080, 1920), small_max, (728, 1316)),
        ((4000, 3000), small_max, (1148, 840)),
        ((4000, 3000), qwen, (4004, 2996)),
        ((42, 70), qwen, (56, 56)),
        ((500, 375), qwen, (504, 364)),
    ];
    for ((height, width), bounds, expected) in cases {
        let got = smart_resize(height, width, bounds).expect("resize");
        assert_eq!(got, expected, "{height}x{width}");
        assert_eq!(got.0 % 28, 0);
        assert_eq!(got.1 % 28, 0);
    }
}

#[test]
fn smart_resize_rejects_extreme_aspect_ratios_and_empty_images() {
    let error = smart_resize(10, 2010, ResizeBounds::default()).expect_err("ratio 201");
    assert!(error.to_string().contains("aspect ratio"), "{error}");
    assert!(smart_resize(10, 2000, ResizeBounds::default()).is_ok());
    assert!(smart_resize(0, 10, ResizeBounds::default()).is_err());
}

#[test]
fn grayscale_png_decodes_to_rgb_with_equal_channels() {
    let bytes = gray_png(5, 3);
    let image = ItemImage::Encoded {
        bytes: Arc::from(bytes),
        origin: "test:gray".into(),
    };
    let rgb = to_rgb(&image).expect("decode");
    assert_eq!((rgb.width, rgb.height), (5, 3));
    assert_eq!(rgb.pixels.len(), 45);
    // pixel (x=2, y=1) has intensity 21 in all three channels
    let offset = (5 + 2) * 3;
    assert_eq!(&rgb.pixels[offset..offset + 3], &[21, 21, 21]);
}

#[test]
fn jpeg_file_and_in_memory_images_decode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let color = image::RgbImage::from_fn(16, 8, |x, _| image::Rgb([200, (x * 8) as u8, 10]));
    let path = dir.path().join("a.jpg");
    std::fs::write(
        &path,
        encode(
            image::DynamicImage::ImageRgb8(color),
            image::ImageFormat::Jpeg,
        ),
    )
    .expect("write");
    let rgb = to_rgb(&ItemImage::File { path }).expect("decode jpeg");
    assert_eq!((rgb.width, rgb.height), (16, 8));
    assert!(
        (rgb.pixels[0] as i32 - 200).abs() <= 8,
        "red channel {}",
        rgb.pixels[0]
    );

    let scan = ScanImage::new(2, 1, vec![7, 9]).expect("scan");
    assert_eq!(
        to_rgb(&ItemImage::Scan(scan)).expect("scan").pixels,
        vec![7, 7, 7, 9, 9, 9]
    );
    let color = ColorImage::new(1, 1, vec![1, 2, 3]).expect("color");
    assert_eq!(
        to_rgb(&ItemImage::Color(color.clone())).expect("color"),
        color
    );
}

#[test]
fn truncated_png_and_missing_file_name_the_image() {
    let bytes = gray_png(40, 40);
    let truncated = ItemImage::Encoded {
        bytes: Arc::from(&bytes[..bytes.len() / 2]),
        origin: "data.parquet:row 3:image".into(),
    };
    let error = to_rgb(&truncated).expect_err("truncated");
    assert!(matches!(error, EnvError::Image { .. }));
    assert!(
        error.to_string().contains("data.parquet:row 3:image"),
        "{error}"
    );

    let missing = ItemImage::File {
        path: "/nonexistent/x.png".into(),
    };
    let error = to_rgb(&missing).expect_err("missing");
    assert!(error.to_string().contains("/nonexistent/x.png"), "{error}");
}

#[test]
fn smart_resized_image_has_the_smart_resize_size() {
    let image = ItemImage::Encoded {
        bytes: Arc::from(gray_png(20, 16)),
        origin: "test".into(),
    };
    let resized = to_rgb_smart_resized(&image, ResizeBounds::default()).expect("resize");
    // width 20, height 16 → (h, w) = (56, 84)
    assert_eq!((resized.height, resized.width), (56, 84));
    assert_eq!(resized.pixels.len(), 56 * 84 * 3);
}
