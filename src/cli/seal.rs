//! `bitatlas seal` and `bitatlas open`.

use super::Exit;

#[derive(Debug, clap::Args)]
pub struct SealArgs {}
#[derive(Debug, clap::Args)]
pub struct OpenArgs {}

pub fn run_seal(_args: SealArgs) -> Exit {
    Exit::Failure
}
pub fn run_open(_args: OpenArgs) -> Exit {
    Exit::Failure
}
