//! `medgym generate`.

use crate::{MedgymError, Result};

/// Arguments of `medgym generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {}

/// Runs `medgym generate`.
pub fn run(_args: GenerateArgs) -> Result<()> {
    Err(MedgymError::NotBuilt("medgym generate"))
}
