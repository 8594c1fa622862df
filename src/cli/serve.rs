//! `bitatlas serve`

use super::Exit;

#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {}

pub fn run(_args: ServeArgs) -> Exit {
    Exit::Failure
}
