"""Reference outputs of transformers' Qwen2-VL image processor for medgym's preprocessing tests.

Run by hand (not by CI):  pip install pillow numpy safetensors transformers
                          python scripts/make_image_fixtures.py
It uses the processor's PIL backend (no torch needed) and writes policy/tests/fixtures/image/:
  smart_resize.json           target sizes of transformers' smart_resize for many inputs
  <case>.png                  small synthetic source images
  cases.json                  each case's source, pixel bounds and patch grid
  pixel_values.safetensors    the processor's pixel_values for each case
  resize_cases.json           sizes of PIL bicubic resizes of noise images (and PIL's version)
  resized.safetensors         PIL's bytes for each of them
"""

import random

import json
from pathlib import Path

import numpy as np
import PIL
from PIL import Image
from safetensors.numpy import save_file
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
    Qwen2VLImageProcessorPil,
    smart_resize,
)

OUT = Path(__file__).resolve().parent.parent / "policy" / "tests" / "fixtures" / "image"


def synthetic(height, width, seed):
    """Gradients, stripes and a little deterministic noise, so resampling has edges to show."""
    state = seed
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    for y in range(height):
        for x in range(width):
            state = (state * 1103515245 + 12345) % (1 << 31)
            noise = (state >> 16) % 23
            pixels[y, x] = [
                (x * 255 // max(width - 1, 1) + noise) % 256,
                (y * 255 // max(height - 1, 1)) ^ (40 if (x // 3) % 2 else 0),
                ((x + y) * 7 + noise * 3) % 256,
            ]
    return pixels


def noise(count, seed):
    """Bytes of a 31-bit linear congruential generator; the Rust test makes the same."""
    state = seed
    out = bytearray(count)
    for i in range(count):
        state = (state * 1103515245 + 12345) % (1 << 31)
        out[i] = (state >> 16) & 255
    return np.frombuffer(bytes(out), dtype=np.uint8)


def resize_cases():
    """PIL's bicubic resize of RGB noise images: random sizes, 1-pixel sides, both pass orders."""
    rng = random.Random(7)
    sizes = [tuple(rng.randint(1, 60) for _ in range(4)) for _ in range(80)]
    sizes += [(150, 100, 140, 112), (100, 150, 56, 84), (97, 61, 28, 28), (200, 30, 56, 28),
              (33, 300, 28, 112), (1, 40, 28, 28), (40, 1, 3, 5)]
    cases, tensors = [], {}
    for index, (height, width, new_height, new_width) in enumerate(sizes):
        seed = 1000 + index
        source = noise(height * width * 3, seed).reshape(height, width, 3)
        resized = Image.fromarray(source).resize((new_width, new_height), Image.BICUBIC)
        name = f"case{index}"
        tensors[name] = np.ascontiguousarray(np.asarray(resized), dtype=np.uint8)
        cases.append({"name": name, "seed": seed, "height": height, "width": width,
                      "new_height": new_height, "new_width": new_width})
    return {"pillow": PIL.__version__, "cases": cases}, tensors


def smart_resize_table():
    rows = []
    sizes = [1, 13, 14, 20, 27, 28, 41, 42, 43, 55, 56, 70, 84, 98, 99, 100, 150, 223, 640, 1000, 4000]
    bounds = [(56 * 56, 28 * 28 * 1280), (3136, 6000), (784, 2 * 784), (100 * 100, 12845056)]
    for height in sizes:
        for width in sizes:
            for min_pixels, max_pixels in bounds:
                try:
                    expected = list(smart_resize(height, width, 28, min_pixels, max_pixels))
                except ValueError:
                    expected = None
                rows.append(
                    {
                        "height": height,
                        "width": width,
                        "min_pixels": min_pixels,
                        "max_pixels": max_pixels,
                        "expected": expected,
                    }
                )
    return rows


CASES = [
    # name, height, width, min_pixels, max_pixels
    ("round", 45, 71, 56 * 56, 28 * 28 * 1280),
    ("upscale_to_min_pixels", 20, 30, 56 * 56, 28 * 28 * 1280),
    ("downscale_to_max_pixels", 150, 100, 56 * 56, 6000),
    ("already_multiples", 56, 84, 56 * 56, 28 * 28 * 1280),
]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "smart_resize.json").write_text(json.dumps(smart_resize_table()) + "\n")
    cases = []
    tensors = {}
    for seed, (name, height, width, min_pixels, max_pixels) in enumerate(CASES, start=1):
        pixels = synthetic(height, width, seed)
        Image.fromarray(pixels).save(OUT / f"{name}.png")
        processor = Qwen2VLImageProcessorPil(
            size={"shortest_edge": min_pixels, "longest_edge": max_pixels}
        )
        out = processor(images=Image.fromarray(pixels), return_tensors="np")
        tensors[name] = np.ascontiguousarray(out["pixel_values"], dtype=np.float32)
        grid = [int(v) for v in out["image_grid_thw"][0]]
        cases.append(
            {
                "name": name,
                "source": f"{name}.png",
                "min_pixels": min_pixels,
                "max_pixels": max_pixels,
                "grid": grid,
            }
        )
        print(name, (height, width), "->", grid, tensors[name].shape)
    (OUT / "cases.json").write_text(json.dumps(cases, indent=1) + "\n")
    save_file(tensors, OUT / "pixel_values.safetensors")
    table, resized = resize_cases()
    (OUT / "resize_cases.json").write_text(json.dumps(table) + "\n")
    save_file(resized, OUT / "resized.safetensors")
    print("resize cases:", len(table["cases"]), "with Pillow", table["pillow"])


if __name__ == "__main__":
    main()
