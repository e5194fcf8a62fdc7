//! `medgym bench`.

use crate::{MedgymError, Result};

/// Arguments of `medgym bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

/// Runs `medgym bench`.
pub fn run(_args: BenchArgs) -> Result<()> {
    Err(MedgymError::NotBuilt("medgym bench"))
}
