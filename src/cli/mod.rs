//! The command line: argument parsing and one module per subcommand.

mod audit;
mod completions;
mod erase;
mod exit;
mod export;
mod installation;
mod keys;
mod keys_backup;
mod keys_tenant;
mod locate;
mod override_grant;
mod probe;
mod replicas;
mod residency;
mod seal;
mod serve;
mod tokens;

pub use exit::Exit;

use clap::{Parser, Subcommand};

/// BitAtlas: EEA-resident, client-side encrypted object storage for LLM agents over MCP.
#[derive(Debug, Parser)]
#[command(name = "bitatlas", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the MCP tools over stdio (default) or streamable HTTP.
    Serve(serve::ServeArgs),
    /// Residency decisions: check one provider/region, or report on configured stores.
    #[command(subcommand)]
    Residency(residency::ResidencyCommand),
    /// Manage a keyring of key-encryption keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Seal a file into the envelope format (streaming).
    Seal(seal::SealArgs),
    /// Open a sealed file; writes nothing unless every chunk verifies.
    Open(seal::OpenArgs),
    /// Verify and read the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Bearer tokens for the HTTP transport.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Round-trip a small sealed object (put, list, get, delete) on every configured store.
    Probe(probe::ProbeArgs),
    /// Where a tenant's objects are: one residency receipt per object (store, country, key).
    Locate(locate::LocateArgs),
    /// Erase a key, a folder or a whole tenant (crypto-shred) from every store, printing a
    /// signed erasure receipt.
    Erase(erase::EraseArgs),
    /// Break-glass: let a tenant use a store its policy refuses (inside the EEA, at most 72 h).
    #[command(subcommand)]
    Override(override_grant::OverrideCommand),
    /// Compare a tenant's copies (home store and replicas), or repair them.
    #[command(subcommand)]
    Replicas(replicas::ReplicasCommand),
    /// Erasure receipts.
    #[command(subcommand)]
    Receipt(erase::ReceiptCommand),
    /// Export a tenant's objects under a folder, with their metadata, as a plain `.tar` that
    /// standard tools open (data portability); writes nothing unless every object verifies.
    Export(export::ExportArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions(completions::CompletionsArgs),
}

/// Parses the command line and runs it.
pub fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return if usage { Exit::Usage } else { Exit::Ok }.into();
        }
    };
    let exit = match cli.command {
        None => serve::run(serve::ServeArgs::default()),
        Some(Command::Serve(args)) => serve::run(args),
        Some(Command::Residency(cmd)) => residency::run(cmd),
        Some(Command::Keys(cmd)) => keys::run(cmd),
        Some(Command::Seal(args)) => seal::run_seal(args),
        Some(Command::Open(args)) => seal::run_open(args),
        Some(Command::Audit(cmd)) => audit::run(cmd),
        Some(Command::Tokens(cmd)) => tokens::run(cmd),
        Some(Command::Probe(args)) => probe::run(args),
        Some(Command::Locate(args)) => locate::run(args),
        Some(Command::Erase(args)) => erase::run(args),
        Some(Command::Replicas(cmd)) => replicas::run(cmd),
        Some(Command::Override(cmd)) => override_grant::run(cmd),
        Some(Command::Receipt(cmd)) => erase::run_receipt(cmd),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Completions(args)) => completions::run(args),
    };
    exit.into()
}
