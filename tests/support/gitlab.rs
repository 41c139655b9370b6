//! What the test server answers, the way GitLab does: the tokens a test registers
//! ([`TokenSpec`]) and, for one request, the decision GitLab would take. No I/O here;
//! `git_server` applies the decision (and runs `git http-backend` when the answer is to serve).
//!
//! The texts are GitLab's own:
//!
//! | request | answer |
//! |---|---|
//! | git, no credentials, unknown token or a username the token does not accept | 401 `HTTP Basic: Access denied`, `WWW-Authenticate: Basic realm="GitLab"` |
//! | git, a project the token cannot see (or that does not exist) | 404 `The project you were looking for could not be found or you don't have permission to view it.` |
//! | git, fetch (upload-pack) with [`Access::None`] | 403 `You are not allowed to download code from this project.` |
//! | git, push (receive-pack: `info/refs?service=git-receive-pack` and the `POST`) without [`Access::Write`] | 403 `You are not allowed to push code to this project.` |
//! | Git LFS (`support::lfs`): the same rules, an upload or lock check as a push, a download as a fetch | the same statuses, as LFS JSON; a 401 says `LFS-Authenticate: Basic realm="GitLab"` |
//! | `GET /api/v4/personal_access_tokens/self` (`PRIVATE-TOKEN:` or `Authorization: Bearer`) with a personal, project or group access token | 200 and the token's JSON |
//! | `GET /api/v4/job` (`JOB-TOKEN:`) with a job token | 200 and the job's JSON |
//! | either endpoint with any other token, or none | 401 `{"message":"401 Unauthorized"}` |
//!
//! A revoked or expired token is unknown to every endpoint (401). Every path under
//! [`API_PREFIX`] is the API's: another one is a JSON 404.

use std::collections::BTreeSet;
use std::fmt;

use hyper::HeaderMap;
use serde_json::{json, Value};

/// GitLab's body for a 401 to git.
pub const ACCESS_DENIED: &str = "HTTP Basic: Access denied";
/// GitLab's body for a 404 to git: no such project, or not one the token may see.
pub const PROJECT_NOT_FOUND: &str =
    "The project you were looking for could not be found or you don't have permission to view it.";
/// GitLab's body for a 403 to a push.
pub const PUSH_DENIED: &str = "You are not allowed to push code to this project.";
/// GitLab's body for a 403 to a fetch.
pub const DOWNLOAD_DENIED: &str = "You are not allowed to download code from this project.";
/// GitLab's `WWW-Authenticate` on a 401 to git.
pub const WWW_AUTHENTICATE: &str = "Basic realm=\"GitLab\"";

/// What a token is. It decides which API endpoint knows the token, and (through
/// [`TokenSpec`]'s constructors) which usernames git may send with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A personal access token (`glpat-`).
    PersonalAccess,
    /// A project access token (`glpat-`, a bot user's personal access token).
    ProjectAccess,
    /// A group access token (`glpat-`, likewise).
    GroupAccess,
    /// A CI/CD job token (`glcbt-`), sent by git as `gitlab-ci-token`.
    Job,
    /// A deploy token (`gldt-`), sent by git with the deploy token's own username.
    Deploy,
    /// A user's password. What [`GitServer::start`](super::git_server::GitServer::start) and
    /// [`GitServer::allow_fetch`](super::git_server::GitServer::allow_fetch) register: git
    /// accepts it, the API does not.
    Password,
}

impl TokenKind {
    /// Personal, project and group access tokens: what `/personal_access_tokens/self` knows.
    pub fn is_access_token(self) -> bool {
        matches!(
            self,
            TokenKind::PersonalAccess | TokenKind::ProjectAccess | TokenKind::GroupAccess
        )
    }
}

/// Which usernames git may send with a token (HTTP Basic's user part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsernameRule {
    /// Exactly this one: `gitlab-ci-token` for a job token, a deploy token's own name.
    Exact(String),
    /// Any non-empty username, as GitLab accepts with an access token.
    AnyNonEmpty,
}

impl UsernameRule {
    pub fn accepts(&self, username: &str) -> bool {
        match self {
            UsernameRule::Exact(expected) => username == expected,
            UsernameRule::AnyNonEmpty => !username.is_empty(),
        }
    }
}

/// What a token may do to the repositories of the projects it can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Neither fetch nor push (403 to both).
    None,
    /// Fetch; a push gets GitLab's 403.
    Read,
    /// Fetch and push.
    Write,
}

/// What `GET /api/v4/personal_access_tokens/self` reports for an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenInfo {
    pub id: u64,
    pub name: String,
    pub scopes: Vec<String>,
    /// As GitLab writes it, e.g. `2025-01-01T00:00:00.000Z`.
    pub created_at: String,
    /// `YYYY-MM-DD`, or `None` for a token that never expires (JSON `null`). Reported only:
    /// the server never compares it with the clock; [`TokenSpec::expired`] decides.
    pub expires_at: Option<String>,
    pub user_id: u64,
    pub last_used_at: Option<String>,
}

impl Default for AccessTokenInfo {
    fn default() -> Self {
        AccessTokenInfo {
            id: 1,
            name: "test token".into(),
            scopes: vec![
                "api".into(),
                "read_repository".into(),
                "write_repository".into(),
            ],
            created_at: "2025-01-01T00:00:00.000Z".into(),
            expires_at: None,
            user_id: 1,
            last_used_at: None,
        }
    }
}

/// What `GET /api/v4/job` reports for a job token: the job that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    pub id: u64,
    pub name: String,
    pub stage: String,
    /// The job's `ref`: the branch or tag it runs for.
    pub git_ref: String,
    pub pipeline_id: u64,
    pub project_id: u64,
    /// The user who runs the pipeline.
    pub user_id: u64,
    pub username: String,
}

impl Default for JobInfo {
    fn default() -> Self {
        JobInfo {
            id: 1,
            name: "test".into(),
            stage: "test".into(),
            git_ref: "main".into(),
            pipeline_id: 1,
            project_id: 1,
            user_id: 1,
            username: "root".into(),
        }
    }
}

/// One token the server knows, and how GitLab treats it.
///
/// The constructors give a token that may fetch and push every project; narrow it with the
/// setters or struct-update syntax:
///
/// ```ignore
/// server.add_token(TokenSpec::job(JOB_TOKEN).access(Access::Read).projects(["group/project"]));
/// server.add_token(TokenSpec {
///     access_token: AccessTokenInfo { expires_at: Some("2030-01-31".into()), ..Default::default() },
///     ..TokenSpec::personal_access(PAT)
/// });
/// ```
///
/// Its `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// The token (git's password, or the API header's value).
    pub secret: String,
    pub kind: TokenKind,
    /// The usernames git may send with it.
    pub username: UsernameRule,
    pub access: Access,
    /// The projects it can see, as paths without `.git` (`group/project`); `None`: all.
    pub projects: Option<BTreeSet<String>>,
    /// Revoked: unknown to git and to the API (401).
    pub revoked: bool,
    /// Expired: unknown to git and to the API (401).
    pub expired: bool,
    /// Reported by `/personal_access_tokens/self`; used for access tokens only.
    pub access_token: AccessTokenInfo,
    /// Reported by `/job`; used for job tokens only.
    pub job: JobInfo,
}

impl TokenSpec {
    /// A token of `kind` that git may send with any username `username` accepts.
    pub fn new(secret: &str, kind: TokenKind, username: UsernameRule) -> TokenSpec {
        TokenSpec {
            secret: secret.to_owned(),
            kind,
            username,
            access: Access::Write,
            projects: None,
            revoked: false,
            expired: false,
            access_token: AccessTokenInfo::default(),
            job: JobInfo::default(),
        }
    }

    /// A personal access token: any non-empty username.
    pub fn personal_access(secret: &str) -> TokenSpec {
        Self::new(secret, TokenKind::PersonalAccess, UsernameRule::AnyNonEmpty)
    }

    /// A project access token: any non-empty username.
    pub fn project_access(secret: &str) -> TokenSpec {
        Self::new(secret, TokenKind::ProjectAccess, UsernameRule::AnyNonEmpty)
    }

    /// A group access token: any non-empty username.
    pub fn group_access(secret: &str) -> TokenSpec {
        Self::new(secret, TokenKind::GroupAccess, UsernameRule::AnyNonEmpty)
    }

    /// A job token: username `gitlab-ci-token` only.
    pub fn job(secret: &str) -> TokenSpec {
        Self::new(
            secret,
            TokenKind::Job,
            UsernameRule::Exact("gitlab-ci-token".into()),
        )
    }

    /// A deploy token: its own `username` only.
    pub fn deploy(secret: &str, username: &str) -> TokenSpec {
        Self::new(
            secret,
            TokenKind::Deploy,
            UsernameRule::Exact(username.into()),
        )
    }

    /// A user's password: that user's name only.
    pub fn password(username: &str, password: &str) -> TokenSpec {
        Self::new(
            password,
            TokenKind::Password,
            UsernameRule::Exact(username.into()),
        )
    }

    /// Sets [`TokenSpec::access`].
    pub fn access(mut self, access: Access) -> TokenSpec {
        self.access = access;
        self
    }

    /// Sets [`TokenSpec::username`].
    pub fn username(mut self, rule: UsernameRule) -> TokenSpec {
        self.username = rule;
        self
    }

    /// Only these projects are visible (paths with or without `.git`); none if empty.
    pub fn projects<I, S>(mut self, projects: I) -> TokenSpec
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.projects = Some(
            projects
                .into_iter()
                .map(|p| project_name(p.as_ref()).to_owned())
                .collect(),
        );
        self
    }

    /// Sets [`TokenSpec::revoked`].
    pub fn revoked(mut self) -> TokenSpec {
        self.revoked = true;
        self
    }

    /// Sets [`TokenSpec::expired`].
    pub fn expired(mut self) -> TokenSpec {
        self.expired = true;
        self
    }

    fn valid(&self) -> bool {
        !self.revoked && !self.expired
    }

    fn sees(&self, project: &str) -> bool {
        self.projects
            .as_ref()
            .is_none_or(|visible| visible.contains(project))
    }
}

impl fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSpec")
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .field("kind", &self.kind)
            .field("username", &self.username)
            .field("access", &self.access)
            .field("projects", &self.projects)
            .field("revoked", &self.revoked)
            .field("expired", &self.expired)
            .field("access_token", &self.access_token)
            .field("job", &self.job)
            .finish()
    }
}

/// `group/project` for `group/project.git`.
fn project_name(path: &str) -> &str {
    let path = path.trim_matches('/');
    path.strip_suffix(".git").unwrap_or(path)
}

// ---------------------------------------------------------------------------
// git over HTTP
// ---------------------------------------------------------------------------

/// What GitLab answers a git request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitAnswer {
    /// Hand the request to `git http-backend`, as this user (CGI's `REMOTE_USER`).
    Serve { username: String },
    /// 401 [`ACCESS_DENIED`].
    Unauthorized,
    /// 404 [`PROJECT_NOT_FOUND`].
    NotFound,
    /// 403 with this body.
    Forbidden(&'static str),
}

/// A git request's path, cut into the repository it names and the service it asks for.
struct GitPath<'a> {
    /// `group/project.git`, as on disk under the project root.
    repo: &'a str,
    push: bool,
}

/// `/group/project.git/info/refs?service=git-receive-pack` into its repository and
/// whether it is (part of) a push; `None` when the path names no `.git` repository.
fn git_path<'a>(path: &'a str, query: Option<&str>) -> Option<GitPath<'a>> {
    let trimmed = path.trim_start_matches('/');
    let end = if let Some(i) = trimmed.find(".git/") {
        i + ".git".len()
    } else if trimmed.ends_with(".git") {
        trimmed.len()
    } else {
        return None;
    };
    let repo = &trimmed[..end];
    let rest = &trimmed[end..];
    let push = rest == "/git-receive-pack"
        || (rest == "/info/refs"
            && query.is_some_and(|q| q.split('&').any(|kv| kv == "service=git-receive-pack")));
    Some(GitPath { repo, push })
}

/// GitLab's answer to a git request for `path` (already percent-decoded) and `query`, with
/// `credentials` from HTTP Basic. `tokens` are tried in order; the first whose secret and
/// username rule match decides. `repo_exists` says whether `group/project.git` is on disk.
pub fn git_answer<'a>(
    tokens: impl IntoIterator<Item = &'a TokenSpec>,
    credentials: Option<&(String, String)>,
    path: &str,
    query: Option<&str>,
    repo_exists: impl Fn(&str) -> bool,
) -> GitAnswer {
    let request = git_path(path, query);
    repository_answer(
        tokens,
        credentials,
        request.as_ref().map(|r| r.repo),
        request.as_ref().is_some_and(|r| r.push),
        repo_exists,
    )
}

/// GitLab's answer to a Git LFS request for the repository `repo` (`group/project.git`):
/// the same token rules as git's, with an upload (or a lock check) needing what a push
/// needs, and a download what a fetch needs.
pub fn lfs_answer<'a>(
    tokens: impl IntoIterator<Item = &'a TokenSpec>,
    credentials: Option<&(String, String)>,
    repo: &str,
    upload: bool,
    repo_exists: impl Fn(&str) -> bool,
) -> GitAnswer {
    repository_answer(tokens, credentials, Some(repo), upload, repo_exists)
}

/// The rules git and LFS share: who the credentials are, whether they see `repo` (`None`:
/// the path named no repository), and whether they may do what was asked.
fn repository_answer<'a>(
    tokens: impl IntoIterator<Item = &'a TokenSpec>,
    credentials: Option<&(String, String)>,
    repo: Option<&str>,
    push: bool,
    repo_exists: impl Fn(&str) -> bool,
) -> GitAnswer {
    let Some((username, password)) = credentials else {
        return GitAnswer::Unauthorized;
    };
    let Some(token) = tokens
        .into_iter()
        .find(|t| t.secret == *password && t.username.accepts(username))
    else {
        return GitAnswer::Unauthorized;
    };
    if !token.valid() {
        return GitAnswer::Unauthorized;
    }
    let Some(repo) = repo else {
        return GitAnswer::NotFound;
    };
    if !token.sees(project_name(repo)) || !repo_exists(repo) {
        return GitAnswer::NotFound;
    }
    match (push, token.access) {
        (true, Access::Write) | (false, Access::Read | Access::Write) => GitAnswer::Serve {
            username: username.clone(),
        },
        (true, _) => GitAnswer::Forbidden(PUSH_DENIED),
        (false, Access::None) => GitAnswer::Forbidden(DOWNLOAD_DENIED),
    }
}

// ---------------------------------------------------------------------------
// GitLab's API
// ---------------------------------------------------------------------------

/// Requests under this prefix go to the API, never to git.
pub const API_PREFIX: &str = "/api/";

/// The API endpoint of a token's own details (access tokens).
pub const TOKEN_SELF_PATH: &str = "/api/v4/personal_access_tokens/self";
/// The API endpoint of a job token's job.
pub const JOB_PATH: &str = "/api/v4/job";

/// Which header carried a token for the API, if any: `PRIVATE-TOKEN`, `JOB-TOKEN` or
/// `Authorization: Bearer` (the first present, in that order). Names only, never values.
pub fn api_token_header(headers: &HeaderMap) -> Option<&'static str> {
    if header(headers, "private-token").is_some() {
        Some("PRIVATE-TOKEN")
    } else if header(headers, "job-token").is_some() {
        Some("JOB-TOKEN")
    } else if bearer(headers).is_some() {
        Some("Authorization: Bearer")
    } else {
        None
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = header(headers, "authorization")?.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// GitLab's answer to an API request (`path` without the query): a status and its JSON
/// body. `tokens` are tried in order; the first of the endpoint's kinds with the secret
/// the request sent decides.
///
/// - `GET` [`TOKEN_SELF_PATH`], the token in `PRIVATE-TOKEN:` or `Authorization: Bearer`:
///   a personal, project or group access token's [`AccessTokenInfo`];
/// - `GET` [`JOB_PATH`], the token in `JOB-TOKEN:`: a job token's [`JobInfo`];
/// - 401 `{"message":"401 Unauthorized"}` for any other token (other kinds too), a revoked
///   or expired one, or none; 405 for another method; 404 for any other path.
pub fn api_answer<'a>(
    tokens: impl IntoIterator<Item = &'a TokenSpec>,
    method: &str,
    path: &str,
    headers: &HeaderMap,
) -> (u16, Value) {
    let job = match path {
        TOKEN_SELF_PATH => false,
        JOB_PATH => true,
        _ => return (404, json!({ "error": "404 Not Found" })),
    };
    if method != "GET" {
        return (405, json!({ "error": "405 Not Allowed" }));
    }
    let (secret, wanted): (Option<&str>, fn(TokenKind) -> bool) = if job {
        (header(headers, "job-token"), |k| k == TokenKind::Job)
    } else {
        (
            header(headers, "private-token").or_else(|| bearer(headers)),
            TokenKind::is_access_token,
        )
    };
    let token = secret.and_then(|secret| {
        tokens
            .into_iter()
            .find(|t| wanted(t.kind) && t.secret == secret)
    });
    match token {
        Some(token) if token.valid() && job => (200, job_json(&token.job)),
        Some(token) if token.valid() => (200, access_token_json(&token.access_token)),
        _ => (401, json!({ "message": "401 Unauthorized" })),
    }
}

/// `/personal_access_tokens/self`'s body. Only valid tokens get one, hence `revoked`
/// false and `active` true.
fn access_token_json(info: &AccessTokenInfo) -> Value {
    json!({
        "id": info.id,
        "name": info.name,
        "revoked": false,
        "created_at": info.created_at,
        "scopes": info.scopes,
        "user_id": info.user_id,
        "last_used_at": info.last_used_at,
        "active": true,
        "expires_at": info.expires_at,
    })
}

/// `/job`'s body: the fields a client would use, of a running job.
fn job_json(job: &JobInfo) -> Value {
    json!({
        "id": job.id,
        "name": job.name,
        "stage": job.stage,
        "status": "running",
        "ref": job.git_ref,
        "tag": false,
        "user": { "id": job.user_id, "username": job.username },
        "pipeline": {
            "id": job.pipeline_id,
            "project_id": job.project_id,
            "ref": job.git_ref,
            "status": "running",
        },
    })
}
