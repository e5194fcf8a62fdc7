//! Deterministic item streams over several task families.

use std::sync::Arc;

use medgym_envs::{Split, TaskFamily};
use medgym_rollout::PromptJob;

use crate::error::TrainError;

/// The job for item `index` of `task` in `split` with `seed`; errors name the item and task.
pub fn job(
    task: &Arc<dyn TaskFamily>,
    split: Split,
    seed: u64,
    index: u64,
) -> Result<PromptJob, TrainError> {
    let item = task
        .item(split, seed, index)
        .map_err(|e| TrainError::InvalidArgument {
            what: format!("{split} item {index} of {}", task.spec().id),
            reason: e.to_string(),
        })?;
    Ok(PromptJob {
        task: task.clone(),
        item,
    })
}

/// Deterministic stream of items over tasks with integer weights: each cycle of `Σ weights`
/// positions gives task t `weights[t]` items, interleaved by smooth weighted round-robin. With
/// equal weights, position k → task `k % n`, index `k / n`.
#[derive(Clone)]
pub struct TaskStream {
    tasks: Vec<Arc<dyn TaskFamily>>,
    split: Split,
    seed: u64,
    weights: Vec<u64>,
    /// One cycle: (task, how many items of that task came earlier in the cycle).
    schedule: Vec<(usize, u64)>,
}

/// One cycle of smooth weighted round-robin (ties to the lower task index).
fn interleave(weights: &[u64]) -> Vec<(usize, u64)> {
    let total: u64 = weights.iter().sum();
    let mut current = vec![0i128; weights.len()];
    let mut taken = vec![0u64; weights.len()];
    let mut schedule = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (credit, &weight) in current.iter_mut().zip(weights) {
            *credit += i128::from(weight);
        }
        let mut best = 0;
        for task in 1..weights.len() {
            if current[task] > current[best] {
                best = task;
            }
        }
        current[best] -= i128::from(total);
        schedule.push((best, taken[best]));
        taken[best] += 1;
    }
    schedule
}

impl TaskStream {
    /// A stream over `tasks` (at least one) in `split` with `seed`, every task weighted equally.
    pub fn new(
        tasks: Vec<Arc<dyn TaskFamily>>,
        split: Split,
        seed: u64,
    ) -> Result<Self, TrainError> {
        let weights = vec![1; tasks.len()];
        Self::weighted(tasks, &weights, split, seed)
    }

    /// A stream giving task t `weights[t]` items per cycle (a weight of 0 leaves the task out).
    pub fn weighted(
        tasks: Vec<Arc<dyn TaskFamily>>,
        weights: &[u32],
        split: Split,
        seed: u64,
    ) -> Result<Self, TrainError> {
        if tasks.is_empty() {
            return Err(TrainError::InvalidArgument {
                what: "tasks".into(),
                reason: "no tasks given".into(),
            });
        }
        if weights.len() != tasks.len() {
            return Err(TrainError::InvalidArgument {
                what: "task weights".into(),
                reason: format!("{} weights for {} tasks", weights.len(), tasks.len()),
            });
        }
        let weights: Vec<u64> = weights.iter().map(|&w| u64::from(w)).collect();
        if weights.iter().all(|&w| w == 0) {
            return Err(TrainError::InvalidArgument {
                what: "task weights".into(),
                reason: "every weight is 0".into(),
            });
        }
        let schedule = interleave(&weights);
        Ok(Self {
            tasks,
            split,
            seed,
            weights,
            schedule,
        })
    }

    /// Jobs at stream positions `start..start + count`.
    pub fn jobs(&self, start: u64, count: usize) -> Result<Vec<PromptJob>, TrainError> {
        let cycle_len = self.schedule.len() as u64;
        (start..start + count as u64)
            .map(|k| {
                let (task, rank) = self.schedule[(k % cycle_len) as usize];
                let index = (k / cycle_len) * self.weights[task] + rank;
                job(&self.tasks[task], self.split, self.seed, index)
            })
            .collect()
    }

    /// The tasks of the stream.
    pub fn tasks(&self) -> &[Arc<dyn TaskFamily>] {
        &self.tasks
    }
}

/// Draws prompts per task in proportion to how much GRPO can learn from each: a task whose measured
/// pass rate p is near 0 or 1 gives groups with equal rewards (no gradient), so each task is weighted
/// by `sqrt(p(1 − p)) + floor`. Items are still a pure function of (task, split, seed, index).
#[derive(Clone)]
pub struct PassRateCurriculum {
    stream: TaskStream,
    pass_rate: Vec<f64>,
    next_index: Vec<u64>,
    floor: f64,
    smoothing: f64,
}

impl PassRateCurriculum {
    /// Start with every task's pass rate at 0.5 (equal shares).
    pub fn new(stream: TaskStream, floor: f64, smoothing: f64) -> Self {
        let n = stream.tasks.len();
        Self {
            stream,
            pass_rate: vec![0.5; n],
            next_index: vec![0; n],
            floor,
            smoothing,
        }
    }

    /// Current pass-rate estimates, in task order.
    pub fn pass_rates(&self) -> &[f64] {
        &self.pass_rate
    }

    /// Prompts per task for a step of `count` prompts (largest-remainder rounding, ties to the lower task index).
    pub fn allocation(&self, count: usize) -> Vec<usize> {
        let weights: Vec<f64> = self
            .pass_rate
            .iter()
            .map(|&p| (p * (1.0 - p)).max(0.0).sqrt() + self.floor)
            .collect();
        let total: f64 = weights.iter().sum();
        let exact: Vec<f64> = weights.iter().map(|w| w / total * count as f64).collect();
        let mut shares: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
        let mut order: Vec<usize> = (0..exact.len()).collect();
        order.sort_by(|&a, &b| {
            let ra = exact[a] - exact[a].floor();
            let rb = exact[b] - exact[b].floor();
            rb.total_cmp(&ra).then(a.cmp(&b))
        });
        let missing = count - shares.iter().sum::<usize>();
        for &k in order.iter().take(missing) {
            shares[k] += 1;
        }
        shares
    }

    /// The next `count` jobs, task after task, following the allocation.
    pub fn next_jobs(&mut self, count: usize) -> Result<Vec<PromptJob>, TrainError> {
        let shares = self.allocation(count);
        let mut jobs = Vec::with_capacity(count);
        for (k, &share) in shares.iter().enumerate() {
            let task = &self.stream.tasks[k];
            for _ in 0..share {
                let index = self.next_index[k];
                self.next_index[k] += 1;
                jobs.push(job(task, self.stream.split, self.stream.seed, index)?);
            }
        }
        Ok(jobs)
    }

    /// Fold in observed correctness for a task (by id); unknown ids are ignored.
    pub fn observe(&mut self, task_id: &str, correct: usize, total: usize) {
        if total == 0 {
            return;
        }
        if let Some(k) = self
            .stream
            .tasks
            .iter()
            .position(|t| t.spec().id == task_id)
        {
            let rate = correct as f64 / total as f64;
            self.pass_rate[k] = self.smoothing * self.pass_rate[k] + (1.0 - self.smoothing) * rate;
        }
    }
}
