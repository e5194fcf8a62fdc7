//! One-shot timings of the policy bench scenarios (random f32 weights, CPU), printed as numbers.
//! The criterion bench `benches/policy.rs` measures the same with repetitions.
//!
//! cargo run --release -p medgym-policy --example policy_speed [gen|sft|sft-frozen-embed|sft-lora|05b|group|group-distinct]...

use std::time::Instant;

use candle_core::{DType, Device, D};
use medgym_policy::hf::{HfConfig, HfInput, HfModel, LoraConfig, LoraInit};
use medgym_policy::Result;

const VOCAB: usize = 151_936;

fn prompts(batch: usize, len: usize) -> Vec<HfInput> {
    (0..batch)
        .map(|r| HfInput {
            token_ids: (0..len)
                .map(|i| ((r * 7919 + i * 104_729) % VOCAB) as u32)
                .collect(),
            images: Vec::new(),
        })
        .collect()
}

/// Greedy batched generation; returns (tokens/s over prefill + decode, prefill seconds, decode tokens/s).
fn generation(model: &HfModel, batch: usize, prompt: usize, new: usize) -> Result<(f64, f64, f64)> {
    let inputs = prompts(batch, prompt);
    let start = Instant::now();
    let (mut state, mut logits) = model.prefill(&inputs, new)?;
    let prefill = start.elapsed().as_secs_f64();
    let decode_start = Instant::now();
    for step in 0..new {
        let next: Vec<u32> = logits.argmax(D::Minus1)?.to_vec1()?;
        if step + 1 < new {
            logits = model.decode(&mut state, &next)?;
        }
    }
    let decode = decode_start.elapsed().as_secs_f64();
    Ok((
        (batch * new) as f64 / start.elapsed().as_secs_f64(),
        prefill,
        (batch * (new - 1)) as f64 / decode,
    ))
}

fn report(label: &str, (overall, prefill, decode): (f64, f64, f64)) {
    println!("{label}: {overall:.1} tokens/s overall (prefill {prefill:.2} s, decode {decode:.1} tokens/s)");
}

/// Three SFT steps at 8×256 (log-probs, backward, a plain SGD update of whatever got a gradient).
fn sft_steps(model: &HfModel, label: &str) -> Result<()> {
    // The first step also pays for first-touch page faults; later ones are steady.
    let inputs = prompts(8, 256);
    let vars: Vec<_> = model
        .named_vars()
        .into_iter()
        .chain(model.lora_vars())
        .collect();
    for step in 0..3 {
        let start = Instant::now();
        let logp = model.token_logprobs(&inputs)?;
        let loss = (logp.sum_all()?.neg()? / (8.0 * 255.0))?;
        let forward = start.elapsed();
        let grads = loss.backward()?;
        let lr = 1e-5;
        for (_, var) in &vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                var.set(&(var.as_tensor() - (g * lr)?)?)?;
            }
        }
        println!(
            "qwen2 h256 {label} {step} 8x256: {:.2} s (forward {:.2} s)",
            start.elapsed().as_secs_f64(),
            forward.as_secs_f64()
        );
    }
    Ok(())
}

/// GRPO's scoring of one group, forward and backward, three times over: `rows` responses of 64
/// tokens after one 256-token prompt (or, with `distinct`, each after its own prompt, as in SFT),
/// as concatenated sequences and as continuations of the prompts run once each.
fn group_scoring(model: &HfModel, label: &str, rows: usize, distinct: bool) -> Result<()> {
    let prompts = prompts(if distinct { rows } else { 1 }, 256);
    let responses: Vec<Vec<u32>> = (0..rows)
        .map(|r| {
            (0..64)
                .map(|i| ((r * 104_723 + i * 7_927 + 11) % VOCAB) as u32)
                .collect()
        })
        .collect();
    let owner = |row: usize| if distinct { row } else { 0 };
    let sequences: Vec<HfInput> = responses
        .iter()
        .enumerate()
        .map(|(row, response)| HfInput {
            token_ids: prompts[owner(row)]
                .token_ids
                .iter()
                .chain(response)
                .copied()
                .collect(),
            images: Vec::new(),
        })
        .collect();
    let picks: Vec<(usize, usize)> = (0..rows)
        .flat_map(|row| (0..64).map(move |t| (row, 256 + t)))
        .collect();
    let continuations: Vec<(usize, &[u32])> = responses
        .iter()
        .enumerate()
        .map(|(row, response)| (owner(row), response.as_slice()))
        .collect();
    for round in 0..3 {
        let start = Instant::now();
        model
            .position_logprobs(&sequences, &picks)?
            .sum_all()?
            .backward()?;
        let concatenated = start.elapsed().as_secs_f64();
        let start = Instant::now();
        model
            .continuation_logprobs(&prompts, &continuations)?
            .sum_all()?
            .backward()?;
        let shared = start.elapsed().as_secs_f64();
        println!(
            "{label} {round}: concatenated {concatenated:.2} s, prompts run once {shared:.2} s \
             ({:.2}x)",
            concatenated / shared
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    // As the medgym binary does: reuse freed buffers instead of faulting them back in each step.
    let retained = medgym_policy::memory::retain_freed_memory();
    medgym_policy::threads::settle_thread_count();
    println!("freed memory retained in the process: {retained}");
    let which: Vec<String> = std::env::args().skip(1).collect();
    let wants = |k: &str| which.is_empty() || which.iter().any(|w| w == k);
    let small = HfConfig::qwen2_text(VOCAB, 256, 688, 4, 4, 2, 4096, true)?;
    if wants("gen") || wants("sft") {
        let model = HfModel::new_random(&small, 1, DType::F32, &Device::Cpu)?;
        if wants("gen") {
            report(
                "qwen2 h256 generation b32 p64 n64 f32",
                generation(&model, 32, 64, 64)?,
            );
        }
        if wants("sft") {
            sft_steps(&model, "sft step")?;
        }
    }
    if which.iter().any(|w| w == "sft-frozen-embed") {
        // The tied embedding frozen: the output head's weight product is skipped.
        let mut model = HfModel::new_random(&small, 1, DType::F32, &Device::Cpu)?;
        model.freeze(|name| name == "model.embed_tokens.weight")?;
        sft_steps(&model, "sft step, embedding frozen")?;
    }
    if which.iter().any(|w| w == "sft-lora") {
        // LoRA training: every base parameter frozen, rank-16 adapters on all projections.
        let mut model = HfModel::new_random(&small, 1, DType::F32, &Device::Cpu)?;
        model.freeze(|_| true)?;
        let lora = LoraConfig::all_projections(16, 32.0);
        model.add_lora(&lora, LoraInit::Standard { seed: 2 })?;
        sft_steps(&model, "sft step, LoRA r16 on a frozen base")?;
    }
    for (key, distinct) in [("group", false), ("group-distinct", true)] {
        if which.iter().any(|w| w == key) {
            // The Qwen2.5-0.5B width, 12 of its 24 layers.
            let cfg = HfConfig::qwen2_text(VOCAB, 896, 4864, 12, 14, 2, 4096, true)?;
            let model = HfModel::new_random(&cfg, 3, DType::F32, &Device::Cpu)?;
            let label = if distinct {
                "0.5B width, 12 layers: 8 rows of 64 after their own 256-token prompts, round"
            } else {
                "0.5B width, 12 layers: a group of 8 rows of 64 after one 256-token prompt, round"
            };
            group_scoring(&model, label, 8, distinct)?;
        }
    }
    for (key, dtype) in [
        ("05b", DType::F32),
        ("05b-f16", DType::F16),
        ("05b-bf16", DType::BF16),
    ] {
        if which.iter().any(|w| w == key) || (which.is_empty() && key == "05b") {
            let cfg = HfConfig::qwen2_text(VOCAB, 896, 4864, 24, 14, 2, 4096, true)?;
            let model = HfModel::new_random(&cfg, 2, dtype, &Device::Cpu)?;
            report(
                &format!("qwen2.5-0.5B shape generation b1 p64 n32 {dtype:?}"),
                generation(&model, 1, 64, 32)?,
            );
        }
    }
    Ok(())
}
