//! Fuzz target `tool_args`: the input goes to [`bitatlas_fuzz::tool_args`] (fuzz/src/checks.rs), which
//! the replay test `tests/it/fuzz_replay.rs` also runs on every corpus file.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bitatlas_fuzz::tool_args(data);
});
