//! Child processes are started here, never while a test holds an audit trail open in this
//! process.
//!
//! An audit trail is claimed with a `flock` on its file. A child shares the open files of this
//! process from the moment it is forked until it execs (and close-on-exec files close), so a
//! child started while a trail is open keeps the claim alive for that instant after the trail
//! closes, and a runtime opened right then would take the next chain slot instead of
//! continuing the trail. Every test runs in this one process: each child starts under a shared
//! guard, and a test that opens and closes trails in-process holds [`exclusive`] meanwhile.
//!
//! Also compiled into the benchmarks that use `garage.rs`.

#![allow(dead_code)]

use std::io;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{PoisonError, RwLock, RwLockWriteGuard};

static GATE: RwLock<()> = RwLock::new(());

/// No child process starts while the guard lives. Hold it from before an in-process runtime
/// (or audit sink) opens a trail until after it closes it.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    // A test that failed while holding the guard has closed its trail by unwinding.
    GATE.write().unwrap_or_else(PoisonError::into_inner)
}

/// `cmd.spawn()`, once no test holds [`exclusive`]. `spawn` returns after the child has
/// exec'd, so from then on the child holds none of this process's files.
pub fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let _shared = GATE.read().unwrap_or_else(PoisonError::into_inner);
    cmd.spawn()
}

/// Like `cmd.output()` (stdout and stderr captured), started through [`spawn`]. Stdin is what
/// the command says (inherited unless set).
pub fn output(cmd: &mut Command) -> io::Result<Output> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    spawn(cmd)?.wait_with_output()
}

/// Like `cmd.status()`, started through [`spawn`].
pub fn status(cmd: &mut Command) -> io::Result<ExitStatus> {
    spawn(cmd)?.wait()
}
