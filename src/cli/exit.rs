//! Process exit codes: a stable contract (see DESIGN.md).

use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok,
    /// 1: anything else went wrong.
    Failure,
    /// 2: the command line was wrong.
    Usage,
    /// 3: a residency policy denied the request.
    PolicyDenied,
    /// 4: an integrity check failed (tampered, truncated or wrong-context data).
    Integrity,
}

impl Exit {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::PolicyDenied => 3,
            Exit::Integrity => 4,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

impl From<&crate::runtime::StartupError> for Exit {
    /// A residency refusal of a store is a policy denial (3); every other start-up failure
    /// (unreachable or unverifiable store, configuration, keyring, audit) is 1.
    fn from(e: &crate::runtime::StartupError) -> Self {
        match e.residency_code() {
            Some(_) => Exit::PolicyDenied,
            None => Exit::Failure,
        }
    }
}
