#!/usr/bin/env bash
# Builds the static Linux binary (x86_64, musl) and checks that it is static.
#
#   packaging/build-static.sh
#
# The binary's path is the last line of stdout; cargo's output goes to stderr. The binary
# runs on any x86_64 Linux (glibc or musl images alike) and needs no shared library.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl
if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target" >&2
fi
cargo build --release --locked --target "$target" >&2

bin="${CARGO_TARGET_DIR:-target}/$target/release/git-credential-gitlab-ci"
test -x "$bin" || { echo "build-static: $bin was not built" >&2; exit 1; }

# `file` says "statically linked" or "static-pie linked"; glibc's ldd says "not a dynamic
# executable" (or "statically linked" for static-pie) and exits non-zero for the former.
kind=$(file -b "$bin")
case "$kind" in
    *static*) ;;
    *) echo "build-static: $bin is not static: $kind" >&2; exit 1 ;;
esac
linkage=$(ldd "$bin" 2>&1 || true)
case "$linkage" in
    *"not a dynamic executable"* | *"statically linked"*) ;;
    *) printf 'build-static: ldd finds shared libraries in %s:\n%s\n' "$bin" "$linkage" >&2; exit 1 ;;
esac
echo "build-static: $bin: $kind" >&2
echo "$bin"
