//! Entry points shared by the fuzzers in `fuzz/` and the corpus replay in `tests/`, so that
//! CI re-checks every saved input against exactly what was fuzzed.
//!
//! Each takes arbitrary bytes and must never panic, hang or allocate beyond the caps; the
//! assertions inside are invariants, not input validation.

use std::sync::OnceLock;

use crate::credential::Scope;
use crate::credential::{decide, Decision};
use crate::credential::{read_message, Request, READ_TIMEOUT};
use crate::credential::{Credential, Provenance};
use crate::token::TokenSource;

fn served() -> &'static [Credential] {
    static SERVED: OnceLock<Vec<Credential>> = OnceLock::new();
    SERVED.get_or_init(|| {
        [
            "https://gitlab.example.com",
            "https://gitlab.example.com/deploy",
            "https://[::1]:8443",
        ]
        .iter()
        .map(|url| Credential {
            scope: Scope::parse(url).expect("valid"),
            username: "gitlab-ci-token".into(),
            sources: vec![TokenSource::Env(
                "GIT_CREDENTIAL_GITLAB_CI_FUZZ_UNSET".into(),
            )],
            expires: None,
            provenance: Provenance::Flags,
        })
        .collect()
    })
}

/// git's credential format: read, parse, re-encode, decide.
pub fn credential_request(data: &[u8]) {
    let Ok(message) = read_message(&mut &data[..], READ_TIMEOUT) else {
        return;
    };
    let Ok(request) = Request::parse(&message) else {
        return;
    };
    let again = Request::parse(&request.encode()).expect("an encoded request parses");
    assert!(again == request, "encode/parse is not a round trip");
    if let Decision::Answer(c) = decide(&request, served()) {
        let host = request.host.as_deref().unwrap_or_default();
        assert!(!host.is_empty(), "answered an empty host");
        assert!(
            !host.contains(['\r', '\n', '\0', '@', '%', ' ']),
            "answered a hostile host"
        );
        assert!(c.scope.covers_path(request.path.as_deref()));
    }
}

/// The client–daemon framing and the daemon's start-up handoff.
pub fn daemon_frame(data: &[u8]) {
    if let Ok((kind, payload)) = crate::ipc::decode(data) {
        assert!(payload.len() <= crate::ipc::MAX_PAYLOAD);
        if kind == crate::ipc::Kind::Get {
            credential_request(payload);
        }
        if kind == crate::ipc::Kind::Answer {
            let _ = crate::ipc::split_answer(payload);
        }
    }
    let _ = crate::daemon::decode_handoff(data);
}

/// The TOML config file.
pub fn config_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(credentials) = crate::config::parse_file(text, std::path::Path::new("/fuzz.toml")) {
        for c in credentials {
            assert!(!c.username.is_empty());
            assert!(!c.sources.is_empty());
        }
    }
}
