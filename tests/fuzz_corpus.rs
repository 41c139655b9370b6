//! Replays every saved fuzzer input (the seeds and the minimised corpora in `fuzz/`) through
//! the same entry points the fuzzers run, so CI re-checks them on stable on every run.

use std::path::Path;

use git_credential_gitlab_ci::fuzzing;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for dir in ["seeds", "corpus-min"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{} panics", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "no saved inputs for {target}");
}

#[test]
fn saved_credential_requests_replay_cleanly() {
    replay("credential_request", fuzzing::credential_request);
}

#[test]
fn saved_daemon_frames_replay_cleanly() {
    replay("daemon_frame", fuzzing::daemon_frame);
}

#[test]
fn saved_config_files_replay_cleanly() {
    replay("config_file", fuzzing::config_file);
}
