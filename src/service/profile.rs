//! Tool profiles: which tools a tenant may call. The server's profile (`serve --read-only`,
//! `--tools`, or `[server] read_only` / `tools`) meets each tenant's own `tools = [...]`; a
//! tool outside the result is not listed and a call to it is refused with `TOOL_DISABLED`
//! before anything happens.
//!
//! Read-only keeps `get`, `list`, `search` and the GET forms of `presign` and `transfer`: a
//! PUT link is a write by other means, so it is refused too, and so are the uses of upload
//! links and the commit of presigned uploads.

use super::call::Tool;
use super::error::{ErrorCode, ServiceError};

/// The tools a read-only profile lists.
const READ_TOOLS: [Tool; 5] = [
    Tool::Get,
    Tool::List,
    Tool::Search,
    Tool::Presign,
    Tool::Transfer,
];

/// A set of callable tools, and whether writes are allowed at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSet {
    /// Listed tools, a subset of [`Tool::ALL`], in its order.
    listed: Vec<Tool>,
    writes: bool,
}

impl Default for ToolSet {
    fn default() -> Self {
        Self::all()
    }
}

impl ToolSet {
    /// Every tool.
    pub fn all() -> Self {
        Self {
            listed: Tool::ALL.to_vec(),
            writes: true,
        }
    }

    /// `--read-only`: reads, searches and GET links only.
    pub fn read_only() -> Self {
        Self {
            listed: READ_TOOLS.to_vec(),
            writes: false,
        }
    }

    /// The tools of `names` (tool names as `tools/list` shows them); an unknown name is an
    /// error naming it and the known ones.
    pub fn parse_names<S: AsRef<str>>(names: &[S]) -> Result<Vec<Tool>, String> {
        names
            .iter()
            .map(|n| {
                let n = n.as_ref().trim();
                Tool::ALL
                    .into_iter()
                    .find(|t| t.name() == n)
                    .ok_or_else(|| {
                        let known: Vec<&str> = Tool::ALL.iter().map(|t| t.name()).collect();
                        format!("unknown tool {n:?} (tools: {})", known.join(", "))
                    })
            })
            .collect()
    }

    /// This set, keeping only `tools`.
    pub fn only(mut self, tools: &[Tool]) -> Self {
        self.listed.retain(|t| tools.contains(t));
        self
    }

    /// This set, without `tools`.
    pub fn without(mut self, tools: &[Tool]) -> Self {
        self.listed.retain(|t| !tools.contains(t));
        self
    }

    /// This set, also refusing every write (read-only).
    pub fn without_writes(self) -> Self {
        let read = Self::read_only();
        Self {
            listed: self
                .listed
                .into_iter()
                .filter(|t| read.listed.contains(t))
                .collect(),
            writes: false,
        }
    }

    /// Whether `tools/list` shows `tool`.
    pub fn lists(&self, tool: Tool) -> bool {
        self.listed.contains(&tool)
    }

    /// Whether a call of `tool` may run (the uses of links count as their tool).
    pub fn allows(&self, tool: Tool) -> bool {
        match tool {
            Tool::PresignCommit => self.writes && self.lists(Tool::Presign),
            Tool::LinkUpload => self.writes && self.lists(Tool::Transfer),
            Tool::LinkDownload => self.lists(Tool::Transfer),
            Tool::Put | Tool::Delete | Tool::Restore => self.writes && self.lists(tool),
            // The operator's erasure is never an MCP tool; profiles narrow what clients call.
            Tool::Erase | Tool::Rewrap | Tool::ReplicasCheck | Tool::ReplicasRepair => true,
            other => self.lists(other),
        }
    }

    /// Whether writes are allowed (PUT links included).
    pub fn allows_writes(&self) -> bool {
        self.writes
    }
}

/// The refusal of a tool the caller's credential has no scope for.
pub fn insufficient_scope(tool: Tool) -> ServiceError {
    ServiceError::new(
        ErrorCode::InsufficientScope,
        format!(
            "the access token's scopes do not allow the tool {:?}; ask for a token with a \
             scope that does; nothing was done",
            tool.name()
        ),
    )
}

/// The refusal of a tool outside the caller's profile.
pub fn tool_disabled(tool: Tool) -> ServiceError {
    ServiceError::new(
        ErrorCode::ToolDisabled,
        format!(
            "the tool {:?} is disabled on this server for this tenant; nothing was done",
            tool.name()
        ),
    )
}

/// The refusal of a PUT link under a read-only profile.
pub fn writes_disabled(tool: Tool) -> ServiceError {
    ServiceError::new(
        ErrorCode::ToolDisabled,
        format!(
            "this server is read-only for this tenant: {} hands out GET links only; nothing \
             was done",
            tool.name()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_lists_reads_and_refuses_every_write() {
        let ro = ToolSet::read_only();
        for t in [
            Tool::Get,
            Tool::List,
            Tool::Search,
            Tool::Presign,
            Tool::Transfer,
        ] {
            assert!(ro.lists(t) && ro.allows(t), "{t:?}");
        }
        for t in [
            Tool::Put,
            Tool::Delete,
            Tool::PresignCommit,
            Tool::LinkUpload,
        ] {
            assert!(!ro.allows(t), "{t:?}");
        }
        assert!(ro.allows(Tool::LinkDownload));
        assert!(!ro.allows_writes());
    }

    #[test]
    fn allowlists_meet_and_unknown_names_are_named() {
        let only = ToolSet::parse_names(&["get", " list"]).unwrap();
        let set = ToolSet::all().only(&only);
        assert!(set.allows(Tool::Get) && set.allows(Tool::List));
        assert!(!set.lists(Tool::Put) && !set.allows(Tool::LinkDownload));
        let tenant = ToolSet::parse_names(&["put", "get"]).unwrap();
        let both = set.only(&tenant);
        assert!(both.allows(Tool::Get) && !both.lists(Tool::List) && !both.lists(Tool::Put));
        let e = ToolSet::parse_names(&["get", "rm"]).unwrap_err();
        assert!(e.contains("\"rm\"") && e.contains("put, get"), "{e}");
        let ro = ToolSet::all()
            .only(&ToolSet::parse_names(&["put", "get"]).unwrap())
            .without_writes();
        assert!(ro.allows(Tool::Get) && !ro.allows(Tool::Put) && !ro.lists(Tool::Put));
    }
}
