//! `git credential fill` latency through each helper, measured side by side.
//!
//! Run: `cargo bench --bench credential_fill` (add `-- --rounds N` for more rounds).
//!
//! Every round runs each helper once, in a rotating order, so that load from the rest of the
//! machine falls on all of them alike; the report gives medians, spread and ratios to the
//! fastest real helper. git runs with an isolated HOME and no system config.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "glcbt-BenchTokenBenchTokenBenchToken";
const REQUEST: &[u8] = b"protocol=https\nhost=gitlab.example.com\n";

struct Case {
    name: &'static str,
    helper: String,
}

fn main() {
    let rounds = std::env::args()
        .skip_while(|a| a != "--rounds")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(400usize);
    let dir = tempfile::Builder::new()
        .prefix("bench")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let ours = release_binary();
    let socket = dir.path().join("run").join("d.sock");
    let ready = start_daemon(&ours, &socket);
    let cases = vec![
        Case {
            name: "ours, standalone",
            helper: format!("{} --use-daemon never", ours.display()),
        },
        Case {
            name: "ours, through the daemon",
            helper: format!(
                "{} --use-daemon only --socket {}",
                ours.display(),
                socket.display()
            ),
        },
        Case {
            name: "inline shell function",
            helper: "!f() { echo username=gitlab-ci-token; echo password=\"$CI_JOB_TOKEN\"; }; f"
                .into(),
        },
        Case {
            name: "git-credential-cache, warm",
            helper: "cache --timeout=600".into(),
        },
    ];
    let git = |helper: &str| {
        let mut c = Command::new("git");
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("CI_SERVER_URL", "https://gitlab.example.com")
            .env("CI_JOB_TOKEN", TOKEN)
            .args(["-c", &format!("credential.helper={helper}")]);
        c
    };
    // Warm git-credential-cache's daemon with the credential it will serve.
    run(
        git("cache --timeout=600").args(["credential", "approve"]),
        format!(
            "protocol=https\nhost=gitlab.example.com\nusername=gitlab-ci-token\npassword={TOKEN}\n"
        )
        .as_bytes(),
    );
    for case in &cases {
        let out = run(git(&case.helper).args(["credential", "fill"]), REQUEST);
        assert!(out.contains(TOKEN), "{} does not answer: {out}", case.name);
    }

    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); cases.len()];
    for round in 0..rounds + 20 {
        for k in 0..cases.len() {
            let i = (round + k) % cases.len();
            let started = Instant::now();
            run(git(&cases[i].helper).args(["credential", "fill"]), REQUEST);
            if round >= 20 {
                samples[i].push(started.elapsed());
            }
        }
    }
    let _ = Command::new("git")
        .env("HOME", dir.path())
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .args(["credential-cache", "exit"])
        .status();

    let daemon_pid =
        std::fs::read_to_string(format!("{}.lock", socket.display())).unwrap_or_default();
    let rss = rss_kib(daemon_pid.trim());
    let _ = Command::new(&ours)
        .args(["--socket", &socket.display().to_string(), "stop"])
        .stdout(Stdio::null())
        .status();
    let mut starts = Vec::new();
    for _ in 0..10 {
        starts.push(start_daemon(&ours, &socket));
        let _ = Command::new(&ours)
            .args(["--socket", &socket.display().to_string(), "stop"])
            .stdout(Stdio::null())
            .status();
    }
    starts.push(ready);

    let medians: Vec<Duration> = samples.iter_mut().map(|s| percentile(s, 50)).collect();
    let base = medians[0];
    println!("git credential fill, {rounds} interleaved rounds");
    println!(
        "{:<30} {:>10} {:>10} {:>10} {:>8}",
        "helper", "p10 ms", "median ms", "p90 ms", "ratio"
    );
    for (i, case) in cases.iter().enumerate() {
        println!(
            "{:<30} {:>10.3} {:>10.3} {:>10.3} {:>8.2}",
            case.name,
            ms(percentile(&mut samples[i], 10)),
            ms(medians[i]),
            ms(percentile(&mut samples[i], 90)),
            medians[i].as_secs_f64() / base.as_secs_f64()
        );
    }
    println!(
        "daemon: added latency {:+.3} ms (median through the daemon minus standalone)",
        ms(medians[1]) - ms(medians[0])
    );
    println!(
        "daemon: start to ready (daemon --detach), median of {}: {:.2} ms",
        starts.len(),
        ms(percentile(&mut starts, 50))
    );
    println!(
        "daemon: RSS after {} requests: {} KiB",
        rounds + 21,
        rss.map_or("unknown".into(), |k| k.to_string())
    );
}

/// Starts a detached daemon holding TOKEN on `socket`; returns how long `--detach` took,
/// which is the time until the socket accepts connections.
fn start_daemon(ours: &Path, socket: &Path) -> Duration {
    let started = Instant::now();
    let status = Command::new(ours)
        .args([
            "--socket",
            &socket.display().to_string(),
            "daemon",
            "--detach",
        ])
        .env("CI_SERVER_URL", "https://gitlab.example.com")
        .env("CI_JOB_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .status()
        .expect("the daemon starts");
    assert!(status.success(), "the daemon did not start");
    started.elapsed()
}

fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn release_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--quiet",
            "--bin",
            "git-credential-gitlab-ci",
        ])
        .current_dir(root)
        .status()
        .expect("cargo build");
    assert!(status.success());
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or(root.join("target"), PathBuf::from);
    target.join("release").join("git-credential-gitlab-ci")
}

fn run(cmd: &mut Command, input: &[u8]) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("git starts");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort_unstable();
    samples[(samples.len() - 1) * p / 100]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
