//! The single bounded process runner: every short-lived program a test starts (the helper,
//! git, `sh`, `setpriv`, a `daemon --detach` starter) runs through [`Process::run`] and
//! comes back as one [`Run`].
//!
//! A child gets the given bytes on stdin and has a deadline: past it, the child and every
//! process in its process group (git's `git-remote-https`, credential helpers) are killed
//! and the test fails with a message naming the command. Output is read by threads, so a
//! chatty child never blocks on a full pipe, and a grandchild that keeps a pipe open after
//! the child exited (a daemon that did not detach its stdio) fails the test instead of
//! hanging it.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt as _;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The deadline unless a test sets another one. Generous: everything is local, and a normal
/// command finishes in well under a second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long to wait for end-of-file on the child's output once it has exited. Only a pipe
/// held open by a leftover process waits this long; a finished one returns at once. Generous,
/// because with 200 processes at once on a 2-core CI machine the thread that reads a pipe can
/// be starved for seconds (CI once saw 2 s run out with the whole answer already read).
const PIPE_GRACE: Duration = Duration::from_secs(5);

/// How one program ran: its exit status and everything it wrote.
#[derive(Debug)]
pub struct Run {
    /// The command line, for messages.
    pub command: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Run {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// stdout then stderr, as one text.
    pub fn output_str(&self) -> String {
        format!("{}{}", self.stdout_str(), self.stderr_str())
    }

    /// Panics with the command and its output unless it exited 0.
    #[track_caller]
    pub fn assert_success(self) -> Run {
        assert!(
            self.success(),
            "{} failed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.status,
            self.stdout_str(),
            self.stderr_str(),
        );
        self
    }

    /// Nothing on stdout, nothing on stderr, a normal exit: git moves on.
    #[track_caller]
    pub fn assert_silent(&self, case: &str) {
        assert!(
            self.stdout.is_empty() && self.stderr.is_empty() && self.success(),
            "{case}: expected silence, got {:?}\nstdout: {:?}\nstderr: {:?}",
            self.status,
            self.stdout_str(),
            self.stderr_str()
        );
    }

    /// A clean exit with an answer that starts with `username` and `password`.
    #[track_caller]
    pub fn assert_answered(&self, username: &str, password: &str) {
        assert!(self.success(), "{:?} {}", self.status, self.stderr_str());
        assert!(self.stderr.is_empty(), "stderr: {}", self.stderr_str());
        let expected = format!("username={username}\npassword={password}\n");
        assert!(
            self.stdout_str().starts_with(&expected),
            "expected an answer, got {:?}",
            self.stdout_str()
        );
    }

    /// Panics if any of `secrets` appears on stdout or stderr.
    #[track_caller]
    pub fn assert_not_printed(&self, secrets: &[&str]) -> &Run {
        let (stdout, stderr) = (self.stdout_str(), self.stderr_str());
        for secret in secrets {
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "{} printed a secret\nstdout: {stdout}\nstderr: {stderr}",
                self.command
            );
        }
        self
    }
}

/// `program arg arg ...`, lossily, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// A command about to be run: its stdin bytes, its deadline, and two odd cases the fault
/// tests need. Build with [`Process::new`], finish with [`Process::run`].
pub struct Process {
    cmd: Command,
    input: Vec<u8>,
    timeout: Duration,
    hold_stdin_open: bool,
    close_stdout: bool,
}

/// [`Process::new`]`(cmd).run()`: no input, the default deadline.
#[track_caller]
pub fn run(cmd: Command) -> Run {
    Process::new(cmd).run()
}

impl Process {
    pub fn new(cmd: Command) -> Process {
        Process {
            cmd,
            input: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            hold_stdin_open: false,
            close_stdout: false,
        }
    }

    /// Bytes written to the child's stdin, which is then closed. A child that stops reading
    /// early (a request over the cap) is expected: the broken pipe is ignored.
    pub fn stdin(mut self, input: impl AsRef<[u8]>) -> Process {
        self.input = input.as_ref().to_vec();
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Process {
        self.timeout = timeout;
        self
    }

    /// Keep stdin open after the input until the child exits, as a client that never
    /// finishes its request does.
    pub fn hold_stdin_open(mut self) -> Process {
        self.hold_stdin_open = true;
        self
    }

    /// Close our end of the child's stdout before it writes anything, as git does when it
    /// stops listening. `Run::stdout` is then empty.
    pub fn close_stdout(mut self) -> Process {
        self.close_stdout = true;
        self
    }

    /// Runs the command to completion; panics if it cannot be started, outlives its deadline
    /// or leaves a pipe held open.
    #[track_caller]
    pub fn run(self) -> Run {
        let what = describe(&self.cmd);
        self.try_run()
            .unwrap_or_else(|e| panic!("spawning {what}: {e}"))
    }

    /// [`Process::run`], but a command that cannot be started is an error, not a panic.
    #[track_caller]
    pub fn try_run(mut self) -> std::io::Result<Run> {
        let what = describe(&self.cmd);
        // Own process group: on timeout we must also kill the child's children, which hold
        // our pipes open. (A detached daemon makes its own session and is not affected.)
        self.cmd
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stdout = if self.close_stdout {
            drop(stdout);
            None
        } else {
            Some(Pipe::drain(stdout))
        };
        let stderr = Pipe::drain(child.stderr.take().expect("piped stderr"));
        let mut stdin = child.stdin.take().expect("piped stdin");
        let (input, hold) = (self.input, self.hold_stdin_open);
        let writer = thread::spawn(move || -> Option<ChildStdin> {
            let _ = stdin.write_all(&input);
            hold.then_some(stdin)
        });

        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                // SAFETY: kill has no memory-safety preconditions; the negative pid is the
                // process group the child leads, which we created for it.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.kill();
                let _ = child.wait();
                let stderr = String::from_utf8_lossy(&stderr.finish(PIPE_GRACE).0).into_owned();
                panic!(
                    "{what} did not finish within {:?} and was killed; stderr so far:\n{stderr}",
                    self.timeout
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        // Dropped here, after the exit, when held open.
        drop(writer.join());
        let group = child.id() as i32;
        let collect = |pipe: Pipe, name: &str| {
            let (bytes, eof) = pipe.finish(PIPE_GRACE);
            if !eof {
                // SAFETY: as above; whatever is left of the child's process group holds the
                // pipe, and must not outlive the test.
                unsafe { libc::kill(-group, libc::SIGKILL) };
                panic!(
                    "{name} of {what} is held open after it exited (a leftover process?); so far:\n{}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            bytes
        };
        Ok(Run {
            stdout: stdout.map(|p| collect(p, "stdout")).unwrap_or_default(),
            stderr: collect(stderr, "stderr"),
            command: what,
            status,
        })
    }
}

/// Output of a child's pipe, collected by a background thread.
struct Pipe {
    buf: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Pipe {
    fn drain(mut pipe: impl Read + Send + 'static) -> Pipe {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        let sink = Arc::clone(&buf);
        thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(());
        });
        Pipe { buf, done }
    }

    /// Everything read so far, after waiting up to `grace` for end-of-file, and whether
    /// end-of-file came.
    fn finish(self, grace: Duration) -> (Vec<u8>, bool) {
        let eof = self.done.recv_timeout(grace).is_ok();
        let out = std::mem::take(&mut *self.buf.lock().unwrap());
        (out, eof)
    }
}
