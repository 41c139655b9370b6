//! The daemon under load: requests per second and latency at 1, 16, 64 and 256 concurrent
//! clients, its memory idle and under load, its start-up time, and the binary's size.
//!
//! Run: `cargo bench --bench daemon_load` (a few seconds per level and binary), or
//! `cargo bench --bench daemon_load -- --soak` for the soak: 64 clients, 100,000 requests,
//! zero errors and zero wrong answers required, RSS at start and end.
//!
//! Options: `--requests N` per level (default 20000), `--seconds S` cap per level (default 6),
//! `--soak-requests N` (default 100000), `--only-musl`.
//!
//! The clients are threads of this process that call the library's own client, exactly as
//! the helper does for `get`: a new connection per request, peer checks, one frame each way.
//! They share the machine's cores with the daemon, as git does on a runner. The daemon is the
//! real release binary, detached, on a socket in a short private directory under /tmp, and it
//! writes its audit trail (one line per request, at info) to `daemon.log` beside the socket.
//! Every loop here is bounded in count and in time.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use git_credential_gitlab_ci::client;
use git_credential_gitlab_ci::framing::Kind;
use support::{
    arg, cpu_time, daemon_pid, flag, kib, machine, ms, percentile, proc_kib, release_binary,
    start_daemon, stop_daemon, Binary, ANSWER, MUSL, REQUEST,
};

const LEVELS: [usize; 4] = [1, 16, 64, 256];

struct Load {
    clients: usize,
    ok: usize,
    errors: usize,
    wrong: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// The daemon's CPU time over the run.
    daemon_cpu: Option<Duration>,
    /// The most RSS seen while the load ran.
    peak_rss: Option<u64>,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

fn main() {
    let dir = tempfile::Builder::new()
        .prefix("dl")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let socket = dir.path().join("run").join("d.sock");
    println!("{}", machine());

    if flag("--soak") {
        let ours = release_binary(Some(MUSL))
            .or_else(|| release_binary(None))
            .expect("cargo build --release");
        soak(&ours, &socket, arg("--soak-requests").unwrap_or(100_000));
        return;
    }

    let requests: usize = arg("--requests").unwrap_or(20_000);
    let seconds: u64 = arg("--seconds").unwrap_or(6);
    let mut binaries = vec![release_binary(Some(MUSL))];
    if !flag("--only-musl") {
        binaries.push(release_binary(None));
    }
    for ours in binaries.into_iter().flatten() {
        report(&ours, &socket, requests, Duration::from_secs(seconds));
    }
}

fn report(ours: &Binary, socket: &Path, requests: usize, cap: Duration) {
    let size = std::fs::metadata(&ours.path).map(|m| m.len()).unwrap_or(0);
    println!();
    println!(
        "== {} build: {} ({:.2} MiB as built, stripped by the release profile)",
        ours.label,
        ours.path.display(),
        size as f64 / (1024.0 * 1024.0)
    );

    let mut starts: Vec<Duration> = (0..10)
        .map(|_| {
            let t = start_daemon(&ours.path, socket);
            stop_daemon(&ours.path, socket);
            t
        })
        .collect();
    println!(
        "start to ready (`daemon --detach` returns once the socket accepts): median {:.2} ms, max {:.2} ms of {}",
        ms(percentile(&mut starts, 50)),
        ms(percentile(&mut starts, 100)),
        starts.len()
    );

    start_daemon(&ours.path, socket);
    let pid = daemon_pid(socket).expect("the daemon's pid");
    let idle = proc_kib(pid, "VmRSS");
    // Warm up: the first connections fault in the runtime's and the allocator's pages.
    let _ = run_load(socket, pid, 8, 2_000, cap);
    let warm_idle = proc_kib(pid, "VmRSS");

    println!(
        "{:>8} {:>10} {:>9} {:>9} {:>9} {:>11} {:>7} {:>7} {:>10}",
        "clients",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "daemon CPU",
        "errors",
        "wrong",
        "RSS max"
    );
    for clients in LEVELS {
        let mut load = run_load(socket, pid, clients, requests, cap);
        let p50 = percentile(&mut load.latencies, 50);
        let p99 = percentile(&mut load.latencies, 99);
        println!(
            "{:>8} {:>10} {:>9.0} {:>9.3} {:>9.3} {:>8.1} us {:>7} {:>7} {:>10}",
            load.clients,
            load.ok,
            load.per_second(),
            ms(p50),
            ms(p99),
            load.daemon_cpu
                .map_or(f64::NAN, |c| c.as_secs_f64() * 1e6 / load.ok.max(1) as f64),
            load.errors,
            load.wrong,
            kib(load.peak_rss),
        );
    }
    println!("(daemon CPU: the daemon's user+system time per request, from /proc/<pid>/stat)");
    println!(
        "RSS: idle after start {}, idle after warm-up {}, after the runs {}, peak (VmHWM) {}",
        kib(idle),
        kib(warm_idle),
        kib(proc_kib(pid, "VmRSS")),
        kib(proc_kib(pid, "VmHWM")),
    );
    stop_daemon(&ours.path, socket);
}

/// 64 clients, `total` requests: every one must be answered, and answered right.
fn soak(ours: &Binary, socket: &Path, total: usize) {
    println!("soak: {} build, 64 clients, {total} requests", ours.label);
    start_daemon(&ours.path, socket);
    let pid = daemon_pid(socket).expect("the daemon's pid");
    let start = proc_kib(pid, "VmRSS");
    let mut load = run_load(socket, pid, 64, total, Duration::from_secs(600));
    let end = proc_kib(pid, "VmRSS");
    let hwm = proc_kib(pid, "VmHWM");
    stop_daemon(&ours.path, socket);
    println!(
        "soak: {} answered in {:.1} s ({:.0} req/s), p50 {:.3} ms, p99 {:.3} ms, {} errors, {} wrong answers",
        load.ok,
        load.elapsed.as_secs_f64(),
        load.per_second(),
        ms(percentile(&mut load.latencies, 50)),
        ms(percentile(&mut load.latencies, 99)),
        load.errors,
        load.wrong
    );
    println!(
        "soak: daemon RSS at start {}, at end {}, peak (VmHWM) {}",
        kib(start),
        kib(end),
        kib(hwm)
    );
    assert_eq!(load.errors, 0, "the soak saw errors");
    assert_eq!(load.wrong, 0, "the soak saw wrong answers");
    assert_eq!(
        load.ok, total,
        "the soak did not finish within its time cap"
    );
    println!("soak: passed");
}

/// `clients` threads send `get` requests through the library's client until `total` have
/// been sent or `cap` has passed.
fn run_load(socket: &Path, pid: u32, clients: usize, total: usize, cap: Duration) -> Load {
    let issued = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (issued, barrier) = (Arc::clone(&issued), Arc::clone(&barrier));
            let socket = socket.to_path_buf();
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut latencies = Vec::with_capacity(total / clients + 1);
                    let (mut errors, mut wrong) = (0, 0);
                    barrier.wait();
                    let deadline = Instant::now() + cap;
                    while issued.fetch_add(1, Ordering::Relaxed) < total
                        && Instant::now() < deadline
                    {
                        let started = Instant::now();
                        match client::request(&socket, Kind::Get, REQUEST) {
                            Ok((Kind::Answer, reply)) if reply[..] == *ANSWER => {
                                latencies.push(started.elapsed())
                            }
                            Ok(_) => wrong += 1,
                            Err(_) => errors += 1,
                        }
                    }
                    (latencies, errors, wrong)
                })
                .expect("a client thread")
        })
        .collect();
    let sampler = {
        let (done, peak) = (Arc::clone(&done), Arc::clone(&peak));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = proc_kib(pid, "VmRSS") {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let cpu_before = cpu_time(pid);
    barrier.wait();
    let started = Instant::now();
    let mut load = Load {
        clients,
        ok: 0,
        errors: 0,
        wrong: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(total),
        daemon_cpu: None,
        peak_rss: None,
    };
    for t in threads {
        let (latencies, errors, wrong) = t.join().expect("a client thread panicked");
        load.ok += latencies.len();
        load.latencies.extend(latencies);
        load.errors += errors;
        load.wrong += wrong;
    }
    load.elapsed = started.elapsed();
    load.daemon_cpu = cpu_time(pid)
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    load.peak_rss = Some(peak.load(Ordering::Relaxed)).filter(|&k| k > 0);
    if load.latencies.is_empty() {
        load.latencies.push(Duration::ZERO);
    }
    load
}
