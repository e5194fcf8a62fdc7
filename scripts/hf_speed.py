#!/usr/bin/env python3
"""CPU speed of Hugging Face transformers on the shapes `cargo bench --bench policy` times.

Run by hand (not by CI) on the machine that runs the Rust bench, right before or after it, so the
two can be compared side by side:

    python3 -m venv /tmp/hf && /tmp/hf/bin/pip install torch transformers
    /tmp/hf/bin/python scripts/hf_speed.py

Random f32 weights, one thread per core, the same prompts and lengths as benches/policy.rs:
  * Qwen2 (vocab 151,936, hidden 256, 4 layers, 4 heads, 2 kv heads, intermediate 688, tied):
    batch 32, 64 prompt + 64 new tokens, top-p 0.9; and one SFT step (AdamW) on 8 × 256 tokens.
  * the Qwen2.5-0.5B shape: batch 1, 64 prompt + 32 new tokens, greedy.
Prints the median of a few timed repetitions after a warm-up.
"""

import os
import statistics
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

VOCAB = 151_936


def prompts(batch, length):
    """The token ids of benches/policy.rs `prompts`."""
    return torch.tensor(
        [[(r * 7919 + i * 104_729) % VOCAB for i in range(length)] for r in range(batch)],
        dtype=torch.long,
    )


def model(hidden, intermediate, layers, heads, kv_heads, seed):
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        torch_dtype=torch.float32,
    )
    return Qwen2ForCausalLM(config).eval()


def median_seconds(call, repeats):
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def generate(net, ids, new_tokens, sample):
    with torch.no_grad():
        net.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=sample,
            top_p=0.9 if sample else None,
            top_k=0 if sample else None,
            temperature=1.0 if sample else None,
            pad_token_id=0,
        )


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    small = model(256, 688, 4, 4, 2, seed=1)
    ids = prompts(32, 64)
    seconds = median_seconds(lambda: generate(small, ids, 64, True), 5)
    print(f"qwen2 h256 generate b32 p64 n64 top-p 0.9: {seconds:.3f} s, "
          f"{32 * 64 / seconds:.1f} tokens/s")

    small.train()
    optimizer = torch.optim.AdamW(small.parameters(), lr=1e-5, weight_decay=0.0)
    batch = prompts(8, 256)

    def sft_step():
        optimizer.zero_grad()
        loss = small(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(small.parameters(), 1.0)
        optimizer.step()

    seconds = median_seconds(sft_step, 5)
    print(f"qwen2 h256 SFT step 8x256: {seconds:.3f} s")

    large = model(896, 4864, 24, 14, 2, seed=2)
    ids = prompts(1, 64)
    seconds = median_seconds(lambda: generate(large, ids, 32, False), 5)
    print(f"qwen2.5-0.5b shape generate b1 p64 n32 greedy: {seconds:.3f} s, "
          f"{32 / seconds:.2f} tokens/s")


if __name__ == "__main__":
    main()
