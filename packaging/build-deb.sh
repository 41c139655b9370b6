#!/usr/bin/env bash
# Builds the Debian package around the static musl binary: amd64 by default, arm64 with
# aarch64-unknown-linux-musl as TARGET.
#
#   packaging/build-deb.sh [TARGET]
#
# Needs cargo-deb (`cargo install cargo-deb --locked`) and the musl target (added if
# missing). The man pages and completions come from the binary's own CLI definition (for
# arm64, from the x86_64 build of the same source, which this machine can run); they go into
# target/assets/ under the repository, whatever CARGO_TARGET_DIR says, because that is where
# [package.metadata.deb] in Cargo.toml looks for them. The .deb's path is the last line of
# stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-x86_64-unknown-linux-musl}
command -v cargo-deb >/dev/null ||
    { echo "build-deb: cargo-deb is missing: cargo install cargo-deb --locked" >&2; exit 1; }

bin=$(packaging/build-static.sh "$target" | tail -n1)
# The binary that writes the man pages and completions must run here.
case "$target" in
    x86_64-*) gen=$bin ;;
    *) gen=$(packaging/build-static.sh | tail -n1) ;;
esac

# Cargo.toml's asset paths: target/release/... is the binary (cargo-deb finds it in
# CARGO_TARGET_DIR); every other path is relative to the repository.
assets=target/assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
"$gen" generate-man "$assets/man" >/dev/null
gzip -9n "$assets"/man/*.1
for shell in bash zsh fish; do
    "$gen" generate-completions "$shell" "$assets/completions" >/dev/null
done

# --no-build: package the binary built above; cargo-deb finds it under target/$target/ and
# names the architecture from the target (amd64, arm64). --no-strip: the release profile has
# stripped it already, and a foreign binary needs no cross strip. cargo-deb prints the path
# of the .deb it wrote.
deb=$(cargo deb --no-build --no-strip --target "$target" | tail -n1)
test -f "$deb" || { echo "build-deb: cargo deb wrote no package ($deb)" >&2; exit 1; }
echo "build-deb: $deb" >&2
echo "$deb"
