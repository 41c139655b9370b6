#!/usr/bin/env bash
# Runs `cargo test --locked --no-fail-fast ARGS...` once per git in the matrix that .ci/gits.sh
# installed (/opt/git-matrix/list), with that git first on PATH, and prints one
# summary line per git. Exits non-zero if any git's run fails.
#
#   .ci/test-matrix.sh                           # the whole suite
#   .ci/test-matrix.sh -- push_through configure # cargo test --locked --no-fail-fast -- push_through configure
#
# --no-fail-fast: a failing unit test must not hide the integration tests'
# results on that git.
# Each run's output goes to the console and to $GIT_MATRIX_LOGS/<version>.log.
# GIT_MATRIX_SKIP lists versions (space-separated) whose run is skipped, such as the git
# on PATH when the suite has just run with it.
# Old gits ignore GIT_CONFIG_SYSTEM/GIT_CONFIG_GLOBAL (before 2.32), so a test
# could write the machine's real config files: a run that changes one of them
# fails, whatever the tests said.
set -euo pipefail
cd "$(dirname "$0")/.."

list=${GIT_MATRIX_LIST:-/opt/git-matrix/list}
logs=${GIT_MATRIX_LOGS:-${CARGO_TARGET_DIR:-target}/git-matrix-logs}
[[ -s $list ]] || {
    echo "test-matrix.sh: $list missing or empty: run .ci/gits.sh first" >&2
    exit 2
}
mkdir -p "$logs"

# The config files a test must never write, with their state.
guarded=(/etc/gitconfig "${HOME:-/root}/.gitconfig" "${XDG_CONFIG_HOME:-${HOME:-/root}/.config}/git/config")
snapshot() {
    local f
    for f in "${guarded[@]}"; do
        if [[ -e $f ]]; then
            printf '%s %s\n' "$f" "$(sha256sum <"$f" | cut -d' ' -f1)"
        else
            printf '%s absent\n' "$f"
        fi
    done
}

summary=()
failed=0
while read -r version bin <&3; do
    [[ -n $version ]] || continue
    log="$logs/$version.log"
    if [[ " ${GIT_MATRIX_SKIP:-} " == *" $version "* ]]; then
        summary+=("git $version: skipped (GIT_MATRIX_SKIP: already run)")
        continue
    fi
    printf '\n==> git %s (%s)\n' "$version" "$bin"
    got=$(PATH="$bin:$PATH" git --version 2>&1 || true)
    if [[ $got != "git version $version" ]]; then
        summary+=("git $version: FAILED: git --version with $bin first on PATH says '$got'")
        failed=1
        continue
    fi
    before=$(snapshot)
    start=$(date +%s)
    rc=0
    PATH="$bin:$PATH" cargo test --locked --no-fail-fast "$@" 2>&1 | tee "$log" || rc=$?
    secs=$(($(date +%s) - start))
    after=$(snapshot)
    passed=$(awk '/^test result:/ { n += $4 } END { print n + 0 }' "$log")
    nfail=$(awk '/^test result:/ { n += $6 } END { print n + 0 }' "$log")
    line="git $version: "
    if ((rc == 0)); then
        line+="ok ($passed passed, ${secs}s)"
    else
        failed=1
        line+="FAILED (exit $rc; $passed passed, $nfail failed, ${secs}s; log $log)"
        names=$(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$log" | sort -u)
        [[ -z $names ]] || line+=$'\n'"$(sed 's/^/    /' <<<"$names")"
    fi
    if [[ $before != "$after" ]]; then
        failed=1
        line+=$'\n'"    FAILED: the run changed a real config file:"$'\n'"$(diff <(echo "$before") <(echo "$after") | sed -n 's/^> /      /p')"
    fi
    summary+=("$line")
done 3<"$list"

printf '\n==> git matrix summary\n'
printf '%s\n' "${summary[@]}"
exit "$failed"
