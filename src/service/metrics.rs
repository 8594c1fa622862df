//! Operational counters in the Prometheus text format.
//!
//! Only anonymised (P2) data: tool names, result codes, latencies and counts. No tenant id,
//! object key, token or address is ever a label.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

#[derive(Default)]
struct Calls {
    /// (tool, code) -> count.
    results: BTreeMap<(String, String), u64>,
    /// tool -> latency histogram.
    latency: BTreeMap<String, Histogram>,
}

/// Process-wide counters shared by the service and the transports.
#[derive(Default)]
pub struct Metrics {
    calls: Mutex<Calls>,
    auth_failures: AtomicU64,
    rate_limited: AtomicU64,
    concurrency_limited: AtomicU64,
    timeouts: AtomicU64,
    /// store -> (last probe passed, its duration in seconds).
    probes: Mutex<BTreeMap<String, (bool, f64)>>,
}

impl Metrics {
    /// Counts one finished tool call.
    pub fn record_call(&self, tool: &str, code: &str, elapsed: Duration) {
        let Ok(mut calls) = self.calls.lock() else {
            return;
        };
        *calls
            .results
            .entry((tool.to_owned(), code.to_owned()))
            .or_default() += 1;
        let h = calls.latency.entry(tool.to_owned()).or_default();
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum_seconds += secs;
    }

    /// Counts one rejected authentication.
    pub fn auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request refused by the rate limit.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request refused by the concurrency limit.
    pub fn concurrency_limited(&self) {
        self.concurrency_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request that ran out of time.
    pub fn timeout(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the last synthetic probe of `store` (its configured name: P2, no tenant data).
    pub fn record_probe(&self, store: &str, ok: bool, elapsed: Duration) {
        if let Ok(mut probes) = self.probes.lock() {
            probes.insert(store.to_owned(), (ok, elapsed.as_secs_f64()));
        }
    }

    /// Everything, in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            (
                "bitatlas_auth_failures_total",
                "HTTP requests refused for a missing or invalid bearer token.",
                &self.auth_failures,
            ),
            (
                "bitatlas_rate_limited_total",
                "HTTP requests refused by the per-tenant rate limit.",
                &self.rate_limited,
            ),
            (
                "bitatlas_concurrency_limited_total",
                "HTTP requests refused by the per-tenant limit on requests in flight.",
                &self.concurrency_limited,
            ),
            (
                "bitatlas_request_timeouts_total",
                "HTTP requests that exceeded the request timeout.",
                &self.timeouts,
            ),
        ];
        for (name, help, value) in counters {
            family(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        let Ok(calls) = self.calls.lock() else {
            return out;
        };
        family(
            &mut out,
            "bitatlas_tool_calls_total",
            "counter",
            "Tool calls by tool and result code.",
        );
        for ((tool, code), n) in &calls.results {
            let _ = writeln!(
                out,
                "bitatlas_tool_calls_total{{tool=\"{}\",code=\"{}\"}} {n}",
                label(tool),
                label(code)
            );
        }
        family(
            &mut out,
            "bitatlas_tool_call_duration_seconds",
            "histogram",
            "Tool call latency, including auditing.",
        );
        for (tool, h) in &calls.latency {
            let tool = label(tool);
            for (bound, n) in BUCKETS.iter().zip(h.buckets.iter()) {
                let _ = writeln!(
                    out,
                    "bitatlas_tool_call_duration_seconds_bucket{{tool=\"{tool}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "bitatlas_tool_call_duration_seconds_bucket{{tool=\"{tool}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "bitatlas_tool_call_duration_seconds_sum{{tool=\"{tool}\"}} {}",
                h.sum_seconds
            );
            let _ = writeln!(
                out,
                "bitatlas_tool_call_duration_seconds_count{{tool=\"{tool}\"}} {}",
                h.count
            );
        }
        drop(calls);
        self.render_probes(&mut out);
        out
    }

    /// The probe gauges, once a probe has run.
    fn render_probes(&self, out: &mut String) {
        let Ok(probes) = self.probes.lock() else {
            return;
        };
        if probes.is_empty() {
            return;
        }
        family(
            out,
            "bitatlas_probe_success",
            "gauge",
            "Whether the last synthetic round trip (put, list, get, delete) on the store passed.",
        );
        for (store, (ok, _)) in probes.iter() {
            let _ = writeln!(
                out,
                "bitatlas_probe_success{{store=\"{}\"}} {}",
                label(store),
                u8::from(*ok)
            );
        }
        family(
            out,
            "bitatlas_probe_duration_seconds",
            "gauge",
            "Duration of the last synthetic round trip on the store.",
        );
        for (store, (_, secs)) in probes.iter() {
            let _ = writeln!(
                out,
                "bitatlas_probe_duration_seconds{{store=\"{}\"}} {secs}",
                label(store)
            );
        }
    }
}

/// The `# HELP` and `# TYPE` lines that open the metric family `name`.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Label values come from our own constants; escape anyway so the format cannot break.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.record_call("get", "OK", Duration::from_millis(3));
        m.record_call("get", "NOT_FOUND", Duration::from_millis(30));
        m.auth_failure();
        m.rate_limited();
        let text = m.render();
        assert!(text.contains("bitatlas_tool_calls_total{tool=\"get\",code=\"OK\"} 1"));
        assert!(text.contains("bitatlas_tool_calls_total{tool=\"get\",code=\"NOT_FOUND\"} 1"));
        assert!(text.contains("bitatlas_auth_failures_total 1"));
        assert!(text.contains("bitatlas_rate_limited_total 1"));
        assert!(
            text.contains(
                "bitatlas_tool_call_duration_seconds_bucket{tool=\"get\",le=\"0.005\"} 1"
            )
        );
        assert!(text.contains("bitatlas_tool_call_duration_seconds_count{tool=\"get\"} 2"));
    }

    #[test]
    fn renders_probe_gauges_per_store_once_a_probe_ran() {
        let m = Metrics::default();
        assert!(!m.render().contains("bitatlas_probe"));
        m.record_probe("eu-par", true, Duration::from_millis(250));
        m.record_probe("local", false, Duration::from_millis(5));
        let text = m.render();
        assert!(text.contains("# TYPE bitatlas_probe_success gauge\n"));
        assert!(text.contains("bitatlas_probe_success{store=\"eu-par\"} 1\n"));
        assert!(text.contains("bitatlas_probe_success{store=\"local\"} 0\n"));
        assert!(text.contains("bitatlas_probe_duration_seconds{store=\"eu-par\"} 0.25\n"));
        m.record_probe("local", true, Duration::from_millis(5));
        assert!(
            m.render()
                .contains("bitatlas_probe_success{store=\"local\"} 1\n")
        );
    }

    /// The whole exposition, byte for byte: scrapers and dashboards read these names.
    #[test]
    fn renders_the_exposition_text_exactly() {
        let m = Metrics::default();
        m.timeout();
        m.concurrency_limited();
        m.record_call("put", "OK", Duration::from_millis(2));
        let buckets: String = [
            ("0.001", 0),
            ("0.005", 1),
            ("0.01", 1),
            ("0.025", 1),
            ("0.05", 1),
            ("0.1", 1),
            ("0.25", 1),
            ("0.5", 1),
            ("1", 1),
            ("2.5", 1),
            ("5", 1),
            ("10", 1),
            ("+Inf", 1),
        ]
        .map(|(le, n)| {
            format!("bitatlas_tool_call_duration_seconds_bucket{{tool=\"put\",le=\"{le}\"}} {n}\n")
        })
        .concat();
        let want = format!(
            r#"# HELP bitatlas_auth_failures_total HTTP requests refused for a missing or invalid bearer token.
# TYPE bitatlas_auth_failures_total counter
bitatlas_auth_failures_total 0
# HELP bitatlas_rate_limited_total HTTP requests refused by the per-tenant rate limit.
# TYPE bitatlas_rate_limited_total counter
bitatlas_rate_limited_total 0
# HELP bitatlas_concurrency_limited_total HTTP requests refused by the per-tenant limit on requests in flight.
# TYPE bitatlas_concurrency_limited_total counter
bitatlas_concurrency_limited_total 1
# HELP bitatlas_request_timeouts_total HTTP requests that exceeded the request timeout.
# TYPE bitatlas_request_timeouts_total counter
bitatlas_request_timeouts_total 1
# HELP bitatlas_tool_calls_total Tool calls by tool and result code.
# TYPE bitatlas_tool_calls_total counter
bitatlas_tool_calls_total{{tool="put",code="OK"}} 1
# HELP bitatlas_tool_call_duration_seconds Tool call latency, including auditing.
# TYPE bitatlas_tool_call_duration_seconds histogram
{buckets}bitatlas_tool_call_duration_seconds_sum{{tool="put"}} 0.002
bitatlas_tool_call_duration_seconds_count{{tool="put"}} 1
"#
        );
        assert_eq!(m.render(), want);
    }
}
