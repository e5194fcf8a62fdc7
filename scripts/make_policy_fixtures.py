#!/usr/bin/env python3
"""Build the policy crate's parity fixtures with Hugging Face transformers (run by hand, not in CI).

    python3 -m venv /work/pyenv && /work/pyenv/bin/pip install -r scripts/requirements.txt
    /work/pyenv/bin/python scripts/make_policy_fixtures.py [--out policy/tests/fixtures]

Writes, under the output folder:
  tokenizer/         a tiny byte-level BPE with the Qwen2 pre-tokenizer and Qwen special tokens,
                     tokenizer_config.json with a Qwen2-VL-style chat template, and
                     token_cases.json (1,000 strings with their ids, plus rendered chats).
  qwen2_tied/        Qwen2 text model, tied embeddings, one model.safetensors.
  qwen2_untied/      Qwen2 text model, untied embeddings, sharded with model.safetensors.index.json.
  qwen25vl/          Qwen2.5-VL with a small vision tower (window + full attention blocks).
  qwen2vl/           Qwen2-VL with a small vision tower (LayerNorm, QuickGELU MLP, full attention).
Each model folder holds reference.safetensors (f32 logits at every position, token ids, and for
the vision model the raw image and HF pixel_values) and reference.json (prompts and greedy
continuations).

    /work/pyenv/bin/python scripts/make_policy_fixtures.py --check-export DIR [--adapter ADIR]

loads a checkpoint written by medgym (and optionally a PEFT LoRA adapter) with transformers/PEFT
and compares its logits with DIR/medgym_logits.safetensors (`input_ids`, `logits`).
"""

import argparse
import json
import os
import random
import shutil

import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WORDS = (
    "the patient presents with acute chest pain radiating to the left arm ct scan shows a "
    "nodule in the right upper lobe mri reveals no abnormality dose 500 mg twice daily "
    "pneumothorax fracture effusion cardiomegaly opacity lesion benign malignant answer think"
).split()
CJK = "肺部结节心脏肿瘤骨折胸腔积液影像诊断医生患者检查治疗正常异常左右上下叶"
ACCENTED = "éàüñçøåßœ"
EMOJI = "🙂🩺🫁💊🧠"
PUNCT = list(".,;:!?()[]{}-+*/=%#@&'\"<>|~^$`_\\")


def corpus(rng):
    lines = []
    for _ in range(600):
        n = rng.randint(3, 14)
        parts = []
        for _ in range(n):
            r = rng.random()
            if r < 0.6:
                parts.append(rng.choice(WORDS))
            elif r < 0.75:
                parts.append("".join(rng.choice(CJK) for _ in range(rng.randint(1, 4))))
            elif r < 0.85:
                parts.append(str(rng.randint(0, 99999)))
            else:
                parts.append(rng.choice(PUNCT))
        lines.append(" ".join(parts))
    return lines


def test_strings(rng, count):
    out = ["", " ", "\n", "\n\n  \t", "Hello, world!", "肺部结节", "I'm sure it's 3.14159"]
    pieces = (
        WORDS
        + list(CJK)
        + list(ACCENTED)
        + list(EMOJI)
        + PUNCT
        + SPECIAL_TOKENS
        + ["<think>", "</think>", "<answer>", "</answer>", "  ", "\n", "\t", "\r\n", "   \n"]
    )
    while len(out) < count:
        n = rng.randint(1, 12)
        s = ""
        for _ in range(n):
            r = rng.random()
            if r < 0.15:
                s += str(rng.randint(0, 10**rng.randint(1, 7)))
            elif r < 0.3:
                s += rng.choice(WORDS).upper() if rng.random() < 0.5 else rng.choice(WORDS).title()
            else:
                s += rng.choice(pieces)
            s += rng.choice(["", " ", " ", "  ", "\n"])
        out.append(s)
    return out[:count]


def build_tokenizer(out_dir, rng):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus(rng), trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
    )
    fast.chat_template = CHAT_TEMPLATE
    os.makedirs(out_dir, exist_ok=True)
    fast.save_pretrained(out_dir)
    # Keep the template inside tokenizer_config.json (older layout) as well as any separate file.
    cfg_path = os.path.join(out_dir, "tokenizer_config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["chat_template"] = CHAT_TEMPLATE
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False)
    jinja = os.path.join(out_dir, "chat_template.jinja")
    if os.path.exists(jinja):
        os.remove(jinja)
    for extra in ["special_tokens_map.json"]:
        p = os.path.join(out_dir, extra)
        if os.path.exists(p):
            os.remove(p)

    strings = test_strings(rng, 1000)
    cases = [{"text": s, "ids": fast.encode(s, add_special_tokens=False)} for s in strings]
    chats = [
        [{"role": "user", "content": "What is shown?"}],
        [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "肺部 nodule?"}]},
            {"role": "assistant", "content": "<think>small</think><answer>yes</answer>"},
            {"role": "user", "content": "And the heart?"},
        ],
    ]
    rendered = []
    for chat in chats:
        text = fast.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        rendered.append(
            {"messages": chat, "text": text, "ids": fast.encode(text, add_special_tokens=False)}
        )
    with open(os.path.join(out_dir, "token_cases.json"), "w") as f:
        json.dump({"cases": cases, "chats": rendered}, f, ensure_ascii=False)
    return fast


def spread_weights(model, seed, std=0.1):
    """Re-draw every weight so that logits are well separated (HF's 0.02 init gives near-ties)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=g) * std
            if name.endswith("norm.weight") or ".norm" in name or "ln_q" in name or "layernorm" in name:
                p.copy_(1.0 + noise)
            else:
                p.copy_(noise)


def greedy(model, ids, steps, extra_fn=None):
    """Greedy tokens by re-running the full forward (no cache); `extra_fn(ids)` adds model inputs."""
    ids = ids.clone()
    new = []
    for _ in range(steps):
        extra = extra_fn(ids) if extra_fn else {}
        with torch.no_grad():
            logits = model(input_ids=ids, **extra).logits[0, -1]
        nxt = int(torch.argmax(logits))
        new.append(nxt)
        ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return new


def rope_kwargs(theta, extra=None):
    """`rope_parameters` on transformers 5, `rope_theta`/`rope_scaling` on 4.x."""
    major = int(transformers.__version__.split(".")[0])
    if major >= 5:
        params = {"rope_type": "default", "rope_theta": theta}
        params.update(extra or {})
        return {"rope_parameters": params}
    kw = {"rope_theta": theta}
    if extra:
        kw["rope_scaling"] = {"type": "mrope", **extra}
    return kw


TEXT_PROMPTS = [
    "<|im_start|>user\nThe patient presents with chest pain.<|im_end|>\n<|im_start|>assistant\n",
    "肺部结节 in the right upper lobe",
    "dose 500 mg",
]


def text_model(out_dir, tok, tied, seed, shard):
    cfg = transformers.Qwen2Config(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rms_norm_eps=1e-6,
        tie_word_embeddings=tied,
        bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        **rope_kwargs(1000000.0),
    )
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = transformers.Qwen2ForCausalLM(cfg).eval()
    spread_weights(model, seed)
    if tied:
        model.tie_weights()
    os.makedirs(out_dir, exist_ok=True)
    kw = {"max_shard_size": "40KB"} if shard else {}
    model.save_pretrained(out_dir, safe_serialization=True, **kw)
    tok.save_pretrained(out_dir)
    tensors, prompts = {}, []
    for i, text in enumerate(TEXT_PROMPTS):
        ids = torch.tensor([tok.encode(text, add_special_tokens=False)])
        with torch.no_grad():
            tensors[f"logits_{i}"] = model(input_ids=ids).logits[0].float().contiguous()
        tensors[f"ids_{i}"] = ids[0].to(torch.int64)
        prompts.append({"text": text, "ids": ids[0].tolist(), "greedy": greedy(model, ids, 10)})
    save_file(tensors, os.path.join(out_dir, "reference.safetensors"))
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "prompts": prompts}, f, ensure_ascii=False)


def make_image(height, width, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([(xx * 3 + yy) % 256, (yy * 5) % 256, (xx * yy) % 256], axis=-1)
    noise = rng.integers(0, 40, size=(height, width, 3))
    return ((base + noise) % 256).astype(np.uint8)


def vl_model(out_dir, tok, seed, qwen2_vl=False):
    ids_of = tok.convert_tokens_to_ids
    text_cfg = dict(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        bos_token_id=ids_of("<|endoftext|>"),
        eos_token_id=ids_of("<|im_end|>"),
        **rope_kwargs(1000000.0, {"mrope_section": [2, 3, 3]}),
    )
    if qwen2_vl:
        # Qwen2-VL: LayerNorm, fc1/fc2 QuickGELU MLP, full attention everywhere; `embed_dim` is the tower width.
        vision_cfg = dict(
            depth=2, embed_dim=32, hidden_size=64, mlp_ratio=2, num_heads=2, in_chans=3,
            patch_size=14, spatial_merge_size=2, temporal_patch_size=2, hidden_act="quick_gelu",
        )
        config_cls, model_cls = transformers.Qwen2VLConfig, transformers.Qwen2VLForConditionalGeneration
    else:
        vision_cfg = dict(
            depth=4,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            in_chans=3,
            out_hidden_size=64,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=112,
            fullatt_block_indexes=[1, 3],
            hidden_act="silu",
            tokens_per_second=2,
        )
        config_cls, model_cls = transformers.Qwen2_5_VLConfig, transformers.Qwen2_5_VLForConditionalGeneration
    cfg = config_cls(
        text_config=text_cfg,
        vision_config=vision_cfg,
        image_token_id=ids_of("<|image_pad|>"),
        video_token_id=ids_of("<|video_pad|>"),
        vision_start_token_id=ids_of("<|vision_start|>"),
        vision_end_token_id=ids_of("<|vision_end|>"),
        **text_cfg,
    )
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = model_cls(cfg).eval()
    spread_weights(model, seed)
    model.tie_weights()
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)

    height, width = 112, 140
    image = make_image(height, width, seed)
    from PIL import Image

    proc = transformers.Qwen2VLImageProcessor(
        min_pixels=28 * 28, max_pixels=1024 * 28 * 28, patch_size=14, merge_size=2, temporal_patch_size=2
    )
    batch = proc(images=[Image.fromarray(image)], do_resize=False, return_tensors="pt")
    pixel_values = batch["pixel_values"].float()
    grid = batch["image_grid_thw"]
    assert grid.tolist() == [[1, height // 14, width // 14]], grid
    n_image_tokens = (height // 28) * (width // 28)
    with_image = (
        "<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * n_image_tokens
        + "<|vision_end|>Is there a nodule?<|im_end|>\n<|im_start|>assistant\n"
    )
    without_image = "<|im_start|>user\nIs there a nodule?<|im_end|>\n<|im_start|>assistant\n"
    tensors = {
        "image": torch.from_numpy(image.copy()),
        "pixel_values": pixel_values.contiguous(),
        "image_grid_thw": grid.to(torch.int64),
    }
    prompts = []
    for i, (text, has_image) in enumerate([(with_image, True), (without_image, False)]):
        ids = torch.tensor([tok.encode(text, add_special_tokens=False)])

        def extra_fn(current, has_image=has_image):
            if not has_image:
                return {}
            # transformers 5 needs the token types to build 3-D (M-RoPE) positions; image tokens are 1.
            types = (current == cfg.image_token_id).to(torch.int32)
            return {"pixel_values": pixel_values, "image_grid_thw": grid, "mm_token_type_ids": types}

        with torch.no_grad():
            tensors[f"logits_{i}"] = model(input_ids=ids, **extra_fn(ids)).logits[0].float().contiguous()
        tensors[f"ids_{i}"] = ids[0].to(torch.int64)
        prompts.append(
            {"text": text, "has_image": has_image, "ids": ids[0].tolist(), "greedy": greedy(model, ids, 6, extra_fn)}
        )
    with torch.no_grad():
        vision = model.model.visual if hasattr(model, "model") and hasattr(model.model, "visual") else model.visual
        tensors["image_embeds"] = vision(pixel_values, grid_thw=grid)
        if not torch.is_tensor(tensors["image_embeds"]):
            tensors["image_embeds"] = tensors["image_embeds"].pooler_output
        tensors["image_embeds"] = tensors["image_embeds"].float().contiguous()
    save_file(tensors, os.path.join(out_dir, "reference.safetensors"))
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(
            {"transformers": transformers.__version__, "height": height, "width": width, "prompts": prompts},
            f,
            ensure_ascii=False,
        )


def check_export(model_dir, adapter_dir):
    ref = load_file(os.path.join(model_dir, "medgym_logits.safetensors"))
    with open(os.path.join(model_dir, "config.json")) as f:
        model_type = json.load(f)["model_type"]
    auto = transformers.AutoModelForImageTextToText if model_type == "qwen2_5_vl" else transformers.AutoModelForCausalLM
    model = auto.from_pretrained(model_dir, dtype=torch.float32).eval()
    label = f"{model_type} full checkpoint"
    ids = ref["input_ids"].to(torch.int64).unsqueeze(0)
    if adapter_dir:
        import peft

        with torch.no_grad():
            base_logits = model(input_ids=ids).logits[0]
        model = peft.PeftModel.from_pretrained(model, adapter_dir).eval()
        label = f"{model_type} LoRA adapter (peft {peft.__version__})"
        ref = load_file(os.path.join(adapter_dir, "medgym_logits.safetensors"))
        moved = (base_logits - ref["logits"]).abs().max().item()
        print(f"{label}: the adapter moves medgym's logits by up to {moved:.3e} from the base model")
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
    diff = (logits - ref["logits"]).abs().max().item()
    print(f"{label}: transformers {transformers.__version__}, max |logit diff| vs medgym = {diff:.3e}")
    if diff > 1e-4:
        raise SystemExit(f"{label}: logits differ by {diff}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "policy", "tests", "fixtures"))
    ap.add_argument("--check-export")
    ap.add_argument("--adapter")
    args = ap.parse_args()
    if args.check_export:
        check_export(args.check_export, args.adapter)
        return
    torch.set_grad_enabled(False)
    rng = random.Random(20261125)
    out = os.path.abspath(args.out)
    tok_dir = os.path.join(out, "tokenizer")
    shutil.rmtree(tok_dir, ignore_errors=True)
    tok = build_tokenizer(tok_dir, rng)
    for name, tied, shard in [("qwen2_tied", True, False), ("qwen2_untied", False, True)]:
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        text_model(d, tok, tied, seed=7 if tied else 8, shard=shard)
    d = os.path.join(out, "qwen25vl")
    shutil.rmtree(d, ignore_errors=True)
    vl_model(d, tok, seed=9)
    d = os.path.join(out, "qwen2vl")
    shutil.rmtree(d, ignore_errors=True)
    vl_model(d, tok, seed=10, qwen2_vl=True)
    print(f"fixtures written to {out} with transformers {transformers.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
