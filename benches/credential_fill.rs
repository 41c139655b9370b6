//! `git credential fill` latency through each helper, measured side by side.
//!
//! Run: `cargo bench --bench credential_fill` (about a minute; add `-- --rounds N` for more
//! or fewer rounds, default 500; `-- --ours PATH` measures that binary instead of building).
//! Where valgrind is installed it ends with each helper's instruction count for one `get`
//! under callgrind, which, unlike wall time, is the same from run to run.
//!
//! Every round runs each case once, in a rotating order, so that load from the rest of the
//! machine falls on all of them alike; the report gives medians, the p10-p90 spread, and
//! ratios to the floor: a minimal compiled helper that only prints two fixed lines, built
//! here from C. Ours is measured as the static musl release build that the README tells
//! runner images to install (`cargo build --release --target x86_64-unknown-linux-musl`),
//! and, for comparison, as the default glibc dynamic build. Helpers given by path are
//! configured by absolute path, git's own by name (as users configure them). git runs with
//! an isolated HOME and no system config.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{
    arg, daemon_pid, given_binaries, kib, machine, ms, percentile, proc_kib, release_binary,
    start_daemon, stop_daemon, ANSWER, MUSL, REQUEST, SERVER, TOKEN,
};

/// Rounds run first and thrown away: page cache, git's own start-up, the daemons.
const WARM_UP: usize = 20;

struct Case {
    name: String,
    helper: String,
    /// The request git gets on stdin.
    input: Vec<u8>,
}

fn main() {
    let rounds: usize = arg("--rounds").unwrap_or(500);
    let dir = tempfile::Builder::new()
        .prefix("bench")
        .tempdir_in("/tmp")
        .expect("temp dir");
    println!("{}", machine());

    let given = given_binaries();
    let (shipped, glibc) = if given.is_empty() {
        (release_binary(Some(MUSL)), release_binary(None))
    } else {
        let mut given = given.into_iter();
        (given.next(), given.next())
    };
    let ours = shipped
        .as_ref()
        .or(glibc.as_ref())
        .expect("cargo build --release");
    let (floor, floor_note) = minimal_helper(dir.path());
    println!("minimal helper: {floor_note}");
    let no_libc = no_libc_helper(dir.path());

    let socket = dir.path().join("run").join("d.sock");
    let ready = start_daemon(&ours.path, &socket);
    let store = dir.path().join("store");
    std::fs::write(
        &store,
        format!("https://gitlab-ci-token:{TOKEN}@gitlab.example.com\n"),
    )
    .expect("the store file");

    let case = |name: String, helper: String| Case {
        name,
        helper,
        input: REQUEST.to_vec(),
    };
    let mut cases = vec![
        Case {
            name: "git alone (full credential in)".into(),
            helper: floor.display().to_string(),
            input: format!(
                "protocol=https\nhost=gitlab.example.com\nusername=gitlab-ci-token\npassword={TOKEN}\n"
            )
            .into_bytes(),
        },
        case(
            "minimal C helper (floor)".into(),
            floor.display().to_string(),
        ),
        case(
            format!("ours {}, standalone", ours.label),
            format!("{} --use-daemon never", ours.path.display()),
        ),
        // The helper string as the README configures it: `auto` looks for a daemon on the
        // default socket first, and finds none.
        case(
            format!("ours {}, default (no daemon)", ours.label),
            ours.path.display().to_string(),
        ),
        // A token source that runs a command: one `/bin/sh` (and its `echo` builtin) more per
        // request, which the daemon would pay once per token instead.
        case(
            format!("ours {}, standalone, --token-command 'echo TOKEN'", ours.label),
            format!(
                "{} --use-daemon never --token-command 'echo {TOKEN}'",
                ours.path.display()
            ),
        ),
        case(
            format!("ours {}, via the daemon", ours.label),
            format!(
                "{} --use-daemon only --socket {}",
                ours.path.display(),
                socket.display()
            ),
        ),
    ];
    if let Some(path) = &no_libc {
        cases.push(case(
            "no-libc C helper (exec alone)".into(),
            path.display().to_string(),
        ));
    }
    if let (Some(_), Some(other)) = (&shipped, &glibc) {
        cases.push(case(
            format!("ours {}, standalone", other.label),
            format!("{} --use-daemon never", other.path.display()),
        ));
    }
    cases.extend([
        case(
            "inline shell function".into(),
            "!f() { echo username=gitlab-ci-token; echo password=\"$CI_JOB_TOKEN\"; }; f".into(),
        ),
        case(
            "git-credential-store".into(),
            format!("store --file={}", store.display()),
        ),
        case(
            "git-credential-cache, warm".into(),
            "cache --timeout=600".into(),
        ),
    ]);
    const FLOOR: usize = 1;

    let git = |helper: &str| {
        let mut c = Command::new("git");
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("CI_SERVER_URL", SERVER)
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
        let out = run(git(&case.helper).args(["credential", "fill"]), &case.input);
        assert!(
            out.contains(&format!("password={TOKEN}\n")),
            "{} does not answer: {out}",
            case.name
        );
    }

    // The helpers alone, spawned directly with the request on stdin: their own cost, without
    // git's and the shell's.
    let mut alone: Vec<(String, PathBuf, Vec<&str>)> = vec![(
        "minimal C helper (floor)".into(),
        floor.clone(),
        vec!["get"],
    )];
    if let Some(path) = &no_libc {
        alone.push((
            "no-libc C helper (exec alone)".into(),
            path.clone(),
            vec!["get"],
        ));
    }
    for b in [&shipped, &glibc].into_iter().flatten() {
        alone.push((
            format!("ours {}, standalone", b.label),
            b.path.clone(),
            vec!["--use-daemon", "never", "get"],
        ));
    }
    for (name, path, args) in &alone {
        let mut c = Command::new(path);
        c.args(args)
            .env("CI_SERVER_URL", SERVER)
            .env("CI_JOB_TOKEN", TOKEN);
        assert_eq!(run(&mut c, REQUEST).as_bytes(), ANSWER, "{name}");
    }

    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); cases.len()];
    let mut alone_samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); alone.len()];
    for round in 0..rounds + WARM_UP {
        for k in 0..cases.len() {
            let i = (round + k) % cases.len();
            let started = Instant::now();
            run(
                git(&cases[i].helper).args(["credential", "fill"]),
                &cases[i].input,
            );
            if round >= WARM_UP {
                samples[i].push(started.elapsed());
            }
        }
        for k in 0..alone.len() {
            let i = (round + k) % alone.len();
            let (_, path, args) = &alone[i];
            let mut c = Command::new(path);
            c.args(args)
                .env("CI_SERVER_URL", SERVER)
                .env("CI_JOB_TOKEN", TOKEN);
            let started = Instant::now();
            run(&mut c, REQUEST);
            if round >= WARM_UP {
                alone_samples[i].push(started.elapsed());
            }
        }
    }
    let _ = Command::new("git")
        .env("HOME", dir.path())
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .args(["credential-cache", "exit"])
        .status();

    let rss = daemon_pid(&socket).and_then(|pid| proc_kib(pid, "VmRSS"));
    stop_daemon(&ours.path, &socket);
    let mut starts = vec![ready];
    for _ in 0..10 {
        starts.push(start_daemon(&ours.path, &socket));
        stop_daemon(&ours.path, &socket);
    }

    println!();
    println!("git credential fill, {rounds} interleaved rounds (after {WARM_UP} thrown away)");
    table(
        &cases.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        &mut samples,
        FLOOR,
        Some(0),
    );
    println!("(ratio: median / the minimal helper's median; over git: median minus git alone's)");
    println!();
    println!("the helper alone, spawned directly with the request on stdin, same rounds");
    table(
        &alone.iter().map(|a| a.0.clone()).collect::<Vec<_>>(),
        &mut alone_samples,
        0,
        None,
    );
    println!();
    println!(
        "daemon ({}): start to ready (daemon --detach), median of {}: {:.2} ms; RSS after {} requests: {}",
        ours.label,
        starts.len(),
        ms(percentile(&mut starts, 50)),
        rounds + WARM_UP + 1,
        kib(rss)
    );

    // Instructions, which do not move with the machine's load: each helper alone answering
    // one plain request, under callgrind, where valgrind is installed.
    println!();
    let envs: [(&str, &[(&str, &str)]); 2] = [
        ("CI_SERVER_URL, CI_JOB_TOKEN", &[]),
        ("and CI_JOB_ID (in a job)", &[("CI_JOB_ID", "4242")]),
    ];
    // Ours also as the README configures it: the default `auto` looks for a daemon first.
    let mut measured: Vec<(String, PathBuf, Vec<&str>)> = alone.clone();
    for b in [&shipped, &glibc].into_iter().flatten() {
        measured.push((
            format!("ours {}, default (no daemon)", b.label),
            b.path.clone(),
            vec!["get"],
        ));
    }
    let counted: Vec<_> = measured
        .iter()
        .map(|(name, path, args)| {
            let counts: Vec<Option<u64>> = envs
                .iter()
                .map(|(_, extra)| instructions(path, args, extra))
                .collect();
            (name, counts)
        })
        .collect();
    if counted.iter().all(|(_, c)| c.iter().all(Option::is_none)) {
        println!("instructions: valgrind is not installed, not measured");
        return;
    }
    println!("instructions of one `get`, valgrind --tool=callgrind (deterministic)");
    println!("{:<40} {:>28} {:>28}", "helper", envs[0].0, envs[1].0);
    let show = |n: Option<u64>| n.map_or("-".to_owned(), |n| n.to_string());
    for (name, counts) in counted {
        println!(
            "{:<40} {:>28} {:>28}",
            name,
            show(counts[0]),
            show(counts[1])
        );
    }
}

/// `valgrind --tool=callgrind`'s instruction count for `path args` answering [`REQUEST`]
/// with only CI_SERVER_URL, CI_JOB_TOKEN and `extra` set; `None` without valgrind.
fn instructions(path: &Path, args: &[&str], extra: &[(&str, &str)]) -> Option<u64> {
    let mut child = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(path)
        .args(args)
        .env_clear()
        .env("CI_SERVER_URL", SERVER)
        .env("CI_JOB_TOKEN", TOKEN)
        .env("HOME", "/nonexistent")
        .envs(extra.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let _ = child.stdin.take()?.write_all(REQUEST);
    let out = child.wait_with_output().ok()?;
    // "==PID== Collected : 49425"
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| {
            l.split_once("Collected :")
                .map(|(_, n)| n.trim().to_owned())
        })?
        .parse()
        .ok()
}

/// Prints one row per case: p10, median, p90, the ratio of medians to `floor`'s, and the
/// median minus `base`'s.
fn table(names: &[String], samples: &mut [Vec<Duration>], floor: usize, base: Option<usize>) {
    let medians: Vec<Duration> = samples.iter_mut().map(|s| percentile(s, 50)).collect();
    println!(
        "{:<40} {:>8} {:>9} {:>8} {:>7} {:>10}",
        "helper",
        "p10 ms",
        "median ms",
        "p90 ms",
        "ratio",
        if base.is_some() { "over git" } else { "" }
    );
    for (i, name) in names.iter().enumerate() {
        println!(
            "{:<40} {:>8.3} {:>9.3} {:>8.3} {:>7.2} {:>10}",
            name,
            ms(percentile(&mut samples[i], 10)),
            ms(medians[i]),
            ms(percentile(&mut samples[i], 90)),
            medians[i].as_secs_f64() / medians[floor].as_secs_f64(),
            base.map_or(String::new(), |b| format!(
                "{:+.3} ms",
                ms(medians[i]) - ms(medians[b])
            )),
        );
    }
}

/// Builds the floor: a C program that prints the two lines and exits. Static if this
/// machine's C library allows it, else dynamic (and the note says so).
fn minimal_helper(dir: &Path) -> (PathBuf, String) {
    let source = dir.join("minimal.c");
    std::fs::write(
        &source,
        format!(
            "#include <unistd.h>\n\
             static const char answer[] = \"username=gitlab-ci-token\\npassword={TOKEN}\\n\";\n\
             int main(void) {{ return write(1, answer, sizeof answer - 1) < 0; }}\n"
        ),
    )
    .expect("write minimal.c");
    let binary = dir.join("minimal-helper");
    let cc = |extra: &[&str]| {
        Command::new("cc")
            .args(["-O2", "-s"])
            .args(extra)
            .arg("-o")
            .arg(&binary)
            .arg(&source)
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    // musl's own compiler wrapper first (Debian: musl-tools), for a floor built like our
    // shipped binary, with musl's start-up rather than glibc's.
    let musl = Command::new("musl-gcc")
        .args(["-O2", "-s", "-static", "-o"])
        .arg(&binary)
        .arg(&source)
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if musl {
        (
            binary,
            "C, musl-gcc -O2 -static (statically linked, musl)".into(),
        )
    } else if cc(&["-static"]) {
        (
            binary,
            "C, cc -O2 -static (statically linked, glibc: musl-gcc is not installed; on Debian: musl-tools)".into(),
        )
    } else if cc(&[]) {
        (
            binary,
            "C, cc -O2, DYNAMICALLY linked: static libc is not installed here (on Debian: libc6-dev), so the floor is higher than on a machine that has it".into(),
        )
    } else {
        panic!("cannot build the minimal helper: is a C compiler (cc) installed?");
    }
}

/// For reference below the floor: the same two lines from a program with no C library at
/// all (raw system calls, x86-64 Linux), so that nothing runs but the kernel's `exec`. A
/// static glibc program's own start-up is not free: it asks the CPU what it supports
/// (`cpuid`), which a virtual machine may trap. `None` where it cannot be built.
fn no_libc_helper(dir: &Path) -> Option<PathBuf> {
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        return None;
    }
    let source = dir.join("no-libc.c");
    let program = r#"static const char answer[] = "username=gitlab-ci-token\npassword=TOKEN\n";
static long sys(long n, long a, long b, long c) {
    long r;
    __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
void _start(void) {
    long r = sys(1, 1, (long)answer, sizeof answer - 1); /* write(1, ...) */
    sys(60, r < 0, 0, 0);                                /* exit(...) */
    for (;;) {}
}
"#;
    std::fs::write(&source, program.replace("TOKEN", TOKEN)).ok()?;
    let binary = dir.join("no-libc-helper");
    let built = Command::new("cc")
        .args([
            "-O2",
            "-s",
            "-static",
            "-nostdlib",
            "-fno-stack-protector",
            "-o",
        ])
        .arg(&binary)
        .arg(&source)
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    built.then_some(binary)
}

fn run(cmd: &mut Command, input: &[u8]) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the command starts");
    // A helper may exit without reading its input (the minimal one does): not an error.
    let _ = child.stdin.take().unwrap().write_all(input);
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
