//! What a run measured, as JSON (one object per run) and as a readable summary; medians over
//! alternated rounds and ratios against a baseline measured in the same session.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::workload::Workload;

/// Latency percentiles in microseconds, and points of the distribution for plots.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// The largest.
    pub max_us: f64,
    /// The mean.
    pub mean_us: f64,
    /// (quantile, µs) pairs from 0 to 1, for a CDF plot.
    pub cdf: Vec<(f64, f64)>,
}

impl Latency {
    /// The percentiles of a histogram recorded in nanoseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1000.0;
        let at = |q: f64| us(h.value_at_quantile(q));
        let mut cdf = Vec::new();
        if !h.is_empty() {
            // Denser towards the tail, where the differences are.
            let mut q = 0.0f64;
            while q < 0.9999 {
                cdf.push((q, at(q)));
                q += (1.0 - q) * 0.05 + 0.0001;
            }
            cdf.push((1.0, us(h.max())));
        }
        Latency {
            p50_us: at(0.5),
            p90_us: at(0.9),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
            cdf,
        }
    }
}

/// CPU time one process used over the measured window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CpuUse {
    /// The process (`ringgate`, `forwarder`, `stub`, `harness`, ...).
    pub name: String,
    /// Seconds of CPU (user + system) in the window; `None` if it could not be read.
    pub seconds: Option<f64>,
    /// Microseconds of CPU per request served in the window.
    pub us_per_request: Option<f64>,
}

impl CpuUse {
    /// The use between two readings, over `served` requests.
    pub fn new(name: &str, before: Option<Duration>, after: Option<Duration>, served: f64) -> Self {
        let seconds = before
            .zip(after)
            .map(|(b, a)| a.saturating_sub(b).as_secs_f64());
        CpuUse {
            name: name.to_owned(),
            seconds,
            us_per_request: seconds.map(|s| s * 1e6 / served.max(1.0)),
        }
    }
}

/// One measured run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunReport {
    /// What the progress line called it.
    pub label: String,
    /// The target (`direct`, `forwarder`, `ringgate`, `shotover`, or an address).
    pub target: String,
    /// `driver` (the scylla crate over the network) or `embedded` (Ringgate's request API).
    pub mode: String,
    /// The round of an alternated comparison (0 outside one).
    pub round: usize,
    /// The workload.
    pub workload: Workload,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// The fixed rate, if any.
    pub rate: Option<f64>,
    /// The measured window's length.
    pub seconds: f64,
    /// Requests answered in the window without error.
    pub ops: u64,
    /// Requests that failed in the window.
    pub errors: u64,
    /// Throughput.
    pub ops_per_s: f64,
    /// Latency (from the intended send time at a fixed rate).
    pub latency: Latency,
    /// At a fixed rate: how late the harness sent requests after their intended time (part
    /// of `latency`, the same for every target).
    pub dispatch_lateness: Option<Latency>,
    /// CPU of the processes watched, and of the harness itself.
    pub cpu: Vec<CpuUse>,
    /// The first error seen, for the reader.
    pub first_error: Option<String>,
}

impl RunReport {
    /// The CPU per request of the process called `name`.
    pub fn cpu_per_request(&self, name: &str) -> Option<f64> {
        self.cpu
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.us_per_request)
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{:<10} {:<10} {:>4} {:>9.0} ops/s  p50 {:>8.1} p90 {:>8.1} p99 {:>8.1} p99.9 {:>8.1} max {:>9.1} µs  errors {}",
            self.label,
            self.workload,
            self.rate
                .map_or_else(|| self.concurrency.to_string(), |r| format!("@{r:.0}")),
            self.ops_per_s,
            self.latency.p50_us,
            self.latency.p90_us,
            self.latency.p99_us,
            self.latency.p999_us,
            self.latency.max_us,
            self.errors,
        );
        for cpu in &self.cpu {
            if let Some(us) = cpu.us_per_request {
                let _ = write!(line, "  {} {us:.1} µs/req", cpu.name);
            }
        }
        if let Some(e) = &self.first_error {
            let _ = write!(line, "  first error: {e}");
        }
        line
    }
}

/// The median of some figures (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// The medians of one target's runs of one case over every round.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Medians {
    /// The target.
    pub target: String,
    /// The workload.
    pub workload: Workload,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// The fixed rate, if any.
    pub rate: Option<f64>,
    /// Rounds counted.
    pub rounds: usize,
    /// Throughput.
    pub ops_per_s: f64,
    /// Latency percentiles, µs.
    pub p50_us: f64,
    /// 90th percentile, µs.
    pub p90_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// The proxy's CPU per request (the target's own process), µs.
    pub proxy_cpu_us: Option<f64>,
    /// Errors over every round.
    pub errors: u64,
}

/// Medians per (target, workload, concurrency, rate), in first-seen order.
pub fn medians(runs: &[RunReport]) -> Vec<Medians> {
    let mut groups: BTreeMap<(usize, String), Vec<&RunReport>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for run in runs {
        let key = format!(
            "{}|{}|{}|{:?}",
            run.target, run.workload, run.concurrency, run.rate
        );
        let index = order.iter().position(|k| *k == key).unwrap_or_else(|| {
            order.push(key.clone());
            order.len() - 1
        });
        groups.entry((index, key)).or_default().push(run);
    }
    groups
        .into_values()
        .filter_map(|group| {
            let first = *group.first()?;
            let figure = |f: &dyn Fn(&RunReport) -> Option<f64>| {
                let mut values: Vec<f64> = group.iter().filter_map(|r| f(r)).collect();
                median(&mut values)
            };
            Some(Medians {
                target: first.target.clone(),
                workload: first.workload,
                concurrency: first.concurrency,
                rate: first.rate,
                rounds: group.len(),
                ops_per_s: figure(&|r| Some(r.ops_per_s))?,
                p50_us: figure(&|r| Some(r.latency.p50_us))?,
                p90_us: figure(&|r| Some(r.latency.p90_us))?,
                p99_us: figure(&|r| Some(r.latency.p99_us))?,
                p999_us: figure(&|r| Some(r.latency.p999_us))?,
                proxy_cpu_us: figure(&|r| r.cpu_per_request(&r.target)),
                errors: group.iter().map(|r| r.errors).sum(),
            })
        })
        .collect()
}

/// A Markdown table of the medians, each with its ratios against `baseline`'s figures for
/// the same case (throughput, p50, p99), and the proxies' CPU per request against the
/// `floor` target's (the TCP forwarder).
pub fn comparison_table(medians: &[Medians], baseline: &str, floor: &str) -> String {
    let find = |target: &str, m: &Medians| {
        medians.iter().find(|o| {
            o.target == target
                && o.workload == m.workload
                && o.concurrency == m.concurrency
                && o.rate == m.rate
        })
    };
    let mut out = String::from(
        "| workload | in flight | target | ops/s | × direct | p50 µs | × | p99 µs | × | p99.9 µs | CPU µs/req | × forwarder | errors |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in medians {
        let base = find(baseline, m);
        let ratio = |ours: f64, theirs: Option<f64>| match theirs {
            Some(t) if t > 0.0 => format!("{:.2}", ours / t),
            _ => "–".to_owned(),
        };
        let cpu = m
            .proxy_cpu_us
            .map_or_else(|| "–".to_owned(), |c| format!("{c:.1}"));
        let cpu_ratio = match (m.proxy_cpu_us, find(floor, m).and_then(|f| f.proxy_cpu_us)) {
            (Some(ours), Some(theirs)) if theirs > 0.0 => format!("{:.2}", ours / theirs),
            _ => "–".to_owned(),
        };
        let pace = m
            .rate
            .map_or_else(|| m.concurrency.to_string(), |r| format!("@{r:.0}/s"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {} | {:.0} | {} | {:.0} | {} | {:.0} | {} | {} | {} |",
            m.workload,
            pace,
            m.target,
            m.ops_per_s,
            ratio(m.ops_per_s, base.map(|b| b.ops_per_s)),
            m.p50_us,
            ratio(m.p50_us, base.map(|b| b.p50_us)),
            m.p99_us,
            ratio(m.p99_us, base.map(|b| b.p99_us)),
            m.p999_us,
            cpu,
            cpu_ratio,
            m.errors,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    fn run(target: &str, round: usize, ops_per_s: f64, cpu: Option<f64>) -> RunReport {
        let h = histogram_of(&[10_000, 20_000, 30_000]);
        RunReport {
            label: target.to_owned(),
            target: target.to_owned(),
            mode: "driver".to_owned(),
            round,
            workload: Workload::Read,
            concurrency: 64,
            rate: None,
            seconds: 1.0,
            ops: ops_per_s as u64,
            errors: 0,
            ops_per_s,
            latency: Latency::of(&h),
            dispatch_lateness: None,
            cpu: vec![CpuUse {
                name: target.to_owned(),
                seconds: cpu.map(|c| c * ops_per_s / 1e6),
                us_per_request: cpu,
            }],
            first_error: None,
        }
    }

    fn histogram_of(ns: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 120_000_000_000, 3).unwrap();
        for &v in ns {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn latency_percentiles_come_out_in_microseconds() {
        let l = Latency::of(&histogram_of(&[10_000, 20_000, 30_000, 40_000]));
        assert!((l.p50_us - 20.0).abs() < 0.1, "{l:?}");
        assert!((l.max_us - 40.0).abs() < 0.1, "{l:?}");
        assert_eq!(l.cdf.last().map(|p| p.0), Some(1.0));
        assert!(
            l.cdf
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
        );
    }

    #[test]
    fn a_table_compares_each_target_with_the_baseline_of_its_case() {
        let runs = vec![
            run("direct", 1, 1000.0, None),
            run("forwarder", 1, 900.0, Some(3.0)),
            run("ringgate", 1, 500.0, Some(30.0)),
            run("direct", 2, 1200.0, None),
            run("forwarder", 2, 1000.0, Some(2.0)),
            run("ringgate", 2, 700.0, Some(20.0)),
            run("direct", 3, 1100.0, None),
            run("forwarder", 3, 950.0, Some(4.0)),
            run("ringgate", 3, 600.0, Some(25.0)),
        ];
        let medians = medians(&runs);
        assert_eq!(medians.len(), 3);
        assert_eq!(medians[2].ops_per_s, 600.0);
        assert_eq!(medians[2].proxy_cpu_us, Some(25.0));
        let table = comparison_table(&medians, "direct", "forwarder");
        let ringgate = table.lines().find(|l| l.contains("ringgate")).unwrap();
        // 600 / 1100 direct; 25 / 3 forwarder.
        assert!(ringgate.contains("| 0.55 |"), "{ringgate}");
        assert!(ringgate.contains("| 8.33 |"), "{ringgate}");
    }
}
