//! `medgym score`.

use crate::{MedgymError, Result};

/// Arguments of `medgym score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {}

/// Runs `medgym score`.
pub fn run(_args: ScoreArgs) -> Result<()> {
    Err(MedgymError::NotBuilt("medgym score"))
}
