//! The `bitatlas` binary.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    bitatlas::cli::main()
}
