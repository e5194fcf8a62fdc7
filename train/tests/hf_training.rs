//! SFT and GRPO on Hugging Face checkpoints (the tiny random fixtures of the policy crate): the
//! training log-probabilities of a padded batch match a plain forward of each sequence, the
//! sampler's differ from them only by the prompt-only tokens it never draws, GRPO raises a reward
//! the checkpoint can learn and SFT lowers the loss on reference responses, the same on every run.

mod common;

use std::sync::Arc;

use candle_core::Device;
use common::{
    letter_config, letter_stream, load, load_with_adapters, prompts_and_cut_responses, rollout,
    sft_config, snapshot,
};
use medgym_envs::{task_at, Split};
use medgym_kernels::CpuSampler;
use medgym_policy::hf::HfInput;
use medgym_rollout::{HfPolicy, RolloutModel};
use medgym_train::{hf_response_logprobs, run_grpo_on, run_sft_on, TaskStream, TrainModel};

#[test]
fn training_log_probs_match_a_plain_forward_and_the_samplers_differ_only_by_banned_tokens() {
    let (model, tokenizer, bounds) = load("qwen25vl", &Device::Cpu);
    let policy = HfPolicy::new(&model, &tokenizer, bounds).expect("policy");
    // An image task and a text task, so that prompts differ in length and rows get padded;
    // responses cut to different lengths as well.
    let batch = rollout(&policy, 1.0);
    let (prompts, responses) = prompts_and_cut_responses(&batch);
    let distinct = |lengths: Vec<usize>| {
        lengths
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    assert!(distinct(prompts.iter().map(|p| p.token_ids.len()).collect()) > 1);
    assert!(distinct(responses.iter().map(Vec::len).collect()) > 1);
    // Rows of a group share their prompt's `Arc`: each prompt runs once. The same prompts held
    // apart run as concatenated sequences, with the same results.
    assert!(prompts
        .windows(2)
        .any(|pair| Arc::ptr_eq(&pair[0], &pair[1])));
    let scored = hf_response_logprobs(&model, &prompts, &responses).expect("log-probs");
    let apart: Vec<Arc<HfInput>> = prompts
        .iter()
        .map(|p| Arc::new(HfInput::clone(p)))
        .collect();
    let unshared = hf_response_logprobs(&model, &apart, &responses).expect("log-probs");
    assert_eq!(
        unshared.mask.to_vec2::<f32>().expect("mask"),
        scored.mask.to_vec2::<f32>().expect("mask")
    );
    assert_eq!(unshared.tokens, scored.tokens);
    let gap = (&unshared.logp - &scored.logp)
        .and_then(|d| d.abs())
        .and_then(|d| d.max_all())
        .and_then(|d| d.to_scalar::<f32>())
        .expect("gap");
    assert!(gap < 1e-5, "shared and apart prompts differ by {gap}");
    let logp: Vec<Vec<f32>> = scored.logp.to_vec2().expect("logp");
    let mask: Vec<Vec<f32>> = scored.mask.to_vec2().expect("mask");
    let banned = policy.prompt_only_tokens();
    for (row, trajectory) in batch.trajectories.iter().enumerate() {
        // One sequence alone (no padding): log-softmax of the logits before each response token,
        // over every token (training) and over the tokens the sampler may draw (rollout).
        let sequence = HfInput {
            token_ids: prompts[row]
                .token_ids
                .iter()
                .chain(&responses[row])
                .copied()
                .collect(),
            images: prompts[row].images.clone(),
        };
        let (logits, _) = model
            .forward(std::slice::from_ref(&sequence))
            .expect("forward");
        let logits: Vec<Vec<f32>> = logits.squeeze(0).and_then(|l| l.to_vec2()).expect("logits");
        let first = sequence.token_ids.len() - responses[row].len();
        for (t, &token) in responses[row].iter().enumerate() {
            let before = &logits[first + t - 1];
            let log_sum = |keep: &dyn Fn(usize) -> bool| {
                let terms = before.iter().enumerate().filter(|&(id, _)| keep(id));
                let max = terms
                    .clone()
                    .map(|(_, &x)| f64::from(x))
                    .fold(f64::MIN, f64::max);
                max + terms
                    .map(|(_, &x)| (f64::from(x) - max).exp())
                    .sum::<f64>()
                    .ln()
            };
            let x = f64::from(before[token as usize]);
            let trained = x - log_sum(&|_| true);
            let drawable = x - log_sum(&|id| !banned.contains(&(id as u32)));
            assert_eq!(mask[row][t], 1.0);
            assert!(
                (f64::from(logp[row][t]) - trained).abs() < 1e-4,
                "row {row} token {t}: trained {} vs {trained}",
                logp[row][t]
            );
            let sampled = f64::from(trajectory.sampler_logprobs[t]);
            assert!(
                (sampled - drawable).abs() < 1e-4,
                "row {row} token {t}: sampled {sampled} vs {drawable}"
            );
        }
        assert!(mask[row][responses[row].len()..].iter().all(|&m| m == 0.0));
    }
    // A response needs a prompt before it: nothing predicts a first token.
    let empty = Arc::new(HfInput::default());
    let refused = hf_response_logprobs(&model, &[empty], &[vec![1, 2]]);
    assert!(refused.is_err());
}

fn grpo_rewards() -> Vec<f64> {
    let (mut model, tokenizer, bounds) = load("qwen2_tied", &Device::Cpu);
    model.unfreeze(|_| true).expect("unfreeze");
    let policy = HfPolicy::new(&model, &tokenizer, bounds).expect("policy");
    let before: Vec<f32> = policy.trainable(true)[0]
        .1
        .flatten_all()
        .and_then(|t| t.to_vec1())
        .expect("weights");
    let stream = letter_stream();
    let config = letter_config(16, 0.01);
    let sampler = CpuSampler;
    let metrics = run_grpo_on(&policy, &sampler, &stream, &config, |_| {}).expect("grpo");
    assert!(metrics.iter().all(|m| m.loss.is_finite()), "{metrics:?}");
    let after: Vec<f32> = policy.trainable(true)[0]
        .1
        .flatten_all()
        .and_then(|t| t.to_vec1())
        .expect("weights");
    assert_ne!(before, after, "GRPO updated the checkpoint's weights");
    metrics
        .iter()
        .map(|m| m.reward_mean.expect("reward"))
        .collect()
}

#[test]
fn grpo_raises_a_learnable_reward_and_repeats_by_seed() {
    let rewards = grpo_rewards();
    let mean = |part: &[f64]| part.iter().sum::<f64>() / part.len() as f64;
    let (first, last) = (mean(&rewards[..4]), mean(&rewards[rewards.len() - 4..]));
    eprintln!("reward by step: {rewards:?}");
    assert!(
        last > first + 0.05,
        "reward rose from {first:.3} to {last:.3} only"
    );
    assert_eq!(rewards, grpo_rewards(), "same seed, same run");
}

#[test]
fn lora_grpo_with_a_kl_reference_trains_only_the_adapters() {
    let (model, tokenizer, bounds) = load_with_adapters(&Device::Cpu);
    let base_before = snapshot(model.named_vars());
    let lora_before = snapshot(model.lora_vars());
    let policy = HfPolicy::new(&model, &tokenizer, bounds).expect("policy");
    assert_eq!(
        policy.trainable(true).len(),
        lora_before.len(),
        "only the adapters train"
    );
    let stream = letter_stream();
    let config = letter_config(4, 0.05);
    let sampler = CpuSampler;
    let metrics = run_grpo_on(&policy, &sampler, &stream, &config, |_| {}).expect("grpo");
    assert!(
        metrics.iter().any(|m| m.loss.is_finite()),
        "a step learned: {metrics:?}"
    );
    assert_eq!(
        snapshot(model.named_vars()),
        base_before,
        "the base stays bit for bit"
    );
    assert_ne!(
        snapshot(model.lora_vars()),
        lora_before,
        "the adapters moved"
    );
}

#[test]
fn sft_on_a_checkpoint_learns_the_reference_responses() {
    let (model, tokenizer, bounds) = load("qwen25vl", &Device::Cpu);
    let policy = HfPolicy::new(&model, &tokenizer, bounds).expect("policy");
    let response = policy.encode_response("<think>x</think>").expect("encode");
    assert_eq!(
        response.last().copied(),
        tokenizer.token_id("<|im_end|>"),
        "a response ends its turn"
    );
    let task = task_at("medsynth/lesion-count-v1", None).expect("task");
    let item = task.item(Split::Train, 2, 0).expect("item");
    let prompt = policy
        .encode_prompt(&task.observation(&item))
        .expect("prompt");
    let opening = tokenizer.encode("<|im_start|>assistant\n").expect("encode");
    assert!(
        prompt.token_ids.ends_with(&opening),
        "the response follows the assistant turn's opening"
    );
    let stream = TaskStream::new(vec![task], Split::Train, 2).expect("stream");
    let steps = 8;
    let config = sft_config(steps);
    let losses = |policy: &HfPolicy<'_>| -> Vec<f64> {
        run_sft_on(policy, true, &stream, &config, |_| {})
            .expect("sft")
            .iter()
            .map(|m| m.loss)
            .collect()
    };
    let first_run = losses(&policy);
    assert!(
        first_run[steps - 1] < 0.7 * first_run[0],
        "loss fell: {first_run:?}"
    );
    let (again, tokenizer, bounds) = load("qwen25vl", &Device::Cpu);
    let second_run = losses(&HfPolicy::new(&again, &tokenizer, bounds).expect("policy"));
    assert_eq!(first_run, second_run, "same seed, same run");
}
