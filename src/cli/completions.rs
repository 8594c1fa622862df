//! `bitatlas completions SHELL`: a shell completion script for the whole command line, generated
//! from the clap definition, on stdout.

use std::io::Write as _;

use clap::CommandFactory as _;
use clap_complete::Shell;

use super::{Cli, Exit};

/// `completions` arguments.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum, value_name = "SHELL")]
    shell: Shell,
}

/// Runs `completions`: the script goes to stdout, e.g.
/// `bitatlas completions bash > ~/.local/share/bash-completion/completions/bitatlas`.
pub fn run(args: CompletionsArgs) -> Exit {
    // Generated into memory first: clap_complete panics on a failed write, and a closed pipe
    // (`bitatlas completions zsh | head`) is an ordinary failure here.
    let mut script = Vec::new();
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_owned();
    clap_complete::generate(args.shell, &mut cmd, name, &mut script);
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("bitatlas: cannot write the completion script: {e}");
            Exit::Failure
        }
    }
}
