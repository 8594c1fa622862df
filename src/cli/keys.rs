//! `bitatlas keys ...`

use super::Exit;

/// Keyring subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {}

pub fn run(cmd: KeysCommand) -> Exit {
    match cmd {}
}
