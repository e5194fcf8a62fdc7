//! Train–inference consistency: the log-probabilities the sampler reports during KV-cached, batched,
//! left-padded rollouts equal what the trainer recomputes with one full forward pass.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor, D};
use medgym_envs::{task, Split, TaskFamily, SYSTEM_PROMPT};
use medgym_kernels::{CpuSampler, SamplingParams};
use medgym_policy::{Policy, PolicyConfig, PolicyTokenizer, SequenceInput, VisionConfig};
use medgym_rollout::{prompt_only_tokens, PromptJob, RolloutConfig, RolloutEngine};
use medgym_train::batch::response_logprobs;

fn setup() -> (Policy, PolicyTokenizer, Vec<PromptJob>) {
    let families: Vec<Arc<dyn TaskFamily>> = ["medsynth/lesion-count-v1", "medsynth/modality-v1"]
        .iter()
        .map(|id| task(id).unwrap())
        .collect();
    let mut corpus = vec![SYSTEM_PROMPT.to_string()];
    for f in &families {
        for i in 0..40 {
            let item = f.item(Split::Train, 1, i).unwrap();
            corpus.push(item.question);
            corpus.push(item.reference_response);
        }
    }
    let tokenizer = PolicyTokenizer::train_bpe(&corpus, 300).unwrap();
    let s = tokenizer.special();
    let config = PolicyConfig {
        model_type: "medgym_vl".into(),
        vocab_size: tokenizer.vocab_size(),
        hidden_size: 32,
        intermediate_size: 48,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 256,
        rope_theta: 10000.0,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: true,
        image_token_id: s.image_pad,
        vision_start_token_id: s.vision_start,
        vision_end_token_id: s.vision_end,
        eos_token_id: s.im_end,
        pad_token_id: s.endoftext,
        vision_config: VisionConfig {
            image_size: 64,
            patch_size: 16,
            in_channels: 1,
            hidden_size: 16,
            depth: 1,
            num_heads: 2,
            intermediate_size: 24,
            spatial_merge_size: 2,
        },
    };
    let policy = Policy::new_random(&config, 4, DType::F32, &Device::Cpu).unwrap();
    let jobs = families
        .iter()
        .flat_map(|f| {
            (0..2).map(move |i| PromptJob {
                task: f.clone(),
                item: f.item(Split::Eval, 2, i).unwrap(),
            })
        })
        .collect();
    (policy, tokenizer, jobs)
}

#[test]
fn sampler_logprobs_equal_full_recomputation() {
    let (policy, tokenizer, jobs) = setup();
    let cfg = RolloutConfig {
        group_size: 3,
        max_new_tokens: 10,
        sampling: SamplingParams::default(),
        seed: 17,
        sequence_offset: 0,
        workers: 2,
        rows_per_chunk: 5,
    };
    let trajs = RolloutEngine::new(&policy, &tokenizer, &CpuSampler)
        .run(&jobs, &cfg)
        .unwrap()
        .trajectories;
    let banned = prompt_only_tokens(policy.config());
    let prompts: Vec<SequenceInput> = trajs.iter().map(|t| t.prompt.clone()).collect();
    let responses: Vec<Vec<u32>> = trajs.iter().map(|t| t.response_ids.clone()).collect();
    let batched: Vec<Vec<f32>> = response_logprobs(&policy, &prompts, &responses)
        .unwrap()
        .logp
        .to_vec2()
        .unwrap();
    let mut compared = 0;
    for (row, t) in trajs.iter().enumerate() {
        let mut seq = t.prompt.clone();
        seq.token_ids.extend_from_slice(&t.response_ids);
        let (logits, _) = policy.forward(std::slice::from_ref(&seq)).unwrap();
        let logits: Vec<Vec<f32>> = logits.get(0).unwrap().to_vec2().unwrap();
        let p = t.prompt.token_ids.len();
        for (k, &token) in t.response_ids.iter().enumerate() {
            let mut col = logits[p - 1 + k].clone();
            // The trainer's view: plain log-softmax.
            let plain = Tensor::new(col.as_slice(), &Device::Cpu).unwrap();
            let plain: Vec<f32> = candle_nn::ops::log_softmax(&plain, D::Minus1)
                .unwrap()
                .to_vec1()
                .unwrap();
            assert!(
                (plain[token as usize] - batched[row][k]).abs() < 1e-4,
                "row {row} token {k}: batched {} vs single {}",
                batched[row][k],
                plain[token as usize]
            );
            // The sampler's view: prompt-only tokens banned.
            for &b in &banned {
                col[b as usize] = f32::NEG_INFINITY;
            }
            let masked = Tensor::new(col.as_slice(), &Device::Cpu).unwrap();
            let masked: Vec<f32> = candle_nn::ops::log_softmax(&masked, D::Minus1)
                .unwrap()
                .to_vec1()
                .unwrap();
            assert!(
                (masked[token as usize] - t.sampler_logprobs[k]).abs() < 1e-4,
                "row {row} token {k}: sampler {} vs recomputed {}",
                t.sampler_logprobs[k],
                masked[token as usize]
            );
            compared += 1;
        }
    }
    assert!(compared > 60, "only {compared} tokens compared");
}
