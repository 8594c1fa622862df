//! `bitatlas tokens ...`: bearer tokens for the HTTP transport.
//!
//! The token is printed once, on stdout; the configuration only ever holds its hash.

use super::Exit;
use crate::transport::auth::{generate_token, token_hash_line};

/// Token subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TokensCommand {
    /// Create a bearer token for a tenant: prints the token on stdout (shown once, keep it
    /// secret) and, on stderr, the hash line to add to `[tenants.NAME] tokens` in the config.
    Create {
        /// Tenant the token authenticates as.
        #[arg(long, value_name = "NAME")]
        tenant: String,
    },
    /// Print the configuration hash of an existing token read from stdin (one line).
    Hash,
}

/// Runs one token subcommand.
pub fn run(cmd: TokensCommand) -> Exit {
    match cmd {
        TokensCommand::Create { tenant } => {
            if tenant.trim().is_empty() {
                eprintln!("error: --tenant must not be empty");
                return Exit::Usage;
            }
            let token = match generate_token() {
                Ok(t) => zeroize::Zeroizing::new(t),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::Failure;
                }
            };
            let hash = token_hash_line(&token);
            println!("{}", token.as_str());
            eprintln!("token for tenant {tenant} printed on stdout; it is not stored anywhere.");
            eprintln!("add this hash to the configuration:");
            eprintln!();
            eprintln!("[tenants.{tenant}]");
            eprintln!("tokens = [\"{hash}\"]");
            Exit::Ok
        }
        TokensCommand::Hash => {
            let mut line = zeroize::Zeroizing::new(String::new());
            if std::io::stdin().read_line(&mut line).is_err() || line.trim().is_empty() {
                eprintln!("error: expected a token on stdin");
                return Exit::Usage;
            }
            println!("{}", token_hash_line(line.trim()));
            Exit::Ok
        }
    }
}
