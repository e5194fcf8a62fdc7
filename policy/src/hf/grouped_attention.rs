//! Attention within groups of tokens (the vision tower's windows and frames) as a batch of small
//! attentions, one per group, instead of one attention over every token with a block mask: the
//! cost grows with the groups' sizes, not with the square of the batch's patches.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::layers::attention;

/// How the tokens of a batch split into attention groups.
#[derive(Debug, Clone)]
pub(crate) struct GroupedAttention {
    /// Token order that puts groups of equal size next to each other, and its inverse; `None`
    /// when that order is the tokens' own.
    reorder: Option<(Tensor, Tensor)>,
    /// `(group size, number of groups)` of each run of equal-size groups, in that order.
    runs: Vec<(usize, usize)>,
}

impl GroupedAttention {
    /// Groups from the group id of every token; tokens of a group attend only to each other.
    pub(crate) fn new(groups: &[usize], device: &Device) -> Result<Self> {
        let mut members: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for (token, &group) in groups.iter().enumerate() {
            members.entry(group).or_default().push(token as u32);
        }
        // Groups of one size together, each group's tokens in their order.
        let mut by_size: BTreeMap<usize, Vec<Vec<u32>>> = BTreeMap::new();
        for (_, tokens) in members {
            by_size.entry(tokens.len()).or_default().push(tokens);
        }
        let runs = by_size
            .iter()
            .map(|(&size, members)| (size, members.len()))
            .collect();
        let order: Vec<u32> = by_size.into_values().flatten().flatten().collect();
        let identity = order.iter().enumerate().all(|(i, &t)| i as u32 == t);
        let reorder = if identity {
            None
        } else {
            let mut inverse = vec![0u32; order.len()];
            for (position, &token) in order.iter().enumerate() {
                inverse[token as usize] = position as u32;
            }
            let n = order.len();
            Some((
                Tensor::from_vec(order, n, device)?,
                Tensor::from_vec(inverse, n, device)?,
            ))
        };
        Ok(Self { reorder, runs })
    }

    /// Attention of `q`, `k`, `v` `(1, heads, n, head_dim)` within the groups; same shape out.
    pub(crate) fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        match self.runs.as_slice() {
            // No token: nothing to attend.
            [] => return Ok(v.clone()),
            [(_, 1)] => return attention(q, k, v, None),
            _ => {}
        }
        let (q, k, v) = match &self.reorder {
            Some((order, _)) => (
                q.index_select(order, 2)?,
                k.index_select(order, 2)?,
                v.index_select(order, 2)?,
            ),
            None => (q.clone(), k.clone(), v.clone()),
        };
        let (_, heads, _, head_dim) = q.dims4()?;
        let mut outputs = Vec::with_capacity(self.runs.len());
        let mut start = 0;
        for &(size, count) in &self.runs {
            let part = |t: &Tensor| -> Result<Tensor> {
                Ok(t.narrow(2, start, size * count)?
                    .contiguous()?
                    .reshape((heads, count, size, head_dim))?)
            };
            let attended = attention(&part(&q)?, &part(&k)?, &part(&v)?, None)?;
            outputs.push(attended.reshape((1, heads, size * count, head_dim))?);
            start += size * count;
        }
        let joined = Tensor::cat(&outputs, 2)?;
        Ok(match &self.reorder {
            Some((_, inverse)) => joined.index_select(inverse, 2)?,
            None => joined,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::MASKED;
    use candle_core::DType;

    /// Attention over every token with an additive block mask: the definition.
    fn masked(groups: &[usize], q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
        let n = groups.len();
        let values: Vec<f64> = groups
            .iter()
            .flat_map(|&a| {
                groups
                    .iter()
                    .map(move |&b| if a == b { 0.0 } else { MASKED })
            })
            .collect();
        let mask = Tensor::from_vec(values, (1, 1, n, n), &Device::Cpu).expect("mask");
        attention(q, k, v, Some(&mask)).expect("attention")
    }

    #[test]
    fn grouped_attention_equals_block_masked_attention() {
        let layouts: [&[usize]; 5] = [
            &[0, 0, 0, 0, 0],
            &[0, 0, 0, 1, 1, 1],
            &[0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3],
            &[4, 4, 7, 4, 7, 9],
            &[0, 1, 2, 3],
        ];
        for groups in layouts {
            let n = groups.len();
            let random = |seed: u64| {
                let values: Vec<f64> = (0..2 * n * 3)
                    .map(|i| (((i as u64 + 1) * (seed * 2 + 7919)) % 101) as f64 / 50.0 - 1.0)
                    .collect();
                Tensor::from_vec(values, (1, 2, n, 3), &Device::Cpu).expect("tensor")
            };
            let (q, k, v) = (random(1), random(2), random(3));
            let grouped = GroupedAttention::new(groups, &Device::Cpu)
                .and_then(|g| g.attend(&q, &k, &v))
                .expect("grouped");
            let expected = masked(groups, &q, &k, &v);
            let diff = (grouped - expected)
                .and_then(|d| d.abs())
                .and_then(|d| d.flatten_all())
                .and_then(|d| d.max(0))
                .and_then(|d| d.to_dtype(DType::F64))
                .and_then(|d| d.to_scalar::<f64>())
                .expect("diff");
            assert!(diff < 1e-12, "{groups:?}: differs by {diff}");
        }
    }
}
