//! `bitatlas completions SHELL`: completion scripts generated from the command-line definition,
//! and an unknown shell refused as a usage error.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::bin::{self, stderr};
use crate::support::spawn;

/// `bitatlas completions SHELL`, which must succeed: its stdout as text.
fn script(shell: &str) -> String {
    let out = bin::run(&["completions", shell]);
    assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
    String::from_utf8(out.stdout).expect("UTF-8 script")
}

#[test]
fn bash_script_names_the_subcommands_and_parses() {
    let text = script("bash");
    for word in ["serve", "residency", "keys", "completions", "--data-dir"] {
        assert!(text.contains(word), "bash script lacks {word}");
    }
    // `bash -n` reads the script from stdin and checks its syntax without running it.
    let mut child = spawn::spawn(
        Command::new("bash")
            .arg("-n")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .expect("run bash -n");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed bash -n");
    let out = child.wait_with_output().expect("wait for bash -n");
    assert!(
        out.status.success(),
        "bash -n rejects the script: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn zsh_script_is_a_compdef_for_bitatlas() {
    let text = script("zsh");
    assert!(
        text.starts_with("#compdef bitatlas"),
        "{:?}",
        text.lines().next()
    );
}

#[test]
fn fish_script_completes_bitatlas() {
    assert!(script("fish").contains("complete -c bitatlas"));
}

#[test]
fn elvish_and_powershell_scripts_are_written() {
    for shell in ["elvish", "powershell"] {
        assert!(script(shell).contains("bitatlas"), "{shell}");
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = bin::run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    assert!(stderr(&out).contains("tcsh"), "{}", stderr(&out));
    let out = bin::run(&["completions"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing shell: {}",
        stderr(&out)
    );
}
