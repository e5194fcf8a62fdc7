//! `medgym inspect`.

use crate::{MedgymError, Result};

/// Arguments of `medgym inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {}

/// Runs `medgym inspect`.
pub fn run(_args: InspectArgs) -> Result<()> {
    Err(MedgymError::NotBuilt("medgym inspect"))
}
