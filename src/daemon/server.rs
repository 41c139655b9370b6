//! The daemon's accept loop and per-connection handling.
//!
//! Each connection carries one request frame and gets one response frame. A connection must
//! come from our own uid, must deliver its whole request within [`CLIENT_TIMEOUT`], and takes
//! one of [`MAX_CONNECTIONS`] permits, so a silent or slow client delays nobody else and a
//! flood queues in the kernel instead of in our memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use interprocess::local_socket::tokio::{prelude::*, Listener, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use zeroize::Zeroizing;

use super::audit::{unix_now, Audit};
use super::handoff::Settings;
use crate::credential::Credential;
use crate::credential::Request;
use crate::credential::{answer, expiry};
use crate::credential::{decide, Decision, Refusal};
use crate::ipc::{self, Kind, HEADER_LEN};
use crate::ipc::{decode_erase, encode_answer, DaemonState, HeldCredential, REJECTED};
use crate::token::TokenSource;

pub const MAX_CONNECTIONS: usize = 256;
/// How long a client has to send its request, and to take our answer. Our client writes its
/// request at once, so this only ever expires for a stuck or hostile peer; it is well under
/// the client's own timeout, so a request queued behind [`MAX_CONNECTIONS`] silent peers is
/// still answered before the client gives up.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long requests in flight may take to finish once we are asked to stop.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything the connections share.
pub struct Daemon {
    pub credentials: Vec<Credential>,
    pub settings: Settings,
    pub audit: Audit,
    started: Instant,
    started_at: u64,
    /// Milliseconds after `started` of the last request, for the idle timeout.
    last_activity: AtomicU64,
    shutdown: watch::Sender<bool>,
    #[cfg_attr(not(unix), allow(dead_code))]
    our_uid: Option<u32>,
    /// Some credential has a token command, which a `get` may run for seconds: those
    /// requests are answered on a blocking thread, not on the one that accepts.
    runs_commands: bool,
}

impl Daemon {
    pub fn new(credentials: Vec<Credential>, settings: Settings) -> Daemon {
        Daemon {
            settings,
            audit: Audit::default(),
            started: Instant::now(),
            started_at: unix_now(),
            last_activity: AtomicU64::new(0),
            shutdown: watch::channel(false).0,
            our_uid: crate::hardening::our_uid(),
            runs_commands: credentials
                .iter()
                .flat_map(|c| &c.sources)
                .any(|s| matches!(s, TokenSource::Command(_))),
            credentials,
        }
    }

    pub fn request_shutdown(&self, why: &str) {
        if !*self.shutdown.borrow() {
            tracing::info!(event = "shutdown", reason = why);
            self.shutdown.send_replace(true);
        }
    }

    fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_activity.store(now, Ordering::Relaxed);
    }

    pub fn state(&self) -> DaemonState {
        DaemonState {
            pid: std::process::id(),
            job: self.settings.job.clone(),
            version: crate::VERSION.to_owned(),
            socket: self.settings.socket.display().to_string(),
            started_at: self.started_at,
            uptime_secs: self.started.elapsed().as_secs(),
            answered: self.audit.answered.load(Ordering::Relaxed),
            refused: self.audit.refused.load(Ordering::Relaxed),
            rejected: self.audit.rejected.load(Ordering::Relaxed),
            last_rejection: self.audit.last_rejection(),
            stops_at: self.settings.ttl.map(|ttl| self.started_at + ttl.as_secs()),
            idle_timeout_secs: self.settings.idle_timeout.map(|d| d.as_secs()),
            credentials: self
                .credentials
                .iter()
                .map(|c| {
                    // What is held now: a status request never runs a token command.
                    let resolution = crate::token::resolve_current(&c.sources);
                    let token = resolution.token;
                    let unavailable = if token.is_some() {
                        Vec::new()
                    } else {
                        resolution
                            .report
                            .iter()
                            .filter_map(|(s, r)| r.as_ref().err().map(|e| format!("{s}: {e}")))
                            .collect()
                    };
                    let pending = token.is_none()
                        && resolution
                            .report
                            .iter()
                            .any(|(_, r)| r.as_ref().is_err_and(|e| e.is_pending()));
                    HeldCredential {
                        pending,
                        unavailable,
                        url: c.scope.to_string(),
                        username: c.username.clone(),
                        token: token.as_ref().map(|t| t.masked().to_string()),
                        expires_at: token
                            .as_ref()
                            .and_then(|t| expiry(c, t))
                            .or(c.expires)
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map(|d| d.as_secs()),
                    }
                })
                .collect(),
        }
    }
}

/// Serves until shutdown is requested, then stops accepting and lets requests in flight end.
pub async fn run(listener: Listener, daemon: Arc<Daemon>) {
    let mut stop = daemon.shutdown.subscribe();
    spawn_stoppers(&daemon);
    warm_up(&daemon);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut tasks = JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => p.expect("the semaphore is never closed"),
            _ = stop.wait_for(|s| *s) => break,
        };
        let stream = tokio::select! {
            s = listener.accept() => s,
            _ = stop.wait_for(|s| *s) => break,
        };
        match stream {
            Ok(stream) => {
                let daemon = Arc::clone(&daemon);
                tasks.spawn(async move {
                    handle(stream, daemon).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(event = "accept_failed", error = %e);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            event = "shutdown",
            "requests still in flight after the grace period were dropped"
        );
    }
}

/// Runs every token command once, at start, on the blocking pool: git's first request then
/// finds the token ready instead of waiting for the command, which may take longer than the
/// client waits for an answer. A request that comes meanwhile waits for this run. A failure is
/// logged by its kind only (the command's stderr is for `status`), and the next request runs
/// the command again.
fn warm_up(daemon: &Arc<Daemon>) {
    for c in &daemon.credentials {
        for source in &c.sources {
            let TokenSource::Command(command) = source else {
                continue;
            };
            let (command, origin) = (command.clone(), c.scope.to_string());
            tokio::task::spawn_blocking(move || match command.read() {
                Ok(token) => tracing::info!(
                    event = "token_command",
                    outcome = "token",
                    origin = %origin,
                    token = %token.masked(),
                ),
                Err(e) => tracing::warn!(
                    event = "token_command",
                    outcome = "no_token",
                    origin = %origin,
                    reason = %e.failure().map_or_else(|| e.to_string(), ToString::to_string),
                ),
            });
        }
    }
}

/// SIGTERM, SIGINT, `--ttl` and `--idle-timeout` all end up in `request_shutdown`.
fn spawn_stoppers(daemon: &Arc<Daemon>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        for (kind, name) in [
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::interrupt(), "SIGINT"),
        ] {
            if let Ok(mut sig) = signal(kind) {
                let d = Arc::clone(daemon);
                tokio::spawn(async move {
                    if sig.recv().await.is_some() {
                        d.request_shutdown(name);
                    }
                });
            }
        }
    }
    #[cfg(not(unix))]
    {
        let d = Arc::clone(daemon);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                d.request_shutdown("Ctrl-C");
            }
        });
    }
    if let Some(ttl) = daemon.settings.ttl {
        let d = Arc::clone(daemon);
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            d.request_shutdown("the --ttl elapsed");
        });
    }
    // A daemon nobody can reach should not go on holding tokens: if its socket file is
    // removed or replaced, it stops, and the next start serves again.
    if let Some(bound) = super::socket::identity(&daemon.settings.socket) {
        let d = Arc::clone(daemon);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if super::socket::identity(&d.settings.socket) != Some(bound) {
                    tracing::warn!(event = "socket_lost", socket = %d.settings.socket.display());
                    d.request_shutdown("the socket file was removed or replaced");
                    return;
                }
            }
        });
    }
    if let Some(idle) = daemon.settings.idle_timeout {
        let d = Arc::clone(daemon);
        tokio::spawn(async move {
            loop {
                let last = Duration::from_millis(d.last_activity.load(Ordering::Relaxed));
                let quiet = d.started.elapsed().saturating_sub(last);
                if quiet >= idle {
                    d.request_shutdown("the --idle-timeout elapsed");
                    return;
                }
                tokio::time::sleep(idle - quiet).await;
            }
        });
    }
}

/// Who is on the other end; `None` fields where the platform does not say.
struct Peer {
    pid: Option<u32>,
    command: Option<String>,
}

async fn handle(stream: Stream, daemon: Arc<Daemon>) {
    let creds = stream.peer_creds().ok();
    let pid = creds.as_ref().and_then(|c| c.pid()).map(|p| p as u32);
    #[cfg(unix)]
    {
        let uid = creds.as_ref().and_then(|c| c.euid());
        if uid.is_none() || uid != daemon.our_uid {
            tracing::warn!(
                event = "peer_refused",
                peer_pid = pid,
                peer_uid = uid,
                "a process of another user connected; closed without an answer"
            );
            return;
        }
    }
    let peer = Peer {
        pid,
        command: pid.and_then(crate::hardening::command_name),
    };
    let mut stream = stream;
    let request = match tokio::time::timeout(CLIENT_TIMEOUT, read_frame(&mut stream)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(event = "bad_request", peer_pid = peer.pid, error = %e);
            return;
        }
        Err(_) => {
            tracing::warn!(
                event = "client_timeout",
                peer_pid = peer.pid,
                "no complete request in time; closed"
            );
            return;
        }
    };
    daemon.touch();
    let (kind, payload) = request;
    let reply = if kind == Kind::Get && daemon.runs_commands {
        let daemon = Arc::clone(&daemon);
        match tokio::task::spawn_blocking(move || respond(kind, &payload, &daemon, &peer)).await {
            Ok(reply) => reply,
            Err(_) => frame(Kind::Refuse, b"the request failed"),
        }
    } else {
        respond(kind, &payload, &daemon, &peer)
    };
    let _ = tokio::time::timeout(CLIENT_TIMEOUT, async {
        stream.write_all(&reply).await?;
        stream.flush().await
    })
    .await;
}

/// The reply frame to one request frame, once it has been read: no I/O, so the tests can
/// call it without a socket.
fn respond(kind: Kind, payload: &[u8], daemon: &Daemon, peer: &Peer) -> Zeroizing<Vec<u8>> {
    match kind {
        Kind::Get => get(payload, daemon, peer),
        Kind::Erase => erase(payload, daemon, peer),
        Kind::Status => {
            let json = serde_json::to_vec(&daemon.state()).unwrap_or_default();
            frame(Kind::Data, &json)
        }
        Kind::Stop => {
            tracing::info!(
                event = "stop_requested",
                peer_pid = peer.pid,
                peer_command = peer.command.as_deref()
            );
            daemon.request_shutdown("a stop request");
            frame(Kind::Data, b"stopping")
        }
        _ => frame(Kind::Refuse, b"not a request"),
    }
}

async fn read_frame(stream: &mut Stream) -> Result<(Kind, Zeroizing<Vec<u8>>), String> {
    // Our client writes its whole frame at once, so one read usually takes it all: the
    // header, then as much payload as fits; exact reads fetch whatever is still missing.
    let mut first = Zeroizing::new([0u8; 512]);
    let mut got = 0;
    while got < HEADER_LEN {
        match stream.read(&mut first[got..]).await {
            Ok(0) => return Err("early eof".to_owned()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let header = first[..HEADER_LEN].try_into().expect("HEADER_LEN bytes");
    let h = ipc::parse_header(header).map_err(|e| e.to_string())?;
    let mut payload = Zeroizing::new(vec![0u8; h.len]);
    let have = (got - HEADER_LEN).min(h.len);
    payload[..have].copy_from_slice(&first[HEADER_LEN..HEADER_LEN + have]);
    stream
        .read_exact(&mut payload[have..])
        .await
        .map_err(|e| e.to_string())?;
    Ok((h.kind, payload))
}

fn frame(kind: Kind, payload: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(HEADER_LEN + payload.len()));
    ipc::encode_into(kind, payload, &mut out);
    out
}

fn get(payload: &[u8], daemon: &Daemon, peer: &Peer) -> Zeroizing<Vec<u8>> {
    let request = Request::parse(payload);
    let result = request
        .as_ref()
        .map_err(|m| Refusal::from(*m))
        .and_then(|r| answer(r, &daemon.credentials));
    match result {
        Ok(answered) => {
            daemon.audit.answered.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                event = "get",
                decision = "answer",
                peer_pid = peer.pid,
                peer_command = peer.command.as_deref(),
                origin = %answered.credential.scope,
                username = %answered.username(),
                token = %answered.token.masked(),
            );
            // The job we serve goes first: the helper uses the answer only if it is its own.
            frame(
                Kind::Answer,
                &encode_answer(&daemon.settings.job, &answered.response),
            )
        }
        Err(why) => {
            daemon.audit.refused.fetch_add(1, Ordering::Relaxed);
            let host = request.as_ref().ok().and_then(|r| r.host.as_deref());
            tracing::info!(
                event = "get",
                decision = "refuse",
                reason = %why,
                peer_pid = peer.pid,
                peer_command = peer.command.as_deref(),
                // As a string, so both log formats quote and escape it: it comes from the
                // request, and must not forge fields or put escape sequences in the log.
                host = host.unwrap_or_default(),
            );
            frame(Kind::Refuse, why.to_string().as_bytes())
        }
    }
}

/// git's `erase` means the server refused the credential we gave. The client sends the
/// request without the password, plus the password's fingerprint.
fn erase(payload: &[u8], daemon: &Daemon, peer: &Peer) -> Zeroizing<Vec<u8>> {
    let Some((request, fingerprint)) = decode_erase(payload) else {
        return frame(Kind::Refuse, b"malformed");
    };
    match decide(&request, &daemon.credentials) {
        Decision::Answer(c) => {
            // Ours only if the erased password is the token we serve: GitLab Runner 19.3
            // sends an erase with no password at the end of every job's get_sources.
            // What is held now: an erase never runs a token command.
            let served = c
                .sources
                .iter()
                .find_map(|s| s.current().ok())
                .map(|t| t.fingerprint());
            let ours = fingerprint.is_some() && fingerprint == served;
            if ours {
                // A command's token goes, so that the next request runs the command again.
                for source in &c.sources {
                    if let (TokenSource::Command(command), Some(f)) = (source, &fingerprint) {
                        if command.forget(f) {
                            tracing::info!(event = "erase", decision = "dropped_command_token", origin = %c.scope, "the next request runs the token command again");
                        }
                    }
                }
                tracing::warn!(
                    event = "erase",
                    decision = "rejected_by_server",
                    peer_pid = peer.pid,
                    peer_command = peer.command.as_deref(),
                    origin = %c.scope,
                    token_fingerprint = fingerprint.as_deref().unwrap_or("unknown"),
                    "the server rejected the token with 401: expired, revoked, or for another GitLab instance"
                );
                daemon
                    .audit
                    .record_rejection(c.scope.to_string(), fingerprint);
                return frame(Kind::Data, REJECTED);
            } else {
                tracing::debug!(
                    event = "erase",
                    decision = "not_our_token",
                    origin = %c.scope,
                    password = if fingerprint.is_some() { "another" } else { "none" },
                );
            }
        }
        Decision::Refuse(why) => {
            tracing::debug!(event = "erase", decision = "not_ours", reason = %why);
        }
    }
    frame(Kind::Data, b"recorded")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::{Provenance, Scope};
    use crate::ipc::{encode_erase, Rejection};
    use crate::token::{HeldToken, Token, TokenSource};
    use std::path::PathBuf;

    const TOKEN: &str = "glcbt-64_UnitTestJobTokenValue";
    const SERVED: &str = "https://gitlab.example.com";

    fn held(variable: &str, value: Option<&str>) -> TokenSource {
        TokenSource::Held(HeldToken {
            variable: variable.to_owned(),
            token: value.map(|v| Arc::new(Token::new(v.to_owned()).unwrap())),
        })
    }

    fn credential(url: &str, username: &str, source: TokenSource) -> Credential {
        Credential {
            scope: Scope::parse(url).unwrap(),
            username: username.to_owned(),
            sources: vec![source],
            expires: None,
            provenance: Provenance::Flags,
        }
    }

    fn settings() -> Settings {
        Settings {
            socket: PathBuf::from("/nonexistent/unit-test.sock"),
            idle_timeout: None,
            ttl: None,
            log_json: false,
            log_file: None,
            job: Default::default(),
        }
    }

    /// A daemon serving `SERVED` as gitlab-ci-token with `TOKEN`, held in memory.
    fn daemon() -> Daemon {
        Daemon::new(
            vec![credential(
                SERVED,
                "gitlab-ci-token",
                held("CI_JOB_TOKEN", Some(TOKEN)),
            )],
            settings(),
        )
    }

    const PEER: Peer = Peer {
        pid: None,
        command: None,
    };

    /// The reply to one request, split into its kind and payload (as text).
    fn reply(daemon: &Daemon, kind: Kind, payload: &[u8]) -> (Kind, String) {
        let out = respond(kind, payload, daemon, &PEER);
        let (kind, payload) = ipc::decode(&out).unwrap();
        assert_eq!(
            out.len(),
            HEADER_LEN + payload.len(),
            "one frame, nothing after it"
        );
        // An answer starts with the job the daemon serves; the rest is git's.
        let payload = match kind {
            Kind::Answer => {
                let (job, answer) = crate::ipc::split_answer(payload).unwrap();
                assert_eq!(job, daemon.settings.job);
                answer
            }
            _ => payload,
        };
        (kind, String::from_utf8(payload.to_vec()).unwrap())
    }

    fn get(daemon: &Daemon, request: &str) -> (Kind, String) {
        reply(daemon, Kind::Get, request.as_bytes())
    }

    fn refused(why: Refusal) -> (Kind, String) {
        (Kind::Refuse, why.to_string())
    }

    fn counts(daemon: &Daemon) -> (u64, u64, u64) {
        let a = &daemon.audit;
        (
            a.answered.load(Ordering::Relaxed),
            a.refused.load(Ordering::Relaxed),
            a.rejected.load(Ordering::Relaxed),
        )
    }

    fn state(daemon: &Daemon) -> DaemonState {
        let (kind, json) = reply(daemon, Kind::Status, b"");
        assert_eq!(kind, Kind::Data);
        serde_json::from_str(&json).unwrap()
    }

    fn erase_of(request: &str) -> Zeroizing<Vec<u8>> {
        encode_erase(&Request::parse(request.as_bytes()).unwrap())
    }

    #[test]
    fn a_get_for_the_served_origin_is_answered_with_the_username_and_token() {
        let d = daemon();
        let expected = (
            Kind::Answer,
            format!("username=gitlab-ci-token\npassword={TOKEN}\n"),
        );
        assert_eq!(
            get(&d, "protocol=https\nhost=gitlab.example.com\n"),
            expected
        );
        assert_eq!(
            get(
                &d,
                "protocol=https\nhost=GitLab.Example.com:443\npath=g/p.git\n"
            ),
            expected
        );
        assert_eq!(
            get(&d, "url=https://gitlab.example.com/g/p.git\n"),
            expected
        );
        assert_eq!(counts(&d), (3, 0, 0));
    }

    #[test]
    fn a_job_daemon_names_its_job_in_every_answer_and_in_its_state() {
        let job = crate::ipc::JobIdentity {
            job_id: Some("42".into()),
            server_url: Some(SERVED.into()),
            project_id: Some("7".into()),
        };
        let d = Daemon::new(
            vec![credential(
                SERVED,
                "gitlab-ci-token",
                held("CI_JOB_TOKEN", Some(TOKEN)),
            )],
            Settings {
                job: job.clone(),
                ..settings()
            },
        );
        // `reply` checks the answer's job against the settings'.
        assert_eq!(
            get(&d, "protocol=https\nhost=gitlab.example.com\n").0,
            Kind::Answer
        );
        assert_eq!(state(&d).job, job);
    }

    #[test]
    fn a_get_for_another_origin_is_refused_with_the_reason() {
        let d = daemon();
        for (request, why) in [
            (
                "protocol=https\nhost=other.example.com\n",
                Refusal::OriginNotServed,
            ),
            (
                "protocol=https\nhost=gitlab.example.com.attacker.example\n",
                Refusal::OriginNotServed,
            ),
            (
                "protocol=https\nhost=gitlab.example.com:8443\n",
                Refusal::OriginNotServed,
            ),
            (
                "protocol=http\nhost=gitlab.example.com\n",
                Refusal::InsecureProtocol,
            ),
            (
                "protocol=ssh\nhost=gitlab.example.com\n",
                Refusal::UnsupportedProtocol,
            ),
            (
                "protocol=cert\nhost=\npath=/etc/c.p12\n",
                Refusal::CertificateRequest,
            ),
            ("protocol=https\n", Refusal::MissingHost),
            ("host=gitlab.example.com\n", Refusal::MissingProtocol),
            (
                "protocol=https\nhost=gitlab.example.com\nusername=alice\n",
                Refusal::UsernameMismatch,
            ),
        ] {
            assert_eq!(get(&d, request), refused(why), "{request:?}");
        }
        assert_eq!(counts(&d), (0, 9, 0));
    }

    #[test]
    fn a_request_with_cr_lf_or_nul_smuggled_in_is_refused_as_malformed() {
        use crate::credential::Request as R;
        let d = daemon();
        for request in [
            &b"protocol=https\r\nhost=gitlab.example.com\r\n"[..],
            b"protocol=https\nhost=gitlab.example.com\0\n",
            b"url=https://evil.example%0ahost=gitlab.example.com/\n",
            b"url=https://gitlab.example.com%0d/\n",
            b"url=https://gitlab.example.com%00/\n",
        ] {
            let problem = R::parse(request).unwrap_err();
            let (kind, text) = reply(&d, Kind::Get, request);
            assert_eq!((kind, text), refused(Refusal::from(problem)), "{request:?}");
        }
        // The reasons themselves, so the loop above cannot pass on a parser that took them.
        assert_eq!(
            get(&d, "protocol=https\r\nhost=gitlab.example.com\n").1,
            "malformed request: the request contains a carriage return"
        );
        assert_eq!(
            reply(&d, Kind::Get, b"host=gitlab.example.com\0\n").1,
            "malformed request: the request contains a NUL byte"
        );
        assert_eq!(
            get(&d, "url=https://evil.example%0ahost=gitlab.example.com/\n").1,
            "malformed request: the url= attribute decodes to a control character"
        );
        assert_eq!(counts(&d), (0, 8, 0));
    }

    #[test]
    fn a_get_for_a_credential_without_a_token_says_so() {
        let d = Daemon::new(
            vec![credential(
                SERVED,
                "gitlab-ci-token",
                held("CI_JOB_TOKEN", None),
            )],
            settings(),
        );
        assert_eq!(
            get(&d, "protocol=https\nhost=gitlab.example.com\n"),
            refused(Refusal::TokenUnavailable)
        );
        assert_eq!(counts(&d), (0, 1, 0));
    }

    #[test]
    fn an_erase_for_the_served_origin_is_recorded_with_the_fingerprint() {
        let d = daemon();
        let payload = erase_of(&format!(
            "protocol=https\nhost=gitlab.example.com\nusername=gitlab-ci-token\npassword={TOKEN}\n"
        ));
        assert!(!payload.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
        assert_eq!(
            reply(&d, Kind::Erase, &payload),
            (Kind::Data, "rejected".to_owned())
        );
        assert_eq!(counts(&d), (0, 0, 1));
        let fingerprint = Token::new(TOKEN.to_owned()).unwrap().fingerprint();
        let last = d.audit.last_rejection().unwrap();
        assert_eq!(
            (last.origin.as_str(), last.fingerprint.as_deref()),
            (SERVED, Some(fingerprint.as_str()))
        );
    }

    #[test]
    fn an_erase_without_our_token_is_not_a_rejection() {
        let d = daemon();
        // Another helper's password, rejected by the server: not ours to record.
        let payload = erase_of(
            "protocol=https\nhost=gitlab.example.com\nusername=gitlab-ci-token\npassword=glpat-SomeOtherToken\n",
        );
        assert_eq!(reply(&d, Kind::Erase, &payload).1, "recorded");
        assert_eq!(counts(&d), (0, 0, 0));
        // GitLab Runner 19.3's end-of-stage reject: a user name, no password.
        let payload =
            erase_of("protocol=https\nhost=gitlab.example.com\nusername=gitlab-ci-token\n");
        assert_eq!(reply(&d, Kind::Erase, &payload).1, "recorded");
        assert_eq!(counts(&d), (0, 0, 0));
        assert_eq!(d.audit.last_rejection(), None::<Rejection>);
    }

    #[test]
    fn an_erase_for_another_origin_or_user_is_acknowledged_and_ignored() {
        let d = daemon();
        for request in [
            format!("protocol=https\nhost=other.example.com\npassword={TOKEN}\n"),
            format!("protocol=http\nhost=gitlab.example.com\npassword={TOKEN}\n"),
            format!("protocol=https\nhost=gitlab.example.com:8443\npassword={TOKEN}\n"),
            format!("protocol=https\nhost=gitlab.example.com\nusername=alice\npassword={TOKEN}\n"),
        ] {
            assert_eq!(
                reply(&d, Kind::Erase, &erase_of(&request)),
                (Kind::Data, "recorded".to_owned()),
                "{request:?}"
            );
        }
        assert_eq!(counts(&d), (0, 0, 0));
        assert_eq!(d.audit.last_rejection(), None::<Rejection>);
    }

    #[test]
    fn a_malformed_erase_is_refused_and_not_recorded() {
        let d = daemon();
        assert_eq!(
            reply(
                &d,
                Kind::Erase,
                b"protocol=https\r\nhost=gitlab.example.com\n"
            ),
            (Kind::Refuse, "malformed".to_owned())
        );
        assert_eq!(
            reply(&d, Kind::Erase, b"no equals sign\n"),
            (Kind::Refuse, "malformed".to_owned())
        );
        assert_eq!(counts(&d), (0, 0, 0));
    }

    #[test]
    fn the_state_reports_settings_counters_and_masked_credentials() {
        let mut s = settings();
        s.ttl = Some(Duration::from_secs(3600));
        s.idle_timeout = Some(Duration::from_secs(90));
        let d = Daemon::new(
            vec![
                credential(SERVED, "gitlab-ci-token", held("CI_JOB_TOKEN", Some(TOKEN))),
                credential(
                    "https://other.example.com/deploy",
                    "deployer",
                    held("DEPLOY_TOKEN", None),
                ),
            ],
            s,
        );
        get(&d, "protocol=https\nhost=gitlab.example.com\n");
        get(&d, "protocol=https\nhost=nowhere.example\n");
        get(&d, "protocol=https\nhost=nowhere.example\n");
        reply(
            &d,
            Kind::Erase,
            &erase_of(&format!(
                "protocol=https\nhost=gitlab.example.com\npassword={TOKEN}\n"
            )),
        );

        let st = state(&d);
        assert_eq!(st.pid, std::process::id());
        assert_eq!(st.version, crate::VERSION);
        assert_eq!(st.socket, "/nonexistent/unit-test.sock");
        assert_eq!((st.answered, st.refused, st.rejected), (1, 2, 1));
        let fingerprint = Token::new(TOKEN.to_owned()).unwrap().fingerprint();
        let last = st.last_rejection.unwrap();
        assert_eq!(last.origin, SERVED);
        assert_eq!(last.fingerprint.as_deref(), Some(fingerprint.as_str()));
        assert_eq!(st.stops_at, Some(st.started_at + 3600));
        assert_eq!(st.idle_timeout_secs, Some(90));
        assert!(st.uptime_secs < 60);

        assert_eq!(st.credentials.len(), 2);
        let first = &st.credentials[0];
        assert_eq!(first.url, SERVED);
        assert_eq!(first.username, "gitlab-ci-token");
        assert_eq!(
            first.token.as_deref(),
            Some(format!("CI/CD job token (glcbt-), fingerprint {fingerprint}").as_str())
        );
        assert!(first.unavailable.is_empty());
        assert_eq!(first.expires_at, None);
        let second = &st.credentials[1];
        assert_eq!(second.url, "https://other.example.com/deploy");
        assert_eq!(second.username, "deployer");
        assert_eq!(second.token, None);
        assert_eq!(
            second.unavailable,
            ["environment variable DEPLOY_TOKEN, held in the daemon's memory since it started: was not set when the daemon started"]
        );

        let json = reply(&d, Kind::Status, b"").1;
        assert!(!json.contains(TOKEN), "{json}");
        // A status request is not a get: it counts as neither.
        assert_eq!(counts(&d), (1, 2, 1));
    }

    #[test]
    fn the_state_of_a_fresh_daemon_without_limits() {
        let st = state(&daemon());
        assert_eq!((st.answered, st.refused, st.rejected), (0, 0, 0));
        assert!(st.last_rejection.is_none());
        assert_eq!((st.stops_at, st.idle_timeout_secs), (None, None));
        assert!(st.started_at > 1_600_000_000, "{}", st.started_at);
    }

    #[test]
    fn a_stop_request_asks_for_shutdown() {
        let d = daemon();
        assert!(!*d.shutdown.borrow());
        assert_eq!(
            reply(&d, Kind::Stop, b""),
            (Kind::Data, "stopping".to_owned())
        );
        assert!(*d.shutdown.borrow());
    }

    #[test]
    fn a_daemon_frame_sent_as_a_request_is_refused() {
        let d = daemon();
        for kind in [Kind::Answer, Kind::Refuse, Kind::Data] {
            assert_eq!(
                reply(&d, kind, b"protocol=https\nhost=gitlab.example.com\n"),
                (Kind::Refuse, "not a request".to_owned()),
                "{kind:?}"
            );
        }
        assert_eq!(counts(&d), (0, 0, 0));
        assert!(!*d.shutdown.borrow());
    }
}
