fn main() -> std::process::ExitCode {
    git_credential_gitlab_ci::run()
}
