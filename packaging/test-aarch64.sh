#!/usr/bin/env bash
# Checks the aarch64 build on this x86_64 machine:
#
# - packaging/build-static.sh aarch64-unknown-linux-musl builds a static aarch64 binary
#   (rust-lld links it), and packaging/build-deb.sh builds the arm64 .deb around it, with
#   CARGO_TARGET_DIR set;
# - under qemu-user (Debian's qemu-user-static), the binary prints --version, answers `get`
#   for the served origin and is silent for another, and `status` reports the job's token
#   without printing it;
# - where binfmt_misc can be registered (root, and a kernel that allows it), aarch64
#   programs run as if native: configure, then git credential fill through the binary, a
#   clean status, and a daemon start, a `get` answered by it, and a stop. The daemon
#   re-executes itself, which plain qemu-aarch64-static cannot (Exec format error). Without
#   binfmt_misc this part says it was skipped and why.
#
#   packaging/test-aarch64.sh
#
# Needs qemu-user-static, cargo-deb, dpkg-deb, file and git; .ci/run installs them.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n--> %s\n' "$*"; }
fail() { printf 'test-aarch64: FAILED: %s\n' "$*" >&2; exit 1; }

name=git-credential-gitlab-ci
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
token=glcbt-aarch64-test-0123456789
work=$(mktemp -d)
cleanup() {
    [ -z "${daemon_socket:-}" ] || "${run[@]}" --socket "$daemon_socket" stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

step "build the aarch64 binary and the arm64 .deb"
bin=$(realpath "$(packaging/build-static.sh aarch64-unknown-linux-musl | tail -n1)")
# With CARGO_TARGET_DIR set, as CI caches set it: build-deb.sh once failed whenever it was
# (Can't resolve asset: target/assets/man/*.1.gz). A link to the same target directory keeps
# what is built already.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
    ln -s "$PWD/target" "$work/target-dir"
    deb=$(CARGO_TARGET_DIR="$work/target-dir" packaging/build-deb.sh aarch64-unknown-linux-musl | tail -n1)
    case "$deb" in
        "$work/target-dir/"*) ;;
        *) fail "with CARGO_TARGET_DIR set, build-deb.sh wrote $deb" ;;
    esac
    cp "$deb" "$work/" && deb="$work/$(basename "$deb")"
else
    deb=$(packaging/build-deb.sh aarch64-unknown-linux-musl | tail -n1)
fi
arch=$(dpkg-deb --field "$deb" Architecture)
[ "$arch" = arm64 ] || fail "$deb is for $arch, not arm64"
dpkg-deb -x "$deb" "$work/root"
file -b "$work/root/usr/bin/$name" | grep -q "ARM aarch64" || fail "the .deb's binary is not aarch64"
echo "$deb: arm64, $(file -b "$bin")"

qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
[ -n "$qemu" ] || fail "qemu-aarch64-static is missing: apt-get install qemu-user-static"
run=("$qemu" "$bin")

# The job's commands run in an empty directory: inside this checkout, `status` would check
# the checkout's own remote instead of the job's project.
job_env=(env -C "$work/job" -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work/home"
    XDG_RUNTIME_DIR="$work/run" XDG_CONFIG_HOME="$work/home/.config"
    GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL="$work/gitconfig"
    CI_SERVER_URL=https://gitlab.example.com CI_PROJECT_PATH=group/project CI_JOB_ID=7
    CI_JOB_TOKEN="$token")
mkdir -p "$work/home" "$work/run" "$work/job" && chmod 700 "$work/run"
: >"$work/gitconfig"

step "under $qemu"
got=$("${run[@]}" --version)
[[ "$got" == "$name $version ("*")" ]] || fail "--version says '$got'"
echo "--version: $got"
answer=$(printf 'protocol=https\nhost=gitlab.example.com\n' | "${job_env[@]}" "${run[@]}" get)
[ "$answer" = $'username=gitlab-ci-token\npassword='"$token" ] || fail "get answered '$answer'"
echo "get: answers the served origin"
refused=$(printf 'protocol=https\nhost=gitlab.example.com:8443\n' | "${job_env[@]}" "${run[@]}" get)
[ -z "$refused" ] || fail "get answered another port: '$refused'"
echo "get: silent for another port"
# Not configured yet, so status finds problems (exit 1), but it reads the job's token.
set +e
report=$("${job_env[@]}" "${run[@]}" status)
code=$?
set -e
[ "$code" = 1 ] || fail "status exited $code: $report"
grep -q "token: CI/CD job token (glcbt-), fingerprint" <<<"$report" || fail "status: $report"
! grep -qF "$token" <<<"$report" || fail "status printed the token"
echo "status: reads the job token, never prints it, and says git is not configured"

step "as a native program, through binfmt_misc"
binfmt=/proc/sys/fs/binfmt_misc
why=
if [ ! -e "$binfmt/register" ]; then
    mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || why="binfmt_misc cannot be mounted here"
fi
if [ -z "$why" ] && [ ! -e "$binfmt/qemu-aarch64" ]; then
    conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    if [ ! -r "$conf" ]; then
        why="$conf is missing (Debian's qemu-user-static ships it)"
    elif ! cat "$conf" >"$binfmt/register" 2>/dev/null; then
        why="registering qemu-aarch64 with binfmt_misc was refused (not root, or a container without it)"
    fi
fi
if [ -z "$why" ] && ! "$bin" --version >/dev/null 2>&1; then
    why="binfmt_misc has qemu-aarch64, but the binary does not run through it"
fi
if [ -n "$why" ]; then
    echo "skipped: $why"
else
    "${job_env[@]}" "$bin" configure --file "$work/gitconfig" >/dev/null
    filled=$(printf 'url=https://gitlab.example.com/group/project.git\n' |
        "${job_env[@]}" git credential fill)
    grep -qx "password=$token" <<<"$filled" || fail "git credential fill got: $filled"
    echo "git credential fill: answered by the aarch64 binary"
    report=$("${job_env[@]}" "$bin" status) || fail "status after configure: $report"
    grep -q "the chain works" <<<"$report" || fail "status after configure: $report"
    echo "status: in order after configure"
    mkdir -m 700 "$work/sock"
    daemon_socket="$work/sock/daemon.sock"
    "${job_env[@]}" "$bin" --socket "$daemon_socket" daemon --detach >/dev/null
    # The daemon holds the token; the client has none of its own, so only the daemon can answer.
    answer=$(printf 'protocol=https\nhost=gitlab.example.com\n' |
        env -i PATH=/usr/bin:/bin HOME="$work/home" CI_SERVER_URL=https://gitlab.example.com \
            CI_JOB_ID=7 GIT_CREDENTIAL_GITLAB_CI_USE_DAEMON=only \
            "$bin" --socket "$daemon_socket" get)
    [ "$answer" = $'username=gitlab-ci-token\npassword='"$token" ] || fail "the daemon answered '$answer'"
    echo "daemon: started detached, answered get"
    "$bin" --socket "$daemon_socket" stop >/dev/null
    daemon_socket=
    [ ! -e "$work/sock/daemon.sock" ] || fail "the daemon's socket is still there after stop"
    echo "daemon: stopped"
fi

printf '\ntest-aarch64: all checks passed (%s)\n' "$deb"
