#!/usr/bin/env python3
"""Builds envs/tests/fixtures/: a few real benchmark rows (copied from public releases, see the
fixtures README for sources and licences) in each benchmark's native layout, with tiny generated
images. Needs pyarrow and pillow. Run from the repository root:
    python3 scripts/make_envs_fixtures.py SAMPLES_DIR
where SAMPLES_DIR holds vqa-rad/, slake/, pathvqa/, medxpertqa/, mmmu/ sample files."""

import csv
import io
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

OUT = os.path.join("envs", "tests", "fixtures")


def image_bytes(seed, fmt="PNG", size=(20, 16), gray=False):
    img = Image.new("L" if gray else "RGB", size)
    img.putdata([((x * 7 + y * 3 + seed * 31) % 256) if gray else
                 ((x * 7 + seed) % 256, (y * 11) % 256, (seed * 53) % 256)
                 for y in range(size[1]) for x in range(size[0])])
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_json(path, rows, lines=False):
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n" if lines else json.dumps(rows, ensure_ascii=False, indent=1)
    write(path, text.encode("utf-8"))


def image_struct(seed, gray=False):
    return {"bytes": image_bytes(seed, gray=gray), "path": f"image_{seed}.png"}


def write_parquet(table, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path, compression="snappy")


def main(samples):
    # VQA-RAD original JSON + image folder (real rows).
    rad = json.load(open(os.path.join(samples, "vqa-rad", "VQA_RAD Dataset Public.json")))
    rows = [r for r in rad if r["phrase_type"] in ("freeform", "para")][:4] + [r for r in rad if r["phrase_type"].startswith("test")][:3]
    rows += [r for r in rad if isinstance(r["answer"], int)][:1]
    base = os.path.join(OUT, "vqa-rad-json")
    write_json(os.path.join(base, "VQA_RAD Dataset Public.json"), rows)
    for i, name in enumerate(sorted({r["image_name"] for r in rows})):
        write(os.path.join(base, "VQA_RAD Image Folder", name), image_bytes(i, "JPEG", gray=True))
    # VQA-RAD MEVF split (real rows).
    base = os.path.join(OUT, "vqa-rad-mevf")
    for name in ("trainset.json", "testset.json"):
        part = json.load(open(os.path.join(samples, "vqa-rad", name)))[:3]
        write_json(os.path.join(base, name), part)
        for i, img in enumerate(sorted({r["image_name"] for r in part})):
            write(os.path.join(base, "images", img), image_bytes(i + 10, "JPEG", gray=True))
    # VQA-RAD Hugging Face parquet (real question/answer pairs, lowercased like the HF copy).
    base = os.path.join(OUT, "vqa-rad-parquet", "data")
    for split, part in (("train", rad[:3]), ("test", [r for r in rad if r["phrase_type"].startswith("test")][:2])):
        table = pa.table({
            "image": [image_struct(i) for i in range(len(part))],
            "question": [r["question"] for r in part],
            "answer": [str(r["answer"]).lower() for r in part],
        })
        write_parquet(table, os.path.join(base, f"{split}-00000-of-00001.parquet"))
    # SLAKE: train/validation/test JSON (real rows, English and Chinese) + imgs/.
    base = os.path.join(OUT, "slake")
    names = set()
    for src, dst in (("train.json", "train.json"), ("validate.json", "validation.json"), ("test.json", "test.json")):
        data = json.load(open(os.path.join(samples, "slake", src)))
        part = [r for r in data if r["q_lang"] == "en"][:3] + [r for r in data if r["q_lang"] == "zh"][:2]
        write_json(os.path.join(base, dst), part)
        names |= {r["img_name"] for r in part}
    for i, name in enumerate(sorted(names)):
        write(os.path.join(base, "imgs", name), image_bytes(i, "JPEG"))
    # PathVQA Hugging Face parquet (real question/answer pairs from the LXMERT release).
    base = os.path.join(OUT, "path-vqa", "data")
    for split, src in (("train", "pvqa_train.json"), ("validation", "pvqa_val.json"), ("test", "pvqa_test.json")):
        data = json.load(open(os.path.join(samples, "pathvqa", src)))
        pairs = []
        for r in data:
            for q, label in zip(r["sentf"]["pvqa"], r["labelf"]["pvqa"]):
                pairs.append((q, next(iter(label))))
            if len(pairs) >= 3:
                break
        pairs = pairs[:3]
        table = pa.table({
            "image": [image_struct(i + 20) for i in range(len(pairs))],
            "question": [q for q, _ in pairs],
            "answer": [a for _, a in pairs],
        })
        write_parquet(table, os.path.join(base, f"{split}-00000-of-00001.parquet"))
    # PMC-VQA v1 (the dataset card's sample row plus made-up rows) and v2 (made-up rows).
    base = os.path.join(OUT, "pmc-vqa-v1")
    with open(os.path.join(os.makedirs(base, exist_ok=True) or base, "test.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"])
        w.writerow(["PMC1064097_F1.jpg", "What is the uptake pattern in the breast?", "Focal uptake pattern",
                    "A:Diffuse uptake pattern", "B:Focal uptake pattern", "C:No uptake pattern",
                    "D:Cannot determine from the information given", "B"])
        w.writerow(["synthetic_1.jpg", "Which side shows the lesion?", "Left", " A:Left", " B:Right", " C:Both", " D:Neither", "A"])
    for i, name in enumerate(["PMC1064097_F1.jpg", "synthetic_1.jpg"]):
        write(os.path.join(base, "images", name), image_bytes(i + 30, "JPEG"))
    base = os.path.join(OUT, "pmc-vqa-v2")
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, "test_2.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "Figure_path", "Caption", "Question", "Choice A", "Choice B", "Choice C", "Choice D", "Answer", "split"])
        w.writerow([0, "synthetic_2.jpg", "Axial CT, contrast.", "What modality is shown?", "A:CT", "B:MRI", "C:X-ray", "D:Ultrasound", "A", "test"])
        w.writerow([1, "synthetic_3.jpg", "A caption, with a comma.", "Where is the mass?", "A:Liver", "B:Spleen", "C:Kidney", "D:Lung", "C", "test"])
    for i, name in enumerate(["synthetic_2.jpg", "synthetic_3.jpg"]):
        write(os.path.join(base, "figures", name), image_bytes(i + 40, "JPEG"))
    # OmniMedVQA original layout (made-up rows in the documented schema).
    base = os.path.join(OUT, "omnimedvqa")
    rows = [
        {"question_id": "MIAS_0001", "dataset": "MIAS", "question_type": "Modality Recognition", "modality_type": "X-Ray",
         "question": "What imaging technique is used for this picture?", "gt_answer": "Mammography",
         "image_path": "Images/MIAS/synthetic_1.png", "option_A": "X-ray", "option_B": "MRI", "option_C": "Echocardiogram", "option_D": "Mammography"},
        {"question_id": "MIAS_0002", "dataset": "MIAS", "question_type": "Disease Diagnosis", "modality": "X-Ray",
         "question": "Is the finding benign or malignant?", "gt_answer": "Benign",
         "image_path": "Images/MIAS/synthetic_2.png", "option_A": "Malignant", "option_B": "Benign"},
    ]
    write_json(os.path.join(base, "QA_information", "Open-access", "MIAS.json"), rows)
    for i, r in enumerate(rows):
        write(os.path.join(base, r["image_path"]), image_bytes(i + 50, gray=True))
    # MMMU Health & Medicine parquet (real option lists and answers from the MMMU repo's validation outputs).
    base = os.path.join(OUT, "mmmu-med")
    outs = json.load(open(os.path.join(samples, "mmmu", "example_outputs", "llava1.5_13b", "Clinical_Medicine", "output.json")))
    part = [r for r in outs if r["question_type"] == "multiple-choice"][:2]
    table = pa.table({
        "id": [r["id"] for r in part] + ["validation_Clinical_Medicine_open"],
        "question": ["<image 1> Which finding is most consistent with the image?", "Compare <image 1> and <image 2>. What is shown?", "<image 1> How many lesions are visible?"],
        "options": [repr([r["index2ans"][k] for k in sorted(r["index2ans"])]) for r in part] + ["[]"],
        "answer": [r["answer"] for r in part] + ["['3']"],
        "question_type": ["multiple-choice", "multiple-choice", "open"],
        "image_1": [image_struct(60), image_struct(61), image_struct(62)],
        "image_2": [None, image_struct(63), None],
        "subfield": ["Clinical Radiology", "Pathology", "Clinical Radiology"],
    })
    write_parquet(table, os.path.join(base, "Clinical_Medicine", "validation-00000-of-00001.parquet"))
    # MedXpertQA MM: evaluation-repository rows (real) and one Hugging Face-layout row (made up).
    base = os.path.join(OUT, "medxpertqa-mm")
    lines = [json.loads(l) for l in open(os.path.join(samples, "medxpertqa", "medxpertqa_mm_input.jsonl"))][:2]
    lines.append({"id": "MM-synthetic", "question": "Which structure is marked?\nAnswer Choices: (A) a (B) b (C) c (D) d (E) e",
                  "options": {"A": "Aorta", "B": "Vena cava", "C": "Trachea", "D": "Esophagus", "E": "Thymus"},
                  "label": "C", "images": ["MM-synthetic-a.png"], "medical_task": "Diagnosis", "body_system": "Cardiovascular",
                  "question_type": "Understanding"})
    write_json(os.path.join(base, "MM", "test.jsonl"), lines, lines=True)
    names = []
    for r in lines:
        for img in r["images"]:
            names.append(img["image_path"] if isinstance(img, dict) else img)
    for i, name in enumerate(names):
        write(os.path.join(base, "images", name), image_bytes(i + 70))


if __name__ == "__main__":
    main(sys.argv[1])
