//! `medgym data`.

use crate::{MedgymError, Result};

/// Arguments of `medgym data`.
#[derive(Debug, clap::Args)]
pub struct DataArgs {}

/// Runs `medgym data`.
pub fn run(_args: DataArgs) -> Result<()> {
    Err(MedgymError::NotBuilt("medgym data"))
}
