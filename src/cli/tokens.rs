//! `bitatlas tokens ...`: bearer tokens for the HTTP transport.
//!
//! The token is printed once, on stdout; the configuration only ever holds its hash.

use base64::Engine as _;

use super::Exit;
use crate::runtime::tenant_name_problem;
use crate::transport::auth::{TOKEN_PREFIX, generate_token, token_hash_line};

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
            // The name goes into a `[tenants.NAME]` line: only names that are valid tenant
            // names (and so bare TOML keys) are printed.
            if let Some(problem) = tenant_name_problem(&tenant) {
                eprintln!(
                    "error: --tenant {:?}: {problem}",
                    tenant.escape_debug().to_string()
                );
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
            let token = line.trim_end_matches(['\n', '\r']);
            if !is_token(token) {
                // The input is not echoed: it may be a secret pasted by mistake.
                eprintln!(
                    "error: stdin does not hold a token as `bitatlas tokens create` prints it \
                     ({TOKEN_PREFIX} followed by 43 base64url characters)"
                );
                return Exit::Usage;
            }
            println!("{}", token_hash_line(token));
            Exit::Ok
        }
    }
}

/// Whether `s` has the shape of a generated token: the prefix and 32 bytes in unpadded
/// base64url, nothing else.
fn is_token(s: &str) -> bool {
    s.strip_prefix(TOKEN_PREFIX).is_some_and(|b64| {
        b64.len() == 43
            && base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b64)
                .is_ok_and(|bytes| bytes.len() == 32)
    })
}

#[cfg(test)]
mod tests {
    use super::is_token;

    #[test]
    fn token_shapes() {
        let token = crate::transport::auth::generate_token().unwrap();
        assert!(is_token(&token));
        for bad in [
            "",
            "bat_",
            "garbage",
            "bat_short",
            &format!(" {token}"),
            &format!("{token} "),
            &format!("{token}x"),
            &token.replacen("bat_", "bat-", 1),
            &format!("{}+", &token[..token.len() - 1]),
            &format!("bat_{}", "=".repeat(43)),
        ] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }
}
