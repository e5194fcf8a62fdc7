//! Grouped rollouts: G samples per prompt through policy + sampler on worker threads.

use std::sync::Arc;
use std::time::Instant;

use candle_core::DType;
use crossbeam::channel;
use medgym_envs::rewards::RewardBreakdown;
use medgym_envs::{TaskFamily, TaskItem};
use medgym_kernels::{RandomKey, Sampler, SamplingParams};
use medgym_policy::{Policy, PolicyConfig, PolicyTokenizer, SequenceInput};
use serde::Serialize;

use crate::error::{Result, RolloutError};
use crate::model::{BuiltinPolicy, RolloutModel};

/// Tokens that only a prompt may contain (vision markers, placeholders, padding): never sampled.
pub fn prompt_only_tokens(config: &PolicyConfig) -> [u32; 4] {
    [
        config.image_token_id,
        config.vision_start_token_id,
        config.vision_end_token_id,
        config.pad_token_id,
    ]
}

/// One prompt to roll out: a task item and the family that scores it.
#[derive(Clone)]
pub struct PromptJob {
    /// The task family (for the observation and the reward).
    pub task: Arc<dyn TaskFamily>,
    /// The item.
    pub item: TaskItem,
}

/// How rollouts are collected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutConfig {
    /// Samples per prompt (G).
    pub group_size: usize,
    /// Longest response in tokens.
    pub max_new_tokens: usize,
    /// Sampling parameters for every row.
    pub sampling: SamplingParams,
    /// Seed of the sampler's random stream.
    pub seed: u64,
    /// First sequence number; trajectory k uses sequence `sequence_offset + k`.
    pub sequence_offset: u64,
    /// Worker threads.
    pub workers: usize,
    /// Sequences generated together in one batch.
    pub rows_per_chunk: usize,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            group_size: 1,
            max_new_tokens: 64,
            sampling: SamplingParams::greedy(),
            seed: 0,
            sequence_offset: 0,
            workers: 2,
            rows_per_chunk: 64,
        }
    }
}

/// One sampled response with everything training needs; `P` is the model's prompt type.
#[derive(Debug, Clone, Serialize)]
pub struct Trajectory<P = SequenceInput> {
    /// Item id.
    pub item_id: String,
    /// Task id.
    pub task_id: String,
    /// Index of the prompt in the request (the group).
    pub group: usize,
    /// Index of the sample within its group.
    pub sample: usize,
    /// Prompt token ids (with image placeholders) and images.
    #[serde(skip)]
    pub prompt: P,
    /// Generated token ids, including the end-of-turn token when generation stopped by itself.
    pub response_ids: Vec<u32>,
    /// Log-softmax of the raw logits at each generated token.
    pub sampler_logprobs: Vec<f32>,
    /// Log-probability under the distribution actually sampled from.
    pub processed_logprobs: Vec<f32>,
    /// Decoded response text (without special tokens).
    pub response_text: String,
    /// True when the response hit `max_new_tokens` without ending its turn.
    pub truncated: bool,
    /// Scalar reward.
    pub reward: f32,
    /// Reward components and outcome.
    pub breakdown: RewardBreakdown,
}

/// Timings of one rollout call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RolloutTimings {
    /// Wall-clock seconds for the whole call.
    pub wall_seconds: f64,
    /// Seconds spent scoring (summed over workers).
    pub score_seconds: f64,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Generated tokens per wall-clock second.
    pub tokens_per_second: f64,
}

/// How a set of trajectories scored: the shares whose answer verified and whose response kept the
/// format, and the mean reward (all 0 for no trajectory).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrajectoryRates {
    /// Share of trajectories whose answer verified.
    pub accuracy: f64,
    /// Share in the think/answer format.
    pub format_rate: f64,
    /// Mean reward.
    pub mean_reward: f64,
}

impl TrajectoryRates {
    /// The rates of `trajectories`.
    pub fn of<P>(trajectories: &[Trajectory<P>]) -> Self {
        let n = trajectories.len().max(1) as f64;
        let share = |hit: fn(&RewardBreakdown) -> bool| {
            trajectories.iter().filter(|t| hit(&t.breakdown)).count() as f64 / n
        };
        Self {
            accuracy: share(|b| b.correct),
            format_rate: share(|b| b.format_ok),
            mean_reward: trajectories
                .iter()
                .map(|t| f64::from(t.reward))
                .sum::<f64>()
                / n,
        }
    }
}

/// Trajectories in request order (group after group) and timings.
#[derive(Debug, Clone)]
pub struct RolloutBatch<P = SequenceInput> {
    /// `jobs.len() × group_size` trajectories.
    pub trajectories: Vec<Trajectory<P>>,
    /// Timings.
    pub timings: RolloutTimings,
}

/// Runs prompts through a model (the built-in policy by default) and a sampler.
pub struct RolloutEngine<'a, M = BuiltinPolicy<'a>> {
    model: M,
    sampler: &'a dyn Sampler,
}

/// A finished chunk: its index, its trajectories and the seconds spent scoring them.
type ChunkResult<P> = (usize, Vec<Trajectory<P>>, f64);

struct RowPlan {
    job: usize,
    sample: usize,
    sequence: u64,
}

impl<'a> RolloutEngine<'a, BuiltinPolicy<'a>> {
    /// An engine over the built-in policy, its tokenizer and a sampler backend.
    pub fn new(
        policy: &'a Policy,
        tokenizer: &'a PolicyTokenizer,
        sampler: &'a dyn Sampler,
    ) -> Self {
        Self::with_model(BuiltinPolicy { policy, tokenizer }, sampler)
    }
}

impl<'a, M: RolloutModel> RolloutEngine<'a, M> {
    /// An engine over any rollout model (such as [`crate::HfPolicy`]) and a sampler backend.
    pub fn with_model(model: M, sampler: &'a dyn Sampler) -> Self {
        Self { model, sampler }
    }

    /// Roll out every job `group_size` times. Output order and content do not depend on thread timing.
    pub fn run(
        &self,
        jobs: &[PromptJob],
        config: &RolloutConfig,
    ) -> Result<RolloutBatch<M::Prompt>> {
        if config.group_size == 0 || config.rows_per_chunk == 0 || config.max_new_tokens == 0 {
            return Err(RolloutError::InvalidRequest(
                "group_size, rows_per_chunk and max_new_tokens must be positive".into(),
            ));
        }
        config.sampling.validate()?;
        let start = Instant::now();
        let prompts = jobs
            .iter()
            .map(|j| {
                self.model
                    .encode_prompt(&j.task.observation(&j.item))
                    .map_err(|source| RolloutError::Prompt {
                        item: j.item.id.clone(),
                        source: Box::new(source),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let plans: Vec<RowPlan> = (0..jobs.len())
            .flat_map(|job| (0..config.group_size).map(move |sample| (job, sample)))
            .enumerate()
            .map(|(k, (job, sample))| RowPlan {
                job,
                sample,
                sequence: config.sequence_offset + k as u64,
            })
            .collect();
        let chunks: Vec<&[RowPlan]> = plans.chunks(config.rows_per_chunk).collect();
        let (task_tx, task_rx) = channel::unbounded::<usize>();
        for i in 0..chunks.len() {
            task_tx
                .send(i)
                .map_err(|e| RolloutError::Worker(e.to_string()))?;
        }
        drop(task_tx);
        let workers = config.workers.max(1).min(chunks.len().max(1));
        let results = crossbeam::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    let rx = task_rx.clone();
                    let chunks = &chunks;
                    let prompts = &prompts;
                    scope.spawn(move |_| -> Result<Vec<ChunkResult<M::Prompt>>> {
                        let mut done = Vec::new();
                        while let Ok(i) = rx.recv() {
                            let (trajs, score_s) =
                                self.run_chunk(chunks[i], jobs, prompts, config)?;
                            done.push((i, trajs, score_s));
                        }
                        Ok(done)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| RolloutError::Worker("a worker panicked".into()))?
                })
                .collect::<Result<Vec<_>>>()
        })
        .map_err(|_| RolloutError::Worker("worker scope panicked".into()))??;
        let mut ordered: Vec<Option<Vec<Trajectory<M::Prompt>>>> = vec![None; chunks.len()];
        let mut score_seconds = 0.0;
        for (i, trajs, s) in results.into_iter().flatten() {
            ordered[i] = Some(trajs);
            score_seconds += s;
        }
        let trajectories: Vec<Trajectory<M::Prompt>> =
            ordered.into_iter().flatten().flatten().collect();
        if trajectories.len() != plans.len() {
            return Err(RolloutError::Worker(format!(
                "expected {} trajectories, collected {}",
                plans.len(),
                trajectories.len()
            )));
        }
        let wall = start.elapsed().as_secs_f64();
        let generated: usize = trajectories.iter().map(|t| t.response_ids.len()).sum();
        Ok(RolloutBatch {
            trajectories,
            timings: RolloutTimings {
                wall_seconds: wall,
                score_seconds,
                generated_tokens: generated,
                tokens_per_second: generated as f64 / wall.max(1e-9),
            },
        })
    }

    fn run_chunk(
        &self,
        plans: &[RowPlan],
        jobs: &[PromptJob],
        prompts: &[M::Prompt],
        config: &RolloutConfig,
    ) -> Result<(Vec<Trajectory<M::Prompt>>, f64)> {
        let rows = plans.len();
        let inputs: Vec<M::Prompt> = plans.iter().map(|p| prompts[p.job].clone()).collect();
        let vocab = self.model.vocab_size();
        let banned = self.model.prompt_only_tokens();
        let mut responses: Vec<Vec<u32>> = vec![Vec::new(); rows];
        let mut raw_lp: Vec<Vec<f32>> = vec![Vec::new(); rows];
        let mut proc_lp: Vec<Vec<f32>> = vec![Vec::new(); rows];
        let mut finished = vec![false; rows];
        let (mut state, mut logits) = self.model.prefill(&inputs, config.max_new_tokens)?;
        let mut active: Vec<usize> = (0..rows).collect();
        for step in 0..config.max_new_tokens {
            let mut flat: Vec<f32> = logits.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            for row in flat.chunks_mut(vocab) {
                for &t in &banned {
                    if let Some(logit) = row.get_mut(t as usize) {
                        *logit = f32::NEG_INFINITY;
                    }
                }
            }
            let params = vec![config.sampling; active.len()];
            let keys: Vec<RandomKey> = active
                .iter()
                .map(|&r| RandomKey {
                    seed: config.seed,
                    sequence: plans[r].sequence,
                    step: step as u64,
                })
                .collect();
            let histories: Vec<&[u32]> = active.iter().map(|&r| responses[r].as_slice()).collect();
            let sampled = self
                .sampler
                .sample_with_history(&flat, vocab, &params, &keys, &histories)?;
            let mut keep = Vec::with_capacity(active.len());
            let mut next = Vec::with_capacity(active.len());
            for (pos, (&row, s)) in active.iter().zip(&sampled).enumerate() {
                responses[row].push(s.token);
                raw_lp[row].push(s.logprob);
                proc_lp[row].push(s.processed_logprob);
                if self.model.is_stop(s.token) {
                    finished[row] = true;
                } else {
                    keep.push(pos);
                    next.push(s.token);
                }
            }
            if keep.is_empty() || step + 1 == config.max_new_tokens {
                break;
            }
            if keep.len() < active.len() {
                self.model.keep_rows(&mut state, &keep)?;
                active = keep.iter().map(|&p| active[p]).collect();
            }
            logits = self.model.decode(&mut state, &next)?;
        }
        let score_start = Instant::now();
        let mut out = Vec::with_capacity(rows);
        for (row, plan) in plans.iter().enumerate() {
            let job = &jobs[plan.job];
            let text = self.model.response_text(&responses[row])?;
            let breakdown = job.task.score(&job.item, &text);
            out.push(Trajectory {
                item_id: job.item.id.clone(),
                task_id: job.item.task_id.clone(),
                group: plan.job,
                sample: plan.sample,
                prompt: inputs[row].clone(),
                response_ids: std::mem::take(&mut responses[row]),
                sampler_logprobs: std::mem::take(&mut raw_lp[row]),
                processed_logprobs: std::mem::take(&mut proc_lp[row]),
                response_text: text,
                truncated: !finished[row],
                reward: breakdown.total,
                breakdown,
            });
        }
        Ok((out, score_start.elapsed().as_secs_f64()))
    }
}
