//! Running a workload against a client: a warm-up, then a measured window, either as fast as
//! the target answers (a fixed number of requests in flight) or at a fixed rate, where each
//! request's latency counts from the moment it was *meant* to be sent, so that a target that
//! stalls cannot hide the requests it delayed (no coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::{Semaphore, mpsc};

use crate::client::Client;
use crate::procstat;
use crate::report::{CpuUse, Latency, RunReport};
use crate::workload::{SplitMix, Workload};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The mix of operations.
    pub workload: Workload,
    /// Requests in flight at most (closed loop: exactly).
    pub concurrency: usize,
    /// Before measuring.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Requests per second to send at (open loop); `None`: as fast as answered.
    pub rate: Option<f64>,
    /// Distinct keys.
    pub keys: u64,
    /// Seeds the keys' random sequence.
    pub seed: u64,
}

/// A process whose CPU time is read at the edges of the measured window.
#[derive(Debug, Clone)]
pub struct Watched {
    /// What it is (`ringgate`, `forwarder`, `stub`, ...).
    pub name: String,
    /// Its pid.
    pub pid: u32,
}

const WARMING: u8 = 0;
const MEASURING: u8 = 1;
const STOPPED: u8 = 2;

/// Latencies are recorded in nanoseconds, up to 2 minutes, at 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("static bounds are valid")
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What every worker shares.
struct Shared {
    client: Arc<Client>,
    phase: AtomicU8,
    completed: AtomicU64,
    errors: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Shared {
    fn note(&self, outcome: &Result<(), String>, measured: bool) {
        self.completed.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = outcome {
            if measured {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
            let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| e.clone());
        }
    }
}

/// Runs `spec` on `client` and reports it, reading the CPU time of `watched` (and of this
/// process) over the measured window. `label` names the target in the progress line.
pub async fn run(
    client: Arc<Client>,
    spec: &LoadSpec,
    watched: &[Watched],
    label: &str,
) -> RunReport {
    let shared = Arc::new(Shared {
        client,
        phase: AtomicU8::new(WARMING),
        completed: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: std::sync::Mutex::new(None),
    });
    let progress = progress_line(label, spec);
    let started = Instant::now();
    let measure_from = started + spec.warmup;
    let measure_until = measure_from + spec.duration;
    let workers = match spec.rate {
        None => closed_loop(&shared, spec),
        Some(rate) => open_loop(&shared, spec, rate, started, measure_from, measure_until),
    };

    // Warm-up, then the window, with the progress line ticking.
    tick_until(&progress, &shared, measure_from, "warming up").await;
    let cpu_before = sample(watched);
    let own_before = procstat::own_cpu_time();
    let window_start = Instant::now();
    shared.phase.store(MEASURING, Ordering::SeqCst);
    tick_until(&progress, &shared, measure_until, "measuring").await;
    shared.phase.store(STOPPED, Ordering::SeqCst);
    let window = window_start.elapsed();
    let cpu_after = sample(watched);
    let own_after = procstat::own_cpu_time();
    progress.finish_and_clear();

    let mut latency = histogram();
    let mut lateness = histogram();
    for worker in workers {
        if let Ok((l, late)) = worker.await {
            let _ = latency.add(&l);
            let _ = lateness.add(&late);
        }
    }
    let ops = latency.len();
    let errors = shared.errors.load(Ordering::Relaxed);
    let served = ops.max(1) as f64;
    let mut cpu: Vec<CpuUse> = watched
        .iter()
        .zip(cpu_before.iter().zip(&cpu_after))
        .map(|(w, (before, after))| CpuUse::new(&w.name, *before, *after, served))
        .collect();
    cpu.push(CpuUse::new("harness", own_before, own_after, served));
    let first_error = shared
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    RunReport {
        label: label.to_owned(),
        workload: spec.workload,
        concurrency: spec.concurrency,
        rate: spec.rate,
        seconds: window.as_secs_f64(),
        ops,
        errors,
        ops_per_s: ops as f64 / window.as_secs_f64().max(1e-9),
        latency: Latency::of(&latency),
        dispatch_lateness: spec.rate.map(|_| Latency::of(&lateness)),
        cpu,
        first_error,
        round: 0,
        target: String::new(),
        mode: String::new(),
    }
}

type Worker = tokio::task::JoinHandle<(Histogram<u64>, Histogram<u64>)>;

/// `concurrency` workers, each sending its next request when the last one is answered.
fn closed_loop(shared: &Arc<Shared>, spec: &LoadSpec) -> Vec<Worker> {
    (0..spec.concurrency.max(1))
        .map(|i| {
            let shared = Arc::clone(shared);
            let (workload, keys) = (spec.workload, spec.keys);
            let mut random = SplitMix::new(spec.seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
            tokio::spawn(async move {
                let mut latency = histogram();
                loop {
                    let phase = shared.phase.load(Ordering::Relaxed);
                    if phase == STOPPED {
                        break;
                    }
                    let op = workload.op(random.next_u64(), keys);
                    let sent = Instant::now();
                    let outcome = shared.client.run(op).await;
                    let elapsed = sent.elapsed();
                    let measured =
                        phase == MEASURING && shared.phase.load(Ordering::Relaxed) == MEASURING;
                    shared.note(&outcome, measured);
                    if measured && outcome.is_ok() {
                        latency.saturating_record(nanos(elapsed));
                    }
                }
                (latency, histogram())
            })
        })
        .collect()
}

/// Requests meant to be sent at `rate` per second from `start`, each started when its time
/// comes (by a pacing thread, precise to the OS's sleep) as long as fewer than `concurrency`
/// are in flight; its latency counts from when it was meant to be sent.
fn open_loop(
    shared: &Arc<Shared>,
    spec: &LoadSpec,
    rate: f64,
    start: Instant,
    measure_from: Instant,
    until: Instant,
) -> Vec<Worker> {
    let (tickets, mut due) = mpsc::unbounded_channel::<Instant>();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    std::thread::spawn(move || {
        let mut n: u32 = 0;
        loop {
            let intended = start + interval.saturating_mul(n);
            if intended >= until {
                return;
            }
            let now = Instant::now();
            if intended > now {
                std::thread::sleep(intended - now);
            }
            if tickets.send(intended).is_err() {
                return;
            }
            n = n.saturating_add(1);
        }
    });
    let shared = Arc::clone(shared);
    let (workload, keys, concurrency) = (spec.workload, spec.keys, spec.concurrency.max(1));
    let mut random = SplitMix::new(spec.seed);
    let dispatcher = tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(concurrency));
        let results = Arc::new(std::sync::Mutex::new((histogram(), histogram())));
        let mut running = tokio::task::JoinSet::new();
        while let Some(intended) = due.recv().await {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let op = workload.op(random.next_u64(), keys);
            let (shared, results) = (Arc::clone(&shared), Arc::clone(&results));
            running.spawn(async move {
                let dispatched = Instant::now();
                let outcome = shared.client.run(op).await;
                let done = Instant::now();
                drop(slot);
                let measured = intended >= measure_from;
                shared.note(&outcome, measured);
                if measured && outcome.is_ok() {
                    let mut results = results.lock().unwrap_or_else(|p| p.into_inner());
                    results.0.saturating_record(nanos(done - intended));
                    results.1.saturating_record(nanos(dispatched - intended));
                }
            });
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
        let results = results.lock().unwrap_or_else(|p| p.into_inner());
        (results.0.clone(), results.1.clone())
    });
    vec![dispatcher]
}

fn sample(watched: &[Watched]) -> Vec<Option<Duration>> {
    watched.iter().map(|w| procstat::cpu_time(w.pid)).collect()
}

fn progress_line(label: &str, spec: &LoadSpec) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let pace = match spec.rate {
        Some(rate) => format!("{rate:.0}/s"),
        None => format!("{} in flight", spec.concurrency),
    };
    bar.set_prefix(format!("{label} {} {pace}", spec.workload));
    bar
}

async fn tick_until(bar: &ProgressBar, shared: &Shared, until: Instant, what: &str) {
    let mut last = (Instant::now(), shared.completed.load(Ordering::Relaxed));
    loop {
        let now = Instant::now();
        if now >= until {
            return;
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(500))).await;
        let (at, done) = (Instant::now(), shared.completed.load(Ordering::Relaxed));
        let rate = (done - last.1) as f64 / (at - last.0).as_secs_f64().max(1e-9);
        last = (at, done);
        bar.set_message(format!(
            "{what}: {rate:>9.0} ops/s, {} errors, {:>3.0} s left",
            shared.errors.load(Ordering::Relaxed),
            until.saturating_duration_since(at).as_secs_f64()
        ));
        bar.tick();
    }
}
