//! Shared by every benchmark: one printed line per figure, with the ratio to a baseline
//! measured in the same run, and the same figures merged into one JSON results file.
//!
//! A ratio above 1 always means "better than the baseline": throughput is divided by the
//! baseline's, a latency divides the baseline's. The file is `target/bench-results.json`
//! unless `BITATLAS_BENCH_RESULTS` names another; each benchmark replaces only its own entry.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Which direction is better for a figure.
#[derive(Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub enum Better {
    /// Throughput, calls per second.
    Higher,
    /// Latency, memory.
    Lower,
}

/// The figures of one benchmark binary.
pub struct Report {
    bench: &'static str,
    figures: Vec<Value>,
}

#[allow(dead_code)]
impl Report {
    /// Starts the report of benchmark `bench`.
    pub fn new(bench: &'static str) -> Self {
        Report {
            bench,
            figures: Vec::new(),
        }
    }

    /// A figure compared with a baseline measured in the same run.
    pub fn compare(
        &mut self,
        name: &str,
        value: f64,
        unit: &str,
        baseline: &str,
        baseline_value: f64,
        better: Better,
    ) {
        let ratio = match better {
            Better::Higher => value / baseline_value,
            Better::Lower => baseline_value / value,
        };
        println!(
            "{name:<44} {:>11} {unit:<6} vs {baseline} {} = {ratio:.2}x",
            fmt(value),
            fmt(baseline_value),
        );
        self.figures.push(json!({
            "name": name,
            "value": value,
            "unit": unit,
            "better": if better == Better::Higher { "higher" } else { "lower" },
            "baseline": baseline,
            "baseline_value": baseline_value,
            "ratio": ratio,
        }));
    }

    /// A figure with no baseline of its own (a count, or a baseline that is itself printed).
    pub fn value(&mut self, name: &str, value: f64, unit: &str) {
        println!("{name:<44} {:>11} {unit}", fmt(value));
        self.figures
            .push(json!({ "name": name, "value": value, "unit": unit }));
    }

    /// A figure that could not be measured on this machine, and why.
    pub fn skipped(&mut self, name: &str, why: &str) {
        println!("{name:<44} skipped: {why}");
        self.figures.push(json!({ "name": name, "skipped": why }));
    }

    /// Merges this benchmark's figures into the results file and prints where it is.
    pub fn save(self) {
        let path = results_path();
        let mut doc: Value = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        doc["machine"] = machine();
        if !doc["benches"].is_object() {
            doc["benches"] = json!({});
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        doc["benches"][self.bench] = json!({ "unix_time": now, "figures": self.figures });
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let text = serde_json::to_string_pretty(&doc).expect("results serialise");
        match std::fs::write(&path, text) {
            Ok(()) => println!("({} figures written to {})", self.bench, path.display()),
            Err(e) => eprintln!("could not write {}: {e}", path.display()),
        }
    }
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn results_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BITATLAS_BENCH_RESULTS") {
        return PathBuf::from(p);
    }
    // CARGO_TARGET_TMPDIR is `<target>/tmp` for benchmarks.
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .map(|t| t.join("bench-results.json"))
        .unwrap_or_else(|| PathBuf::from("bench-results.json"))
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned());
    let mem_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
    });
    json!({
        "cpu": model,
        "cores": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "memory_gib": mem_kib.map(|k| (k as f64 / 1048576.0 * 10.0).round() / 10.0),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

/// Percentile `p` (0..=1) of a sorted sample.
#[allow(dead_code)]
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// True when the binary runs under `cargo bench` (Cargo passes `--bench`); `cargo test
/// --all-targets` builds and runs benches without it, and they then return at once.
#[allow(dead_code)]
pub fn benchmarking(bench: &str) -> bool {
    if std::env::args().any(|a| a == "--bench") {
        return true;
    }
    println!("{bench}: run with `cargo bench --bench {bench}`");
    false
}
