//! `bitatlas residency ...`

use super::Exit;

#[derive(Debug, clap::Subcommand)]
pub enum ResidencyCommand {}

pub fn run(cmd: ResidencyCommand) -> Exit {
    match cmd {}
}
