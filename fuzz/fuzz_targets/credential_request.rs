#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    git_credential_gitlab_ci::fuzzing::credential_request(data);
});
