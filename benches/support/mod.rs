//! What both benchmarks share: building the release binaries users run, starting a detached
//! daemon, reading a process's memory from `/proc`, and percentiles.
#![allow(dead_code)] // each bench uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "glcbt-BenchTokenBenchTokenBenchToken";
pub const SERVER: &str = "https://gitlab.example.com";
pub const REQUEST: &[u8] = b"protocol=https\nhost=gitlab.example.com\n";
/// What every helper in the benchmarks must print for [`REQUEST`].
pub const ANSWER: &[u8] =
    b"username=gitlab-ci-token\npassword=glcbt-BenchTokenBenchTokenBenchToken\n";

/// The static build that the README recommends for runner images.
pub const MUSL: &str = "x86_64-unknown-linux-musl";

/// A release binary of ours, and what it is.
pub struct Binary {
    pub label: String,
    pub path: PathBuf,
}

/// Builds `cargo build --release [--target T]` and returns the binary. `None` with a note on
/// stderr if that target cannot be built here (e.g. `rustup target add` was not run).
pub fn release_binary(target: Option<&str>) -> Option<Binary> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--release",
        "--quiet",
        "--bin",
        "git-credential-gitlab-ci",
    ])
    .current_dir(root);
    if let Some(t) = target {
        cmd.args(["--target", t]);
    }
    let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
    if !ok {
        eprintln!(
            "note: `cargo build --release{}` failed{}",
            target.map(|t| format!(" --target {t}")).unwrap_or_default(),
            if target == Some(MUSL) {
                "; run `rustup target add x86_64-unknown-linux-musl` to measure the static build"
            } else {
                ""
            }
        );
        return None;
    }
    let dir = std::env::var_os("CARGO_TARGET_DIR").map_or(root.join("target"), PathBuf::from);
    let dir = match target {
        Some(t) => dir.join(t),
        None => dir,
    };
    Some(Binary {
        label: if target == Some(MUSL) {
            "static musl".into()
        } else {
            "glibc dynamic".into()
        },
        path: dir.join("release").join("git-credential-gitlab-ci"),
    })
}

/// The static musl build if it can be built, else the default (glibc) one.
pub fn shipped_binary() -> Binary {
    release_binary(Some(MUSL))
        .or_else(|| release_binary(None))
        .expect("cargo build --release fails")
}

/// Every `--ours PATH`: binaries to measure instead of building them (e.g. an installed
/// one, or two builds to compare side by side). Labelled by file name, or by number when
/// two share one.
pub fn given_binaries() -> Vec<Binary> {
    let args: Vec<String> = std::env::args().collect();
    let paths: Vec<PathBuf> = args
        .windows(2)
        .filter(|w| w[0] == "--ours")
        .map(|w| std::fs::canonicalize(&w[1]).unwrap_or_else(|_| PathBuf::from(&w[1])))
        .collect();
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let shared = paths.iter().filter(|p| name(p) == name(path)).count() > 1;
            Binary {
                label: match name(path) {
                    Some(n) if !shared => n,
                    _ => format!("--ours #{}", i + 1),
                },
                path: path.clone(),
            }
        })
        .collect()
}

/// Starts a detached daemon holding [`TOKEN`] for [`SERVER`] on `socket`; returns how long
/// `daemon --detach` took, which is the time until the socket accepts connections.
pub fn start_daemon(ours: &Path, socket: &Path) -> Duration {
    let started = Instant::now();
    let status = Command::new(ours)
        .args([
            "--socket",
            &socket.display().to_string(),
            "daemon",
            "--detach",
        ])
        .env_clear()
        .env("CI_SERVER_URL", SERVER)
        .env("CI_JOB_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .status()
        .expect("the daemon starts");
    assert!(status.success(), "the daemon did not start");
    started.elapsed()
}

pub fn stop_daemon(ours: &Path, socket: &Path) {
    let _ = Command::new(ours)
        .args(["--socket", &socket.display().to_string(), "stop"])
        .stdout(Stdio::null())
        .status();
}

/// The daemon's pid, from the instance lock beside its socket.
pub fn daemon_pid(socket: &Path) -> Option<u32> {
    std::fs::read_to_string(format!("{}.lock", socket.display()))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A `kB` field of `/proc/<pid>/status`: `VmRSS` (resident now) or `VmHWM` (peak).
pub fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User plus system CPU time a process has used so far (`/proc/<pid>/stat`).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields we want follow its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_micros(ticks * 1_000_000 / hz))
}

pub fn kib(v: Option<u64>) -> String {
    v.map_or("unknown".into(), |k| format!("{k} KiB"))
}

/// The `p`th percentile (nearest rank below) of `samples`, which it sorts.
pub fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort_unstable();
    samples[(samples.len() - 1) * p / 100]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `--name VALUE` from the bench's arguments (after `cargo bench --bench X --`).
pub fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|v| v.parse().ok())
}

pub fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// One line per fact about the machine, for the report.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let out = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "machine: {} cpus ({cpu}), kernel {}, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        out("uname", &["-r"]),
        out("git", &["--version"]),
    )
}
