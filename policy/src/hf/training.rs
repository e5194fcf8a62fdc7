//! The parameters of an [`HfModel`] for training (listing, counting and freezing) and the
//! log-probabilities of chosen tokens that training losses need.

use std::collections::{BTreeMap, BTreeSet};

use candle_core::{Tensor, Var};

use crate::error::{PolicyError, Result};
use crate::hf::lora::{LoraBuilder, LoraInit};
use crate::hf::model::{HfInput, HfModel};
use crate::params::{scalar_count, select_vars, ParamBuilder};

/// Name prefix of the vision tower's parameters.
pub const VISION_PREFIX: &str = "visual.";

/// Whether a base parameter belongs to the vision tower.
pub fn is_vision_parameter(name: &str) -> bool {
    name.starts_with(VISION_PREFIX)
}

impl HfModel {
    /// The model with its vision tower (if any) frozen: how models start.
    pub(crate) fn with_vision_frozen(mut self) -> Result<Self> {
        if self.config.vision.is_some() {
            self.freeze(is_vision_parameter)?;
        }
        Ok(self)
    }

    /// All base parameters, sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        select_vars(&self.vars, |_| true)
    }

    /// Unfrozen base parameters whose name passes `trainable`: what an optimizer updates.
    pub fn trainable_vars(&self, trainable: impl Fn(&str) -> bool) -> Vec<(String, Var)> {
        select_vars(&self.vars, |name| {
            !self.frozen.contains(name) && trainable(name)
        })
    }

    /// Number of scalar base parameters.
    pub fn parameter_count(&self) -> usize {
        scalar_count(&self.vars)
    }

    /// Freezes the base parameters whose name passes `names`, besides those already frozen (models
    /// start with the vision tower frozen); returns how many are frozen now.
    ///
    /// The modules then read frozen parameters detached, so backward computes no gradient for
    /// them, nor the products only they need (a frozen tied embedding skips the output head's
    /// weight product, the largest of an SFT step). Values and the other parameters' gradients
    /// stay the same bits. The storage is shared: `Var::set` on a frozen parameter still changes
    /// the model, and a clone is no fixed reference model (load or copy the weights for one).
    /// Freeze before attaching LoRA adapters.
    pub fn freeze(&mut self, names: impl Fn(&str) -> bool) -> Result<usize> {
        let mut frozen = self.frozen.clone();
        frozen.extend(self.vars.keys().filter(|n| names(n)).cloned());
        self.set_frozen(frozen)
    }

    /// Unfreezes the base parameters whose name passes `names` (`|_| true`: all of them);
    /// returns how many stay frozen.
    pub fn unfreeze(&mut self, names: impl Fn(&str) -> bool) -> Result<usize> {
        let frozen = self.frozen.iter().filter(|n| !names(n)).cloned().collect();
        self.set_frozen(frozen)
    }

    /// Rebuilds the modules over the same variables with exactly `frozen` detached.
    fn set_frozen(&mut self, frozen: BTreeSet<String>) -> Result<usize> {
        if self.lora.is_some() {
            return Err(PolicyError::InvalidInput(
                "freeze or unfreeze base parameters before attaching LoRA adapters \
                 (add_lora / load_lora)"
                    .into(),
            ));
        }
        let builder = ParamBuilder::existing(
            self.vars.clone(),
            frozen.clone(),
            "(the model's own parameters)",
            self.dtype,
            &self.device,
        );
        let mut rebuilt = Self::build(&self.config, builder, self.dtype, &self.device)?;
        rebuilt.frozen = frozen;
        let count = rebuilt.frozen.len();
        *self = rebuilt;
        Ok(count)
    }

    /// A copy of the weights, adapters included, with every parameter frozen (the adapters
    /// attached detached): it does not change when this model trains (a fixed reference model
    /// for KL penalties). With LoRA adapters attached the frozen base can no longer be unfrozen,
    /// so the copy shares its storage (a `Var::set` on such a parameter moves both) and copies only
    /// what can train; otherwise every parameter is copied.
    pub fn frozen_copy(&self) -> Result<Self> {
        let shared = if self.lora.is_some() {
            self.frozen.clone()
        } else {
            BTreeSet::new()
        };
        let builder = ParamBuilder::snapshot(
            self.vars.clone(),
            shared,
            "frozen copy",
            self.dtype,
            &self.device,
        );
        let mut copy = Self::build(&self.config, builder, self.dtype, &self.device)?;
        copy.freeze(|_| true)?;
        if let Some((lora, vars)) = &self.lora {
            // Detached handles share the storage; building variables from them copies it once.
            let mut tensors: BTreeMap<String, Tensor> = vars
                .iter()
                .map(|(name, var)| (name.clone(), var.as_tensor().detach()))
                .collect();
            let mut builder =
                LoraBuilder::new(LoraInit::Loaded(&mut tensors), self.dtype, &self.device).frozen();
            let targets = |module: &str| lora.targets(module);
            for layer in &mut copy.layers {
                layer.add_lora(&mut builder, &targets, lora.r, lora.scale())?;
            }
            let vars = builder.finish("frozen copy")?;
            copy.lora = Some((lora.clone(), vars));
        }
        Ok(copy)
    }

    /// Names of the frozen base parameters, sorted.
    pub fn frozen_names(&self) -> Vec<String> {
        self.frozen.iter().cloned().collect()
    }

    /// Log-probabilities `(picks)` of chosen tokens after what precedes them: for each
    /// `(row, position)`, with `1 <= position < inputs[row].token_ids.len()`, log p(the token at
    /// `position` | the tokens before), from one differentiable forward of the left-padded batch;
    /// the output head runs on those positions only.
    pub fn position_logprobs(
        &self,
        inputs: &[HfInput],
        picks: &[(usize, usize)],
    ) -> Result<Tensor> {
        let mut targets = Vec::with_capacity(picks.len());
        for &(row, position) in picks {
            let ids = inputs.get(row).map(|input| input.token_ids.as_slice());
            match ids.and_then(|ids| ids.get(position).filter(|_| position >= 1)) {
                Some(&token) => targets.push(token),
                None => {
                    return Err(PolicyError::InvalidInput(format!(
                        "position_logprobs: ({row}, {position}) is not a token after the first \
                         of a row of the batch"
                    )))
                }
            }
        }
        let (hidden, pads) = self.forward_hidden(inputs)?;
        let (b, len, d) = hidden.dims3()?;
        // Row r's token i sits in column pads[r] + i; the column before predicts it.
        let columns: Vec<u32> = picks
            .iter()
            .map(|&(row, position)| (row * len + pads[row] + position - 1) as u32)
            .collect();
        let columns = Tensor::from_vec(columns, picks.len(), &self.device)?;
        let predicting = hidden.reshape((b * len, d))?.index_select(&columns, 0)?;
        crate::head_logprobs::head_target_logprobs(&predicting, &self.lm_head, &targets)
    }
}
