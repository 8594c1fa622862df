//! The built `bitatlas` binary as a child process that runs to its end: commands, their output
//! as text, and input fed on stdin.

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::spawn;

/// The `bitatlas` binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_bitatlas");

/// Variables of the calling shell that would change what a command reads or writes; every
/// command starts without them, and a test that wants one sets it.
const AMBIENT: [&str; 4] = [
    "BITATLAS_CONFIG",
    "BITATLAS_DATA_DIR",
    "BITATLAS_KEYRING",
    "BITATLAS_LOG",
];

/// `bitatlas ARGS`, not yet run.
pub fn bitatlas(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for var in AMBIENT {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `bitatlas ARGS` to its end with stdin closed.
pub fn run(args: &[&str]) -> Output {
    output(bitatlas(args))
}

/// Runs `cmd` to its end with stdin closed.
pub fn output(mut cmd: Command) -> Output {
    spawn::output(cmd.stdin(Stdio::null())).unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
}

/// Runs `cmd` to its end with its stdin as set, e.g. a file.
pub fn output_with_stdin(mut cmd: Command) -> Output {
    spawn::output(&mut cmd).unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
}

/// Runs `cmd` to its end with `input` on stdin, written from another thread so that a large
/// input cannot block against a full stdout pipe.
pub fn run_with_input(mut cmd: Command, input: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn::spawn(&mut cmd).unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    // The child may exit before reading everything (a refusal): a broken pipe is its answer.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for bitatlas");
    writer.join().expect("stdin writer");
    out
}

/// `bitatlas serve --data-dir DIR ARGS`, not yet run.
pub fn serve_command(data_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = bitatlas(&["serve", "--data-dir"]);
    cmd.arg(data_dir).args(args);
    cmd
}

/// Runs `bitatlas serve --data-dir DIR ARGS` with stdin closed: a stdio session ends at
/// once, so this is start-up and shutdown (or a start-up refusal).
pub fn serve_once(data_dir: &Path, args: &[&str]) -> Output {
    output(serve_command(data_dir, args))
}

/// Sends signal `name` (`TERM`, `HUP`, ...) to process `pid` with `kill`; panics if `kill`
/// fails.
pub fn signal(pid: u32, name: &str) {
    let status = spawn::status(
        Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .stdin(Stdio::null()),
    )
    .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Waits up to `within` for `child` to exit: its status, or `None` if it still runs.
pub fn wait_exit(child: &mut std::process::Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// stdout then stderr, as text.
pub fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The path as UTF-8, for argument lists of `&str`.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}
