//! Protected Resource Metadata (RFC 9728): the document at
//! `/.well-known/oauth-protected-resource` (and its `/mcp`-suffixed form) that tells a client
//! which authorization servers issue tokens for this resource, and the `WWW-Authenticate`
//! challenges that point at it.

use serde_json::{Value, json};

use super::OAuth;

/// The well-known path of the metadata.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

impl OAuth {
    /// The metadata document.
    pub fn metadata(&self) -> Value {
        json!({
            "resource": self.resource().as_str(),
            "authorization_servers": self.issuer_ids().collect::<Vec<_>>(),
            "scopes_supported": self.scope_names().collect::<Vec<_>>(),
            "bearer_methods_supported": ["header"],
            "resource_name": "BitAtlas",
        })
    }

    /// Where the metadata of this resource is: the well-known path inserted before the
    /// resource's path (RFC 9728 §3.1), on the resource's own origin.
    pub fn metadata_url(&self) -> String {
        let r = self.resource();
        let path = r.path().trim_end_matches('/');
        format!("{}{WELL_KNOWN}{path}", r.origin().ascii_serialization())
    }

    /// A `WWW-Authenticate` value: `error` (`invalid_token`, `insufficient_scope`) and the
    /// scope needed, when there are.
    pub fn challenge(&self, error: Option<&str>, scope: Option<&str>) -> String {
        let mut c = format!(r#"Bearer resource_metadata="{}""#, self.metadata_url());
        if let Some(e) = error {
            c.push_str(&format!(r#", error="{e}""#));
        }
        if let Some(s) = scope {
            c.push_str(&format!(r#", scope="{s}""#));
        }
        c
    }
}
