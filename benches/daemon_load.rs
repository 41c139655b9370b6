//! The daemon under load: requests per second and latency at 1, 16, 64 and 256 concurrent
//! clients, its memory idle and under load, its start-up time, and the binary's size.
//!
//! Run: `cargo bench --bench daemon_load` (about a minute), or
//! `cargo bench --bench daemon_load -- --soak` for the soak: 64 clients, 100,000 requests,
//! zero errors and zero wrong answers required, RSS at start and end.
//!
//! Options, after `--`: `--requests N` per level and binary (default 30000), `--seconds S`
//! cap per level and binary (default 10), `--clients N` (that level only), `--rate R` (the
//! paced run's total rate, default 30000), `--soak-requests N` (default 100000), `--ours PATH`
//! (measure that binary instead of building; repeat it to compare builds side by side).
//!
//! The clients are threads of this process that call the library's own client, exactly as
//! the helper does for `get`: a new connection per request, the socket's owner and the peer's
//! uid checked, one frame each way. They share the machine's cores with the daemon, as git
//! does on a runner. Each daemon is the real release binary, detached, on a socket in a short
//! private directory under /tmp, writing its audit trail (one line per request, at info) to
//! `daemon.log` beside the socket. With several binaries, all their daemons run at once and
//! each level is run in slices that alternate between them, so that noise from the rest of
//! the machine falls on all alike. Every loop here is bounded in count and in time.
//!
//! Two kinds of run per level:
//! * saturation: every client sends its next request as soon as it has the last answer;
//!   this gives the most requests per second, and latencies that are mostly queueing
//!   (Little's law: mean latency = clients / rate);
//! * paced (64 clients only): the clients together send `--rate` requests per second on a
//!   fixed schedule, and a request's latency counts from when it was due, so a stall is not
//!   hidden by the requests it delayed.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use git_credential_gitlab_ci::{client_request, split_answer, Kind};
use support::{
    arg, cpu_time, daemon_pid, flag, given_binaries, kib, machine, ms, percentile, proc_kib,
    release_binary, shipped_binary, start_daemon, stop_daemon, Binary, ANSWER, MUSL, REQUEST,
};

const LEVELS: [usize; 4] = [1, 16, 64, 256];
/// Each level is run in this many slices per binary, alternating between binaries.
const SLICES: usize = 5;

/// What one or more runs against one daemon added up to.
#[derive(Default)]
struct Load {
    ok: usize,
    errors: usize,
    wrong: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// The daemon's CPU time over the runs.
    daemon_cpu: Duration,
    /// The most RSS seen while the load ran.
    peak_rss: u64,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn add(&mut self, other: Load) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.wrong += other.wrong;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.daemon_cpu += other.daemon_cpu;
        self.peak_rss = self.peak_rss.max(other.peak_rss);
    }
}

/// A running daemon of one binary.
struct Running {
    binary: Binary,
    socket: PathBuf,
    pid: u32,
}

fn main() {
    let dir = tempfile::Builder::new()
        .prefix("dl")
        .tempdir_in("/tmp")
        .expect("temp dir");
    println!("{}", machine());
    let given = given_binaries();

    if flag("--soak") {
        let ours = given.into_iter().next().unwrap_or_else(shipped_binary);
        soak(&ours, &dir.path().join("soak").join("d.sock"));
        return;
    }

    let binaries: Vec<Binary> = if given.is_empty() {
        [release_binary(Some(MUSL)), release_binary(None)]
            .into_iter()
            .flatten()
            .collect()
    } else {
        given
    };
    let requests: usize = arg("--requests").unwrap_or(30_000);
    let cap = Duration::from_secs(arg("--seconds").unwrap_or(10));
    let rate: f64 = arg("--rate").unwrap_or(30_000.0);
    let levels = arg::<usize>("--clients").map_or(LEVELS.to_vec(), |n| vec![n]);

    for b in &binaries {
        let size = std::fs::metadata(&b.path).map(|m| m.len()).unwrap_or(0);
        println!(
            "binary {}: {} ({size} bytes, {:.2} MiB, as built: the release profile strips it)",
            b.label,
            b.path.display(),
            size as f64 / (1024.0 * 1024.0)
        );
    }
    start_to_ready(&binaries, &dir.path().join("start").join("d.sock"));

    let daemons: Vec<Running> = binaries
        .into_iter()
        .enumerate()
        .map(|(i, binary)| {
            let socket = dir.path().join(format!("r{i}")).join("d.sock");
            start_daemon(&binary.path, &socket);
            let pid = daemon_pid(&socket).expect("the daemon's pid");
            Running {
                binary,
                socket,
                pid,
            }
        })
        .collect();
    let idle: Vec<Option<u64>> = daemons.iter().map(|d| proc_kib(d.pid, "VmRSS")).collect();
    // Warm up: the first connections fault in the runtime's and the allocator's pages.
    for d in &daemons {
        run_load(d, 16, 3_000, cap, None);
    }
    let warm: Vec<Option<u64>> = daemons.iter().map(|d| proc_kib(d.pid, "VmRSS")).collect();

    println!();
    println!(
        "{:<16} {:>7} {:>9} {:>8} {:>8} {:>8} {:>9} {:>6} {:>6} {:>10}",
        "daemon",
        "clients",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU/req",
        "errors",
        "wrong",
        "RSS max"
    );
    let mut runs: Vec<(usize, Option<f64>)> = levels.iter().map(|&c| (c, None)).collect();
    if levels.contains(&64) {
        runs.push((64, Some(rate)));
    }
    for (clients, pace) in runs {
        let mut loads: Vec<Load> = daemons.iter().map(|_| Load::default()).collect();
        for slice in 0..SLICES {
            for k in 0..daemons.len() {
                let i = (slice + k) % daemons.len();
                let load = run_load(
                    &daemons[i],
                    clients,
                    requests / SLICES,
                    cap / SLICES as u32,
                    pace,
                );
                loads[i].add(load);
            }
        }
        for (d, load) in daemons.iter().zip(&mut loads) {
            let kind = match pace {
                Some(r) => format!("{clients} @{}/s", r as u64),
                None => clients.to_string(),
            };
            if load.latencies.is_empty() {
                load.latencies.push(Duration::ZERO);
            }
            println!(
                "{:<16} {:>7} {:>9} {:>8.0} {:>8.3} {:>8.3} {:>6.1} us {:>6} {:>6} {:>10}",
                d.binary.label,
                kind,
                load.ok,
                load.per_second(),
                ms(percentile(&mut load.latencies, 50)),
                ms(percentile(&mut load.latencies, 99)),
                load.daemon_cpu.as_secs_f64() * 1e6 / load.ok.max(1) as f64,
                load.errors,
                load.wrong,
                kib(Some(load.peak_rss).filter(|&k| k > 0)),
            );
        }
    }
    println!("(CPU/req: the daemon's user+system time per request, from /proc/<pid>/stat;");
    println!(" `N @R/s`: N clients paced to R requests/s in total, latency counted from when due)");
    println!();
    for (i, d) in daemons.iter().enumerate() {
        println!(
            "RSS {}: idle after start {}, after warm-up {}, after the runs {}, peak (VmHWM) {}",
            d.binary.label,
            kib(idle[i]),
            kib(warm[i]),
            kib(proc_kib(d.pid, "VmRSS")),
            kib(proc_kib(d.pid, "VmHWM")),
        );
        stop_daemon(&d.binary.path, &d.socket);
    }
}

/// `daemon --detach` returns once the socket accepts connections: ten starts per binary,
/// alternating.
fn start_to_ready(binaries: &[Binary], socket: &Path) {
    let mut starts: Vec<Vec<Duration>> = binaries.iter().map(|_| Vec::new()).collect();
    for _ in 0..10 {
        for (i, b) in binaries.iter().enumerate() {
            starts[i].push(start_daemon(&b.path, socket));
            stop_daemon(&b.path, socket);
        }
    }
    for (b, s) in binaries.iter().zip(&mut starts) {
        println!(
            "start to ready {}: median {:.2} ms, max {:.2} ms of {}",
            b.label,
            ms(percentile(s, 50)),
            ms(percentile(s, 100)),
            s.len()
        );
    }
}

/// 64 clients, `--soak-requests` requests: every one must be answered, and answered right.
fn soak(ours: &Binary, socket: &Path) {
    let total: usize = arg("--soak-requests").unwrap_or(100_000);
    println!(
        "soak: {}, 64 clients, {total} requests",
        ours.path.display()
    );
    start_daemon(&ours.path, socket);
    let pid = daemon_pid(socket).expect("the daemon's pid");
    let daemon = Running {
        binary: Binary {
            label: ours.label.clone(),
            path: ours.path.clone(),
        },
        socket: socket.to_path_buf(),
        pid,
    };
    let start = proc_kib(pid, "VmRSS");
    let mut load = run_load(&daemon, 64, total, Duration::from_secs(600), None);
    let end = proc_kib(pid, "VmRSS");
    let hwm = proc_kib(pid, "VmHWM");
    stop_daemon(&ours.path, socket);
    load.latencies.push(Duration::ZERO);
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
/// been sent or `cap` has passed; back to back, or paced to `rate` requests/s in total.
fn run_load(
    daemon: &Running,
    clients: usize,
    total: usize,
    cap: Duration,
    rate: Option<f64>,
) -> Load {
    let issued = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(clients + 1));
    // Paced: each client sends every `interval`, the clients spread evenly over it.
    let interval = rate.map(|r| Duration::from_secs_f64(clients as f64 / r));
    let threads: Vec<_> = (0..clients)
        .map(|n| {
            let (issued, barrier) = (Arc::clone(&issued), Arc::clone(&barrier));
            let socket = daemon.socket.clone();
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut latencies = Vec::with_capacity(total / clients + 1);
                    let (mut errors, mut wrong) = (0, 0);
                    barrier.wait();
                    let start = Instant::now();
                    let deadline = start + cap;
                    let mut due = interval.map(|i| start + i * n as u32 / clients as u32);
                    while issued.fetch_add(1, Ordering::Relaxed) < total
                        && Instant::now() < deadline
                    {
                        let started = match (due, interval) {
                            (Some(at), Some(every)) => {
                                let now = Instant::now();
                                if at > now {
                                    std::thread::sleep(at - now);
                                }
                                due = Some(at + every);
                                at
                            }
                            _ => Instant::now(),
                        };
                        match client_request(&socket, Kind::Get, REQUEST) {
                            Ok((Kind::Answer, reply))
                                if split_answer(&reply).map(|(_, a)| a) == Some(ANSWER) =>
                            {
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
    let pid = daemon.pid;
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
    let mut load = Load::default();
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
        .map_or(Duration::ZERO, |(after, before)| {
            after.saturating_sub(before)
        });
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    load.peak_rss = peak.load(Ordering::Relaxed);
    load
}
