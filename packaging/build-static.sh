#!/usr/bin/env bash
# Builds the static Linux binary (musl) for a target and checks that it is static and for
# that machine.
#
#   packaging/build-static.sh [TARGET]
#
# TARGET is x86_64-unknown-linux-musl (the default) or aarch64-unknown-linux-musl. The
# aarch64 binary builds on an x86_64 machine: the Rust toolchain carries musl for it, and
# rust-lld (shipped with rustup's toolchains) links it, unless
# CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER names another linker (a cross gcc). No C
# compiler is needed for either target.
#
# The binary's path is the last line of stdout; cargo's output goes to stderr. The binary
# runs on any Linux of its architecture (glibc or musl images alike) and needs no shared
# library.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-x86_64-unknown-linux-musl}
case "$target" in
    x86_64-unknown-linux-musl) machine="x86-64" ;;
    aarch64-unknown-linux-musl)
        # .cargo/config.toml links it with rust-lld.
        machine="ARM aarch64"
        ;;
    *) echo "build-static: unsupported target $target (x86_64-unknown-linux-musl or aarch64-unknown-linux-musl)" >&2; exit 2 ;;
esac
if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target" >&2
fi
cargo build --release --locked --target "$target" >&2

bin="${CARGO_TARGET_DIR:-target}/$target/release/git-credential-gitlab-ci"
test -x "$bin" || { echo "build-static: $bin was not built" >&2; exit 1; }

# `file` says "statically linked" or "static-pie linked", and names the machine; glibc's ldd
# says "not a dynamic executable" (or "statically linked" for static-pie) and exits non-zero
# for the former.
kind=$(file -b "$bin")
case "$kind" in
    *static*) ;;
    *) echo "build-static: $bin is not static: $kind" >&2; exit 1 ;;
esac
case "$kind" in
    *"$machine"*) ;;
    *) echo "build-static: $bin is not for $machine: $kind" >&2; exit 1 ;;
esac
# .cargo/config.toml asks for a plain static executable (no start-up relocation); a
# RUSTFLAGS in the environment that drops that gives static-pie, which is refused here.
case "$kind" in
    *"pie executable"* | *static-pie*)
        echo "build-static: $bin is static-pie; build without RUSTFLAGS, which replaces .cargo/config.toml's flags" >&2
        exit 1 ;;
esac
linkage=$(ldd "$bin" 2>&1 || true)
case "$linkage" in
    *"not a dynamic executable"* | *"statically linked"*) ;;
    *) printf 'build-static: ldd finds shared libraries in %s:\n%s\n' "$bin" "$linkage" >&2; exit 1 ;;
esac
echo "build-static: $bin: $kind" >&2
echo "$bin"
