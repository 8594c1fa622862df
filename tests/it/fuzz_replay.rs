//! Replays the fuzz corpora on stable: every file in `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` goes through the same check the fuzz target runs
//! (`fuzz/src/checks.rs`, included here as a module), which panics on any violated property.
//! Also checks that the corpora still hold valid inputs and that the seeds the checks build
//! are accepted, so that a corpus reduced to rejects, or a check that accepts nothing, fails.
//!
//! Fuzzing itself needs nightly and cargo-fuzz: see `fuzz/README.md`.

#[path = "../../fuzz/src/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted (none when it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs `check` on every file of `dir`; returns (files, accepted).
fn replay(target: &str, dir: &Path, check: fn(&[u8]) -> bool) -> (usize, usize) {
    let mut accepted = 0;
    let all = files(dir);
    for path in &all {
        let data = std::fs::read(path).expect("corpus file");
        let ok = std::panic::catch_unwind(|| check(&data))
            .unwrap_or_else(|_| panic!("fuzz target {target} panics on {}", path.display()));
        accepted += usize::from(ok);
    }
    (all.len(), accepted)
}

fn target(name: &str) -> fn(&[u8]) -> bool {
    checks::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, check)| *check)
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
}

/// Every target has a corpus holding at least one input it accepts, and no corpus or
/// regression file makes it panic.
fn replay_target(name: &str) {
    let check = target(name);
    let corpus = fuzz_dir().join("corpus").join(name);
    let (n, accepted) = replay(name, &corpus, check);
    assert!(n > 0, "{} is empty", corpus.display());
    assert!(
        accepted > 0,
        "no input in {} is accepted any more ({n} files)",
        corpus.display()
    );
    let regressions = fuzz_dir().join("regressions").join(name);
    replay(name, &regressions, check);
}

/// The seeds the checks build are accepted: the fixtures still make valid inputs.
fn seeds_are_accepted(name: &str) {
    let check = target(name);
    let seeds = checks::seeds(name);
    assert!(!seeds.is_empty());
    for (i, seed) in seeds.iter().enumerate() {
        assert!(check(seed), "seed {i} of {name} is not accepted");
    }
}

#[test]
fn every_target_has_a_replay_test() {
    let names: Vec<&str> = checks::TARGETS.iter().map(|(n, _)| *n).collect();
    let mut dirs: Vec<String> = std::fs::read_dir(fuzz_dir().join("corpus"))
        .expect("fuzz/corpus")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(dirs, sorted, "fuzz/corpus/ and checks::TARGETS differ");
    for name in names {
        assert!(
            fuzz_dir()
                .join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "no fuzz target file for {name}"
        );
    }
}

#[test]
fn envelope_seeds_open_to_the_known_plaintexts() {
    let seeds = checks::seeds("envelope");
    let ring = checks::seed_keyring();
    let opened: Vec<Vec<u8>> = seeds
        .iter()
        .map(|e| {
            bitatlas::crypto::open(&ring, &checks::ENVELOPE_CTX, e)
                .expect("seed opens")
                .data
        })
        .collect();
    let want: Vec<&[u8]> = vec![
        checks::ENVELOPE_PLAINTEXTS[0],
        checks::ENVELOPE_PLAINTEXTS[1],
        checks::ENVELOPE_PLAINTEXTS[1],
        checks::ENVELOPE_PLAINTEXTS[2],
    ];
    assert_eq!(opened, want);
    // The checked-in corpus holds a real envelope too (the fixed randomness makes the seeds
    // byte for byte reproducible, and `cargo fuzz cmin` keeps at least one that opens).
    let corpus = files(&fuzz_dir().join("corpus").join("envelope"));
    let opens = corpus
        .iter()
        .filter_map(|p| {
            let e = std::fs::read(p).expect("corpus file");
            bitatlas::crypto::open(&ring, &checks::ENVELOPE_CTX, &e).ok()
        })
        .collect::<Vec<_>>();
    assert!(!opens.is_empty(), "no envelope in the corpus opens");
    for o in opens {
        assert!(checks::ENVELOPE_PLAINTEXTS.contains(&o.data.as_slice()));
    }
}

#[test]
fn a_tampered_envelope_seed_is_refused() {
    let mut e = checks::seeds("envelope").remove(1);
    let last = e.len() - 1;
    e[last] ^= 1;
    assert!(!checks::envelope(&e));
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        mod corpus {
            $(
                #[test]
                fn $name() {
                    super::replay_target(stringify!($name));
                }
            )*
        }
        mod seeds {
            $(
                #[test]
                fn $name() {
                    super::seeds_are_accepted(stringify!($name));
                }
            )*
        }
    };
}

targets!(
    envelope, keyring, endpoint, location, cursor, config, tool_args, audit_line,
);

/// Writes the seeds of every target into `fuzz/corpus/<target>/seed-N` (run by hand when the
/// fixtures change: `cargo test --test it fuzz_replay::write_seed_corpus -- --ignored`).
#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn write_seed_corpus() {
    for (name, _) in checks::TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (i, seed) in checks::seeds(name).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).expect("write seed");
        }
    }
}
