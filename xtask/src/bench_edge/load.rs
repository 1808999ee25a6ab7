//! Load from `oha` (pinned to its own core) and what one run measured.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

/// One run of one contender on one path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    pub requests_per_second: f64,
    /// Milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Answers whose status was not the one expected, and transport errors.
    pub failures: u64,
}

/// What a run's settings are.
pub struct Load<'a> {
    pub oha: &'a Path,
    /// The CPU `oha` runs on (the server has the other).
    pub cpu: usize,
    pub connections: u32,
    pub seconds: u32,
}

impl Load<'_> {
    /// Loads `url` (with `headers`) for the run's time; `expected` is the
    /// status every answer should have.
    pub fn run(&self, url: &str, headers: &[(String, String)], expected: u16) -> Result<Run> {
        let mut command = Command::new("taskset");
        command
            .args(["-c", &self.cpu.to_string()])
            .arg(self.oha)
            .args(["--no-tui", "--output-format", "json"])
            .args(["-c", &self.connections.to_string()])
            .args(["-z", &format!("{}s", self.seconds)]);
        for (name, value) in headers {
            command.arg("-H").arg(format!("{name}: {value}"));
        }
        command.arg(url);
        let out = command.output().context("running oha")?;
        if !out.status.success() {
            bail!(
                "oha failed on {url}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        parse(&String::from_utf8_lossy(&out.stdout), expected)
    }
}

/// Reads oha's JSON report (times in seconds).
pub fn parse(json: &str, expected: u16) -> Result<Run> {
    let v: serde_json::Value = serde_json::from_str(json).context("oha's JSON report")?;
    let seconds = |path: &str| {
        v.pointer(path)
            .and_then(serde_json::Value::as_f64)
            .with_context(|| format!("oha's report has no {path}"))
    };
    let statuses = v
        .get("statusCodeDistribution")
        .and_then(|d| d.as_object())
        .cloned()
        .unwrap_or_default();
    // The requests in flight when the time is up are cut off by oha
    // itself, not failed by the server.
    let errors: u64 = v
        .get("errorDistribution")
        .and_then(|d| d.as_object())
        .map(|m| {
            m.iter()
                .filter(|(why, _)| !why.contains("deadline"))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0);
    let unexpected: u64 = statuses
        .iter()
        .filter(|(status, _)| status.as_str() != expected.to_string())
        .filter_map(|(_, n)| n.as_u64())
        .sum();
    Ok(Run {
        requests_per_second: seconds("/summary/requestsPerSec")?,
        p50_ms: seconds("/latencyPercentiles/p50")? * 1000.0,
        p99_ms: seconds("/latencyPercentiles/p99")? * 1000.0,
        failures: unexpected + errors,
    })
}

/// Median, minimum and maximum of `xs` (not empty).
pub fn spread(xs: &[f64]) -> (f64, f64, f64) {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    (
        median,
        sorted.first().copied().unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oha_report_reads_as_a_run() {
        let json = r#"{"summary":{"successRate":1.0,"requestsPerSec":1234.5},
            "latencyPercentiles":{"p50":0.002,"p99":0.0105},
            "statusCodeDistribution":{"200":100,"500":2},
            "errorDistribution":{"connection closed":1}}"#;
        let run = parse(json, 200).unwrap();
        assert_eq!(run.requests_per_second, 1234.5);
        assert!((run.p50_ms - 2.0).abs() < 1e-9 && (run.p99_ms - 10.5).abs() < 1e-9);
        assert_eq!(run.failures, 3);
        assert!(parse("{}", 200).is_err());
    }

    #[test]
    fn the_spread_is_median_min_max() {
        assert_eq!(spread(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(spread(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
    }
}
