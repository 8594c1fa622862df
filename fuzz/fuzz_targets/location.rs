//! Fuzz target `location`: the input goes to [`bitatlas_fuzz::location`] (fuzz/src/checks.rs), which
//! the replay test `tests/it/fuzz_replay.rs` also runs on every corpus file.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bitatlas_fuzz::location(data);
});
