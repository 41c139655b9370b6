//! The messages inside frames: git's `erase` as the client forwards it (the password replaced
//! by its fingerprint, so no token crosses the socket for it), the daemon's answer to `get`
//! (prefixed by the job it serves, see [`JobIdentity`]), and the state the daemon reports to
//! `status`, as JSON. No secrets: tokens appear masked.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::credential::Request;

/// git sent `erase`: the server answered 401 to the credential we gave.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rejection {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub origin: String,
    pub fingerprint: Option<String>,
}

/// The GitLab job a daemon serves: `CI_JOB_ID`, `CI_SERVER_URL` and `CI_PROJECT_ID` as the
/// daemon's environment held them when it started (an empty variable counts as unset). On a
/// shell executor one uid runs every job, with one HOME: the helper uses a daemon only if it
/// serves the helper's own job, so that job B is never answered with job A's token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobIdentity {
    pub job_id: Option<String>,
    pub server_url: Option<String>,
    pub project_id: Option<String>,
}

/// The longest value of a [`JobIdentity`] field; a daemon refuses to start with a longer one.
pub const MAX_JOB_FIELD: usize = 1024;

/// Marks an absent field in an answer's identity block.
const ABSENT: u16 = u16::MAX;

impl JobIdentity {
    /// The job of this process's environment.
    pub fn from_env() -> JobIdentity {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string_lossy().into_owned())
        };
        JobIdentity {
            job_id: var("CI_JOB_ID"),
            server_url: var("CI_SERVER_URL"),
            project_id: var("CI_PROJECT_ID"),
        }
    }

    /// Whether this names a job (`CI_JOB_ID` was set).
    pub fn is_job(&self) -> bool {
        self.job_id.is_some()
    }

    /// Whether a daemon that serves `self` may answer a helper whose own job is `client`: a
    /// daemon started in a job answers only that job (all three fields equal); a daemon
    /// started outside any job answers whoever reaches its socket, as before jobs were told
    /// apart.
    pub fn serves(&self, client: &JobIdentity) -> bool {
        !self.is_job() || self == client
    }

    /// The first field longer than [`MAX_JOB_FIELD`], by its variable's name.
    pub fn too_long(&self) -> Option<&'static str> {
        [
            ("CI_JOB_ID", &self.job_id),
            ("CI_SERVER_URL", &self.server_url),
            ("CI_PROJECT_ID", &self.project_id),
        ]
        .into_iter()
        .find(|(_, v)| v.as_ref().is_some_and(|v| v.len() > MAX_JOB_FIELD))
        .map(|(name, _)| name)
    }

    fn fields(&self) -> [Option<&str>; 3] {
        [
            self.job_id.as_deref(),
            self.server_url.as_deref(),
            self.project_id.as_deref(),
        ]
    }
}

impl std::fmt::Display for JobIdentity {
    /// `job 42 (project 7 on https://gitlab.example.com)`, or `no job`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(id) = &self.job_id else {
            return f.write_str("no job");
        };
        write!(
            f,
            "job {id} (project {} on {})",
            self.project_id.as_deref().unwrap_or("unknown"),
            self.server_url.as_deref().unwrap_or("an unknown server")
        )
    }
}

/// The daemon's answer to `get`: the job it serves, then git's answer.
///
/// ```text
/// 3 times (job id, server URL, project id):  u16 length, big-endian (0xFFFF: absent), bytes
/// then                                        git's answer, to be written verbatim
/// ```
pub fn encode_answer(job: &JobIdentity, answer: &[u8]) -> Zeroizing<Vec<u8>> {
    let fields = job.fields();
    let size = fields
        .iter()
        .map(|f| 2 + f.map_or(0, |v| v.len().min(MAX_JOB_FIELD)))
        .sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(size + answer.len()));
    for field in fields {
        match field {
            None => out.extend_from_slice(&ABSENT.to_be_bytes()),
            Some(v) => {
                // The daemon refuses to start with a longer field; the cut only keeps the
                // length in range, so nothing here can fail.
                let v = &v.as_bytes()[..v.len().min(MAX_JOB_FIELD)];
                out.extend_from_slice(&(v.len() as u16).to_be_bytes());
                out.extend_from_slice(v);
            }
        }
    }
    out.extend_from_slice(answer);
    out
}

/// The job and git's answer in an [`encode_answer`] payload; `None` when it is malformed.
pub fn split_answer(payload: &[u8]) -> Option<(JobIdentity, &[u8])> {
    let mut rest = payload;
    let mut field = || -> Option<Option<String>> {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let len = u16::from_be_bytes(*len);
        if len == ABSENT {
            rest = tail;
            return Some(None);
        }
        let len = len as usize;
        if len > MAX_JOB_FIELD || len > tail.len() {
            return None;
        }
        let (value, tail) = tail.split_at(len);
        rest = tail;
        Some(Some(std::str::from_utf8(value).ok()?.to_owned()))
    };
    let job = JobIdentity {
        job_id: field()?,
        server_url: field()?,
        project_id: field()?,
    };
    Some((job, rest))
}

/// What the daemon tells `status` about itself. No secrets: tokens appear masked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonState {
    pub pid: u32,
    /// The job it serves, captured when it started (`job_id` is null outside a job).
    #[serde(default)]
    pub job: JobIdentity,
    pub version: String,
    pub socket: String,
    pub started_at: u64,
    pub uptime_secs: u64,
    pub answered: u64,
    pub refused: u64,
    pub rejected: u64,
    pub last_rejection: Option<Rejection>,
    /// When the daemon will stop on its own (`--ttl`), seconds since the Unix epoch.
    pub stops_at: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub credentials: Vec<HeldCredential>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldCredential {
    pub url: String,
    pub username: String,
    /// Kind and fingerprint, as `status` prints them; none if no source holds a token.
    pub token: Option<String>,
    /// Why each source gave no token, when none did.
    #[serde(default)]
    pub unavailable: Vec<String>,
    pub expires_at: Option<u64>,
    /// No token now, but a token command runs for the next request (it has not run yet, or
    /// its last token expired or was rejected): not a problem.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// The daemon's reply to an erase of the token it serves (a real rejection); any other erase
/// gets `recorded`.
pub const REJECTED: &[u8] = b"rejected";

/// An erase for the daemon: git's request without the password, plus the password's
/// fingerprint on a line of its own.
pub fn encode_erase(request: &Request) -> Zeroizing<Vec<u8>> {
    let fingerprint = request.password.as_ref().map(crate::token::fingerprint_of);
    let without_password = Request {
        protocol: request.protocol.clone(),
        host: request.host.clone(),
        path: request.path.clone(),
        username: request.username.clone(),
        password: None,
        multi: Default::default(),
    };
    let mut out = without_password.encode();
    if let Some(f) = fingerprint {
        out.extend_from_slice(format!("fingerprint={f}\n").as_bytes());
    }
    out
}

/// The request and fingerprint of an [`encode_erase`] payload; `None` when it is malformed.
pub fn decode_erase(payload: &[u8]) -> Option<(Request, Option<String>)> {
    let request = Request::parse(payload).ok()?;
    let fingerprint = std::str::from_utf8(payload)
        .ok()
        .and_then(|t| t.lines().rev().find_map(|l| l.strip_prefix("fingerprint=")))
        .filter(|f| f.len() == 8 && f.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    Some((request, fingerprint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> JobIdentity {
        JobIdentity {
            job_id: Some(id.to_owned()),
            server_url: Some("https://gitlab.example.com".to_owned()),
            project_id: Some("7".to_owned()),
        }
    }

    #[test]
    fn an_answer_carries_the_daemons_job_and_gits_lines_intact() {
        let answer = b"username=gitlab-ci-token\npassword=p\n";
        for identity in [
            job("42"),
            JobIdentity::default(),
            JobIdentity {
                job_id: Some("1".into()),
                ..Default::default()
            },
            JobIdentity {
                server_url: Some(String::new()),
                ..job("")
            },
        ] {
            let payload = encode_answer(&identity, answer);
            let (got, rest) = split_answer(&payload).unwrap();
            assert_eq!(got, identity);
            assert_eq!(rest, answer);
            for cut in 0..payload.len() - answer.len() {
                assert!(
                    split_answer(&payload[..cut]).is_none(),
                    "{identity:?} cut at {cut}"
                );
            }
        }
        // A length over the cap, or a value that is not UTF-8, is malformed.
        let mut long = Vec::new();
        long.extend_from_slice(&((MAX_JOB_FIELD + 1) as u16).to_be_bytes());
        long.extend(std::iter::repeat_n(b'1', MAX_JOB_FIELD + 1));
        long.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert!(split_answer(&long).is_none());
        assert!(split_answer(&[0, 1, 0xff, 0xff, 0xff, 0xff, 0xff]).is_none());
    }

    #[test]
    fn a_job_daemon_serves_only_its_own_job() {
        let a = job("1");
        assert!(a.serves(&job("1")));
        assert!(!a.serves(&job("2")), "another job id");
        assert!(
            !a.serves(&JobIdentity::default()),
            "a helper outside any job"
        );
        for other in [
            JobIdentity {
                server_url: Some("https://other.example.com".into()),
                ..job("1")
            },
            JobIdentity {
                project_id: Some("8".into()),
                ..job("1")
            },
            JobIdentity {
                project_id: None,
                ..job("1")
            },
        ] {
            assert!(!a.serves(&other), "{other:?}");
        }
        // Started outside a job: whoever reaches the socket, as before.
        assert!(JobIdentity::default().serves(&job("2")));
        assert!(JobIdentity::default().serves(&JobIdentity::default()));
        assert_eq!(
            a.to_string(),
            "job 1 (project 7 on https://gitlab.example.com)"
        );
        assert_eq!(JobIdentity::default().to_string(), "no job");
        assert_eq!(a.too_long(), None);
        let long = JobIdentity {
            server_url: Some("h".repeat(MAX_JOB_FIELD + 1)),
            ..job("1")
        };
        assert_eq!(long.too_long(), Some("CI_SERVER_URL"));
    }
}
