//! A minimal Git LFS server beside the test server's git: the batch API
//! (`POST <repo>.git/info/lfs/objects/batch`, basic transfer, upload and download), the lock
//! check git-lfs makes before a push, and the object endpoints the batch answer points at.
//! Objects are stored on disk, one file per repository and oid, in the server's temp dir.
//!
//! It answers as GitLab does: every request needs HTTP Basic credentials that pass
//! `support::gitlab`'s token rules (an upload or lock check needs push access, a download
//! fetch access). A 401 carries `LFS-Authenticate: Basic realm="GitLab"`, which makes git-lfs
//! ask `git credential fill` and try again. The batch answer's actions carry the request's
//! own `Authorization` header and `authenticated: true`, as GitLab's do, and the object
//! endpoints check that header with the same rules.
//!
//! No HTTP here: `git_server` hands over the method, path, body and credentials, and turns
//! the [`Reply`] into a response.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::gitlab::{self, GitAnswer, TokenSpec};

/// The Git LFS media type, of requests and answers.
pub const MEDIA_TYPE: &str = "application/vnd.git-lfs+json";
/// GitLab's challenge on a 401 to LFS.
pub const LFS_AUTHENTICATE: &str = "Basic realm=\"GitLab\"";

/// What an LFS path asks for; `repo` is `group/project.git`, as on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST <repo>/info/lfs/objects/batch`
    Batch { repo: String },
    /// `POST <repo>/info/lfs/locks/verify`
    LocksVerify { repo: String },
    /// `GET <repo>/gitlab-lfs/objects/<oid>` or `PUT .../<oid>/<size>`
    Object {
        repo: String,
        oid: String,
        size: Option<u64>,
    },
}

/// The route of `path` (percent-decoded), or `None` when it is not an LFS path.
pub fn route(path: &str) -> Option<Route> {
    let trimmed = path.trim_start_matches('/');
    let end = trimmed.find(".git/")? + ".git".len();
    let (repo, rest) = trimmed.split_at(end);
    // Repository names come from the request and become directories: plain segments only.
    let plain = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    if !repo.split('/').all(plain) {
        return None;
    }
    let repo = repo.to_owned();
    match rest {
        "/info/lfs/objects/batch" => return Some(Route::Batch { repo }),
        "/info/lfs/locks/verify" => return Some(Route::LocksVerify { repo }),
        _ => {}
    }
    let object = rest.strip_prefix("/gitlab-lfs/objects/")?;
    let (oid, size) = match object.split_once('/') {
        Some((oid, size)) => (oid, Some(size.parse().ok()?)),
        None => (object, None),
    };
    valid_oid(oid).then(|| Route::Object {
        repo,
        oid: oid.to_owned(),
        size,
    })
}

/// A SHA-256 in lowercase hex, as LFS names objects (and as our store names files).
fn valid_oid(oid: &str) -> bool {
    oid.len() == 64 && oid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What the server sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Send `LFS-Authenticate` (a 401).
    pub challenge: bool,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            content_type: MEDIA_TYPE,
            body: body.to_string().into_bytes(),
            challenge: status == 401,
        }
    }

    fn message(status: u16, message: &str) -> Reply {
        Reply::json(status, &json!({ "message": message }))
    }
}

/// The objects of every repository, as files `<dir>/<repo>/<oid>`.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    fn path(&self, repo: &str, oid: &str) -> PathBuf {
        self.dir.join(repo).join(oid)
    }

    /// The object's content, if the repository has it.
    pub fn get(&self, repo: &str, oid: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(repo, oid)).ok()
    }

    fn size(&self, repo: &str, oid: &str) -> Option<u64> {
        std::fs::metadata(self.path(repo, oid))
            .ok()
            .map(|m| m.len())
    }

    fn put(&self, repo: &str, oid: &str, content: &[u8]) -> std::io::Result<()> {
        let path = self.path(repo, oid);
        std::fs::create_dir_all(path.parent().expect("a repository directory"))?;
        std::fs::write(path, content)
    }
}

/// One LFS request, the way GitLab answers it.
pub struct Request<'r> {
    pub method: &'r str,
    pub route: &'r Route,
    pub body: &'r [u8],
    pub credentials: Option<&'r (String, String)>,
    /// The request's `Authorization` header, echoed into the batch answer's actions.
    pub authorization: Option<&'r str>,
    /// `https://HOST:PORT`, for the actions' hrefs.
    pub origin: &'r str,
}

/// Answers `request` from `store`, with `tokens` deciding who may do what (see
/// `support::gitlab`). `project_root` holds the git repositories: LFS serves only those.
pub fn answer<'a>(
    request: &Request<'_>,
    tokens: impl IntoIterator<Item = &'a TokenSpec>,
    project_root: &Path,
    store: &Store,
) -> Reply {
    let batch = match request.route {
        Route::Batch { .. } => match serde_json::from_slice::<Value>(request.body) {
            Ok(v) => Some(v),
            Err(_) => return Reply::message(422, "Unprocessable Entity"),
        },
        _ => None,
    };
    let (repo, upload) = match (request.route, request.method) {
        (Route::Batch { repo }, "POST") => {
            let operation = batch.as_ref().and_then(|b| b["operation"].as_str());
            match operation {
                Some("upload") => (repo, true),
                Some("download") => (repo, false),
                _ => return Reply::message(422, "Unprocessable Entity"),
            }
        }
        (Route::LocksVerify { repo }, "POST") => (repo, true),
        (Route::Object { repo, size, .. }, "PUT") if size.is_some() => (repo, true),
        (
            Route::Object {
                repo, size: None, ..
            },
            "GET",
        ) => (repo, false),
        _ => return Reply::message(405, "Method Not Allowed"),
    };
    let decision = gitlab::lfs_answer(tokens, request.credentials, repo, upload, |r| {
        project_root.join(r).is_dir()
    });
    match decision {
        GitAnswer::Serve { .. } => {}
        GitAnswer::Unauthorized => return Reply::message(401, gitlab::ACCESS_DENIED),
        GitAnswer::NotFound => return Reply::message(404, "Not found."),
        GitAnswer::Forbidden(_) => {
            return Reply::message(403, "Access forbidden. Check your access level.")
        }
    }
    match (request.route, batch) {
        (Route::Batch { repo }, batch) => batch_answer(
            request,
            repo,
            upload,
            batch.as_ref().unwrap_or(&Value::Null),
            store,
        ),
        (Route::LocksVerify { .. }, _) => Reply::json(200, &json!({ "ours": [], "theirs": [] })),
        (Route::Object { repo, oid, size }, _) => match size {
            Some(size) => put_object(store, repo, oid, *size, request.body),
            None => match store.get(repo, oid) {
                Some(content) => Reply {
                    status: 200,
                    content_type: "application/octet-stream",
                    body: content,
                    challenge: false,
                },
                None => Reply::message(404, "Not found."),
            },
        },
    }
}

/// The batch answer: an action for each object the client must transfer, with the client's
/// own `Authorization` (as GitLab sends it), or an error for an object it cannot have.
fn batch_answer(
    request: &Request<'_>,
    repo: &str,
    upload: bool,
    batch: &Value,
    store: &Store,
) -> Reply {
    let transfers = batch["transfers"].as_array();
    if transfers.is_some_and(|t| !t.iter().any(|t| t == "basic")) {
        return Reply::message(422, "only the basic transfer adapter is supported");
    }
    let Some(objects) = batch["objects"].as_array() else {
        return Reply::message(422, "Unprocessable Entity");
    };
    let base = format!("{}/{repo}/gitlab-lfs/objects", request.origin);
    let mut header = serde_json::Map::new();
    if let Some(authorization) = request.authorization {
        header.insert("Authorization".into(), authorization.into());
    }
    let answered: Vec<Value> = objects
        .iter()
        .map(|object| {
            let oid = object["oid"].as_str().unwrap_or_default();
            let size = object["size"].as_u64();
            let Some(size) = size.filter(|_| valid_oid(oid)) else {
                return json!({
                    "oid": oid,
                    "size": object["size"],
                    "error": { "code": 422, "message": "Validation error" },
                });
            };
            let held = store.size(repo, oid) == Some(size);
            match (upload, held) {
                (true, true) => json!({ "oid": oid, "size": size, "authenticated": true }),
                (true, false) => {
                    let mut header = header.clone();
                    header.insert("Content-Type".into(), "application/octet-stream".into());
                    json!({
                        "oid": oid, "size": size, "authenticated": true,
                        "actions": { "upload": {
                            "href": format!("{base}/{oid}/{size}"),
                            "header": header,
                            "expires_in": 3600,
                        } },
                    })
                }
                (false, true) => json!({
                    "oid": oid, "size": size, "authenticated": true,
                    "actions": { "download": {
                        "href": format!("{base}/{oid}"),
                        "header": header,
                        "expires_in": 3600,
                    } },
                }),
                (false, false) => json!({
                    "oid": oid, "size": size,
                    "error": { "code": 404, "message": "Object does not exist on the server or you don't have permissions to access it" },
                }),
            }
        })
        .collect();
    Reply::json(
        200,
        &json!({ "transfer": "basic", "objects": answered, "hash_algo": "sha256" }),
    )
}

/// Stores an uploaded object once its content matches its oid and size.
fn put_object(store: &Store, repo: &str, oid: &str, size: u64, content: &[u8]) -> Reply {
    let digest = Sha256::digest(content);
    let actual: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if actual != oid || content.len() as u64 != size {
        return Reply::message(422, "the content does not match the oid and size");
    }
    match store.put(repo, oid, content) {
        Ok(()) => Reply {
            status: 200,
            content_type: "text/plain",
            body: Vec::new(),
            challenge: false,
        },
        Err(e) => Reply::message(500, &format!("storing the object: {e}")),
    }
}
