//! `medgym envs`: the environment registry.

use crate::Result;

/// Arguments of `medgym envs`.
#[derive(Debug, clap::Args)]
pub struct EnvsArgs {
    #[command(subcommand)]
    command: EnvsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EnvsCommand {
    /// List registered environments.
    List,
}

/// Runs `medgym envs`.
pub fn run(args: EnvsArgs) -> Result<()> {
    match args.command {
        EnvsCommand::List => {
            for spec in medgym_envs::list() {
                let kind = spec.answer_type.to_string();
                println!("{:<32} {kind:<16} {}", spec.id, spec.description);
            }
        }
    }
    Ok(())
}
