//! A real smart-HTTP git server for tests.
//!
//! `git http-backend` (the CGI program shipped with git, run through
//! `support::programs::git_command`, so the git under test) does the git side;
//! a small hyper server in front of it terminates TLS with a certificate from
//! a per-process test CA and demands HTTP Basic auth. Every request is
//! recorded so tests can assert which credentials git actually sent.
//!
//! It answers as GitLab does (`support::gitlab` has the table): a test registers the
//! tokens it knows with [`GitServer::add_token`], each with the usernames git may send
//! with it, what it may do (fetch, push) and which projects it can see. The credential
//! given to [`GitServer::start`] may fetch and push every project; those given to
//! [`GitServer::allow_fetch`] may fetch only.
//!
//! Beside git it serves a minimal Git LFS endpoint (`support::lfs`) with the same token
//! rules, storing objects in the server's temp dir.
//!
//! The tests themselves are synchronous, so each server runs its own tokio
//! runtime on a background thread, and is shut down when dropped.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use super::gitlab::{self, GitAnswer, TokenSpec};
use super::lfs;
use super::process::{self, Run};
use super::programs::{carry_git_env, git_command};

/// Upper bound for a TLS handshake; a client that stalls must not pin a task.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound for reading a request body and running one CGI request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Drop waits for in-flight connections before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// One HTTP request as the server saw it (recorded for every request,
/// whether or not it was authorized).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAttempt {
    pub method: String,
    pub path_and_query: String,
    /// `(username, password)` decoded from `Authorization: Basic`; `None` when
    /// the header is absent, not Basic, or undecodable.
    pub credentials: Option<(String, String)>,
    /// HTTP status code the server answered with.
    pub status: u16,
    /// The header that carried a token for GitLab's API (`PRIVATE-TOKEN`, `JOB-TOKEN`,
    /// `Authorization: Bearer`), whichever path was asked; the name only, never the value.
    pub api_token_header: Option<&'static str>,
}

// ---------------------------------------------------------------------------
// Test CA
// ---------------------------------------------------------------------------

struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    pem_path: PathBuf,
}

/// The process-wide CA, created on first use.
///
/// Its PEM lives in a directory under cargo's per-target scratch dir
/// (`CARGO_TARGET_TMPDIR`). Statics are never dropped, so the directory is
/// deliberately kept rather than being a `TempDir` that would leak anyway;
/// each test process gets its own directory because it gets its own CA
/// (test runners like nextest run one process per test, concurrently).
fn test_ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| {
        let key = rcgen::KeyPair::generate().expect("generate CA key");
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "git-credential-gitlab-ci test CA",
        );
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // GnuTLS (git's libcurl backend on Debian/Ubuntu) insists on
        // keyCertSign for an issuer, so spell out the key usages.
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-sign CA");

        prune_stale_ca_dirs();
        let dir = tempfile::Builder::new()
            .prefix(CA_DIR_PREFIX)
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("create CA dir")
            .keep();
        let pem_path = dir.join("ca.pem");
        std::fs::write(&pem_path, cert.pem()).expect("write CA PEM");
        TestCa {
            cert,
            key,
            pem_path,
        }
    })
}

const CA_DIR_PREFIX: &str = "git-server-ca-";

/// Removes CA directories left behind by test processes that ended long ago,
/// so they do not pile up. A day is far beyond any test run, so a directory
/// that old cannot belong to a process still using it.
fn prune_stale_ca_dirs() {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(24 * 60 * 60));
        if stale
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with(CA_DIR_PREFIX)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh leaf certificate for one server, valid for every loopback name a
/// test might use.
fn leaf_cert() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let ca = test_ca();
    let key = rcgen::KeyPair::generate().expect("generate leaf key");
    let mut params = rcgen::CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "127.0.0.2".to_string(),
        "127.0.0.3".to_string(),
        "::1".to_string(),
    ])
    .expect("leaf params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&key, &ca.cert, &ca.key)
        .expect("sign leaf cert");
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.der().clone(), key_der)
}

fn tls_acceptor() -> TlsAcceptor {
    let (cert, key) = leaf_cert();
    // Name the provider explicitly instead of relying on the process default,
    // which panics if the dependency graph ever enables both ring and aws-lc.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server TLS config");
    // We only speak HTTP/1.1; say so, so that curl never tries h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

struct ServerState {
    tokens: Mutex<Tokens>,
    project_root: PathBuf,
    /// `https://HOST:PORT`, for the hrefs of LFS answers.
    origin: String,
    /// The LFS objects pushed so far.
    lfs: lfs::Store,
    attempts: Mutex<Vec<AuthAttempt>>,
    debug: bool,
}

/// Every token the server knows, in the order a request tries them: the first whose secret
/// and username rule match decides.
struct Tokens {
    /// [`GitServer::add_token`]'s, in the order added: before the others, so that a test
    /// can narrow what the `start` credential may do by registering its token again.
    added: Vec<TokenSpec>,
    /// The `start` credential (fetch and push), then [`GitServer::allow_fetch`]'s (fetch
    /// only: GitLab answers their push with 403, as it does a job token's when job-token
    /// push is off).
    legacy: Vec<TokenSpec>,
}

impl Tokens {
    fn in_order(&self) -> impl Iterator<Item = &TokenSpec> {
        self.added.iter().chain(&self.legacy)
    }
}

/// A running HTTPS git server; stops when dropped.
pub struct GitServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    // Declared last so it is removed after the server thread has stopped.
    root: tempfile::TempDir,
}

impl GitServer {
    /// Starts a server on `ip` (must be a loopback address), on a free port,
    /// accepting exactly `username`/`password` (a [`TokenSpec::password`] that may fetch
    /// and push every project), and the tokens [`GitServer::add_token`] adds later.
    pub fn start(ip: IpAddr, username: &str, password: &str) -> GitServer {
        assert!(ip.is_loopback(), "test servers bind loopback only: {ip}");
        let root = tempfile::Builder::new()
            .prefix("git-server-")
            .tempdir()
            .expect("create server root");
        let project_root = root.path().join("projects");
        std::fs::create_dir(&project_root).expect("create project root");

        // Bind synchronously so the port is known (and bind errors surface in
        // the test's own thread) before `start` returns.
        let std_listener = StdTcpListener::bind((ip, 0)).expect("bind test server");
        std_listener.set_nonblocking(true).expect("set_nonblocking");
        let addr = std_listener.local_addr().expect("local_addr");

        let state = Arc::new(ServerState {
            tokens: Mutex::new(Tokens {
                added: Vec::new(),
                legacy: vec![TokenSpec::password(username, password)],
            }),
            project_root,
            origin: format!("https://{addr}"),
            lfs: lfs::Store::new(root.path().join("lfs-objects")),
            attempts: Mutex::new(Vec::new()),
            debug: std::env::var_os("GIT_SERVER_DEBUG").is_some(),
        });

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build tokio runtime");
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).expect("tokio listener")
        };
        let acceptor = tls_acceptor();
        let (shutdown_tx, shutdown_rx) = oneshot::channel();

        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("git-server-{addr}"))
            .spawn(move || {
                runtime.block_on(accept_loop(listener, acceptor, thread_state, shutdown_rx));
                // Drops connection tasks still running (and, through
                // kill_on_drop, any http-backend they were waiting on).
                runtime.shutdown_timeout(SHUTDOWN_GRACE);
            })
            .expect("spawn server thread");

        GitServer {
            addr,
            state,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
            root,
        }
    }

    /// Also accepts `username`/`password`, for fetching only: a push with it gets GitLab's
    /// 403 `You are not allowed to push code to this project.`
    pub fn allow_fetch(&self, username: &str, password: &str) {
        self.state
            .tokens
            .lock()
            .unwrap()
            .legacy
            .push(TokenSpec::password(username, password).access(gitlab::Access::Read));
    }

    /// Makes the server know `token`, for git and for GitLab's API (see `support::gitlab`
    /// for the answers). Tokens added here are tried before the `start` and `allow_fetch`
    /// credentials, in the order added; the first whose secret and username rule match a
    /// request's decides, so registering the `start` password again narrows what it may do.
    pub fn add_token(&self, token: TokenSpec) {
        self.state.tokens.lock().unwrap().added.push(token);
    }

    /// [`GitServer::start`] on 127.0.0.1.
    pub fn start_local(username: &str, password: &str) -> GitServer {
        Self::start(IpAddr::V4(Ipv4Addr::LOCALHOST), username, password)
    }

    /// `https://HOST:PORT` (IPv6 addresses bracketed), without trailing slash.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `HOST:PORT` as git's credential protocol reports it in `host=`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM file of the CA that signed every test server's certificate (one
    /// file for the whole process).
    pub fn ca_pem_path() -> PathBuf {
        test_ca().pem_path.clone()
    }

    /// The same CA's certificate, for a client in the test process (`support::https`).
    pub fn ca_cert_der() -> CertificateDer<'static> {
        test_ca().cert.der().clone()
    }

    /// Where the bare repository for `path` (e.g. `group/project.git`) lives
    /// on disk.
    pub fn repo_path(&self, path: &str) -> PathBuf {
        self.state.project_root.join(path)
    }

    /// Creates a bare repository served at `/<path>` containing one commit
    /// (a README) on `main`, with HEAD pointing at `main` and pushes enabled.
    pub fn create_repo(&self, path: &str) -> PathBuf {
        let bare = self.repo_path(path);
        std::fs::create_dir_all(&bare).expect("create repo dir");
        run_git(
            &bare,
            &["init", "--quiet", "--bare", "--initial-branch=main"],
        );
        run_git(&bare, &["config", "http.receivepack", "true"]);

        let scratch = tempfile::Builder::new()
            .prefix("scratch-")
            .tempdir_in(self.root.path())
            .expect("create scratch dir");
        let work = scratch.path();
        run_git(work, &["init", "--quiet", "--initial-branch=main"]);
        std::fs::write(work.join("README"), format!("test repository {path}\n"))
            .expect("write README");
        run_git(work, &["add", "README"]);
        run_git(work, &["commit", "--quiet", "-m", "Initial commit"]);
        let bare_str = bare.to_str().expect("utf-8 repo path");
        run_git(work, &["push", "--quiet", bare_str, "main:main"]);
        bare
    }

    /// What `reference` names in the served repository `path`, or "" if nothing.
    pub fn rev_parse(&self, path: &str, reference: &str) -> String {
        let mut cmd = isolated_git();
        cmd.arg("--git-dir").arg(self.repo_path(path)).args([
            "rev-parse",
            "--verify",
            "--quiet",
            reference,
        ]);
        process::run(cmd).stdout_str().trim().to_owned()
    }

    /// The content of the LFS object `oid` that was pushed to the repository `path`
    /// (`group/project.git`), if any.
    pub fn lfs_object(&self, path: &str, oid: &str) -> Option<Vec<u8>> {
        self.state.lfs.get(path, oid)
    }

    /// Every request received so far, in completion order.
    pub fn attempts(&self) -> Vec<AuthAttempt> {
        self.state.attempts.lock().unwrap().clone()
    }

    /// The credentials of every request that carried Basic credentials.
    pub fn credentials_seen(&self) -> Vec<(String, String)> {
        self.attempts()
            .into_iter()
            .filter_map(|a| a.credentials)
            .collect()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_attempts(&self) {
        self.state.attempts.lock().unwrap().clear();
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread is already reported on stderr; do
            // not turn it into a double panic while a test is unwinding.
            let _ = thread.join();
        }
    }
}

/// Runs a git command for server-side setup, isolated from any user or
/// system configuration, and panics with its output on failure.
#[track_caller]
fn run_git(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = isolated_git();
    cmd.args(args).current_dir(dir);
    process::run(cmd).assert_success()
}

/// Environment shared by server-side git invocations (setup and CGI).
const ISOLATED_GIT_ENV: &[(&str, &str)] = &[
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_TERMINAL_PROMPT", "0"),
    ("GIT_AUTHOR_NAME", "Test Server"),
    ("GIT_AUTHOR_EMAIL", "server@example.com"),
    ("GIT_COMMITTER_NAME", "Test Server"),
    ("GIT_COMMITTER_EMAIL", "server@example.com"),
    ("LC_ALL", "C"),
];

fn isolated_git() -> Command {
    let mut cmd = git_command();
    cmd.env_clear();
    carry_git_env(&mut cmd).envs(ISOLATED_GIT_ENV.iter().copied());
    cmd
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<ServerState>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    // Transient (e.g. EMFILE); keep serving.
                    if state.debug {
                        eprintln!("[git-server] accept error: {err}");
                    }
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            {
                Ok(Ok(tls)) => tls,
                // Failed handshakes are expected in tests of untrusted CAs.
                Ok(Err(err)) => {
                    if state.debug {
                        eprintln!("[git-server] TLS handshake with {peer} failed: {err}");
                    }
                    return;
                }
                Err(_) => {
                    if state.debug {
                        eprintln!("[git-server] TLS handshake with {peer} timed out");
                    }
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(handle(req, &state, peer).await) }
            });
            // Errors here are clients hanging up mid-connection; nothing
            // useful to do with them.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    state: &ServerState,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let credentials = basic_credentials(req.headers());
    let api_token_header = gitlab::api_token_header(req.headers());
    // Headers worth seeing when debugging protocol problems.
    let debug_headers = if state.debug {
        [
            "git-protocol",
            "content-encoding",
            "transfer-encoding",
            "content-length",
        ]
        .iter()
        .filter_map(|&name| {
            Some(format!(
                " {name}={}",
                header_str(req.headers(), HeaderName::from_static(name))?
            ))
        })
        .collect::<String>()
    } else {
        String::new()
    };

    let response = if req.uri().path().starts_with(gitlab::API_PREFIX) {
        let (status, body) = gitlab::api_answer(
            state.tokens.lock().unwrap().in_order(),
            req.method().as_str(),
            req.uri().path(),
            req.headers(),
        );
        json_response(status, &body)
    } else if let Some(route) = lfs::route(&percent_decode(req.uri().path())) {
        lfs_response(req, state, &route, credentials.as_ref()).await
    } else {
        git_response(req, state, peer, credentials.as_ref()).await
    };

    let status = response.status().as_u16();
    if state.debug {
        eprintln!(
            "[git-server] {method} {path_and_query} user={:?} api-token-header={:?}{debug_headers} -> {status}",
            credentials.as_ref().map(|(u, _)| u),
            api_token_header,
        );
    }
    state.attempts.lock().unwrap().push(AuthAttempt {
        method,
        path_and_query,
        credentials,
        status,
        api_token_header,
    });
    response
}

/// GitLab's answer to a git request, from `git http-backend` when it is to be served.
async fn git_response(
    req: Request<Incoming>,
    state: &ServerState,
    peer: SocketAddr,
    credentials: Option<&(String, String)>,
) -> Response<Full<Bytes>> {
    let answer = gitlab::git_answer(
        state.tokens.lock().unwrap().in_order(),
        credentials,
        &percent_decode(req.uri().path()),
        req.uri().query(),
        |repo| state.project_root.join(repo).is_dir(),
    );
    match answer {
        GitAnswer::Serve { username } => {
            let backend = run_http_backend(req, state, peer, &username);
            match tokio::time::timeout(REQUEST_TIMEOUT, backend).await {
                Ok(Ok(response)) => response,
                Ok(Err(err)) => {
                    text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n"))
                }
                Err(_) => {
                    text_response(StatusCode::GATEWAY_TIMEOUT, "git http-backend timed out\n")
                }
            }
        }
        GitAnswer::Unauthorized => {
            let mut response = text_response(StatusCode::UNAUTHORIZED, gitlab::ACCESS_DENIED);
            response.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static(gitlab::WWW_AUTHENTICATE),
            );
            response
        }
        GitAnswer::NotFound => text_response(StatusCode::NOT_FOUND, gitlab::PROJECT_NOT_FOUND),
        GitAnswer::Forbidden(body) => text_response(StatusCode::FORBIDDEN, body),
    }
}

/// GitLab's answer to a Git LFS request (`support::lfs`).
async fn lfs_response(
    req: Request<Incoming>,
    state: &ServerState,
    route: &lfs::Route,
    credentials: Option<&(String, String)>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(REQUEST_TIMEOUT, body.collect()).await {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(err)) => {
            return text_response(
                StatusCode::BAD_REQUEST,
                format!("reading the body: {err}\n"),
            )
        }
        Err(_) => return text_response(StatusCode::REQUEST_TIMEOUT, "body too slow\n"),
    };
    let request = lfs::Request {
        method: parts.method.as_str(),
        route,
        body: &body,
        credentials,
        authorization: header_str(&parts.headers, hyper::header::AUTHORIZATION),
        origin: &state.origin,
    };
    let reply = lfs::answer(
        &request,
        state.tokens.lock().unwrap().in_order(),
        &state.project_root,
        &state.lfs,
    );
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("a valid status");
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    if reply.challenge {
        headers.insert(
            HeaderName::from_static("lfs-authenticate"),
            HeaderValue::from_static(lfs::LFS_AUTHENTICATE),
        );
    }
    response
}

fn text_response(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    response
}

/// GitLab's API answers: JSON.
fn json_response(status: u16, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).expect("a valid status");
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Decodes `Authorization: Basic base64(user:pass)`.
fn basic_credentials(headers: &hyper::HeaderMap) -> Option<(String, String)> {
    let value = headers.get(hyper::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Runs one request through `git http-backend` as a CGI script.
async fn run_http_backend(
    req: Request<Incoming>,
    state: &ServerState,
    peer: SocketAddr,
    username: &str,
) -> Result<Response<Full<Bytes>>, String> {
    let (parts, body) = req.into_parts();
    // Buffering is fine: test repositories are tiny. It also lets us give
    // the CGI an exact CONTENT_LENGTH even when git sent the body chunked
    // (it does for requests larger than http.postBuffer).
    let body = body
        .collect()
        .await
        .map_err(|e| format!("reading request body: {e}"))?
        .to_bytes();

    // Spawned here, not through the bounded runner: it runs inside the async server and
    // REQUEST_TIMEOUT bounds it. It is the same git as the tests' (`git http-backend`).
    let mut cmd = tokio::process::Command::from(isolated_git());
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", &state.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", percent_decode(parts.uri.path()))
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        // The body is fully buffered, so the length is always known. With
        // `Content-Encoding: gzip` this is the compressed length, which is
        // what http-backend expects (it inflates the body itself).
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", username)
        .env("REMOTE_ADDR", peer.ip().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(v) = header_str(&parts.headers, hyper::header::CONTENT_TYPE) {
        cmd.env("CONTENT_TYPE", v);
    }
    // git gzips larger upload-pack requests; http-backend only inflates them
    // if told about the encoding through HTTP_CONTENT_ENCODING.
    if let Some(v) = header_str(&parts.headers, hyper::header::CONTENT_ENCODING) {
        cmd.env("HTTP_CONTENT_ENCODING", v);
    }
    // `Git-Protocol: version=2` selects protocol v2; without it the backend
    // silently falls back to v0, which would hide v2-specific behaviour.
    if let Some(v) = header_str(&parts.headers, HeaderName::from_static("git-protocol")) {
        cmd.env("HTTP_GIT_PROTOCOL", v);
    }

    let mut child = cmd
        .spawn()
        .map_err(|e| format!("spawning git http-backend: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Write stdin concurrently with draining stdout/stderr: writing first
    // could deadlock if the backend fills its stdout pipe before reading all
    // of its input.
    let feed = async move {
        // A write error means the backend exited without reading everything
        // (e.g. it rejected the request); its output says why.
        let _ = stdin.write_all(&body).await;
        drop(stdin);
    };
    let ((), output) = tokio::join!(feed, child.wait_with_output());
    let output = output.map_err(|e| format!("waiting for git http-backend: {e}"))?;

    if state.debug && !output.stderr.is_empty() {
        eprintln!(
            "[git-server] http-backend stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if !output.status.success() && output.stdout.is_empty() {
        return Err(format!(
            "git http-backend failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse_cgi_response(&output.stdout)
}

fn header_str(headers: &hyper::HeaderMap, name: HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Splits CGI output into a `Status:` line, headers and the body.
fn parse_cgi_response(stdout: &[u8]) -> Result<Response<Full<Bytes>>, String> {
    let mut response = Response::new(Full::new(Bytes::new()));
    let mut rest = stdout;
    loop {
        let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
            return Err("CGI output ended inside the header block".into());
        };
        let line = &rest[..newline];
        rest = &rest[newline + 1..];
        // CGI allows bare LF; http-backend actually writes CRLF.
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let line = std::str::from_utf8(line).map_err(|_| "non-UTF-8 CGI header")?;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed CGI header {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or_default();
            *response.status_mut() = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| format!("bad CGI status {value:?}"))?;
        } else {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|e| format!("bad CGI header name {name:?}: {e}"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| format!("bad CGI header value {value:?}: {e}"))?;
            response.headers_mut().append(name, value);
        }
    }
    *response.body_mut() = Full::new(Bytes::copy_from_slice(rest));
    Ok(response)
}

/// Decodes `%XX` escapes in a URL path (CGI's `PATH_INFO` is decoded).
/// Invalid escapes are kept verbatim.
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}
