#!/usr/bin/env bash
# The release's files: what .gitlab-ci.yml's build, package and release jobs run, so that a
# release holds exactly what packaging/test-packaging.sh has checked.
#
#   packaging/dist.sh static TARGET   build-static.sh TARGET; copy the binary into DIST as
#                                     git-credential-gitlab-ci-VERSION-TARGET
#   packaging/dist.sh deb TARGET      build-deb.sh TARGET; copy the .deb into DIST
#   packaging/dist.sh sums            write DIST/SHA256SUMS for every other file in DIST,
#                                     and check it; fails unless DIST holds exactly the
#                                     files `names` lists
#   packaging/dist.sh names           the release's file names for this version, one a line
#   packaging/dist.sh upload          PUT each file of SHA256SUMS, and SHA256SUMS, into the
#                                     project's generic package registry; write
#                                     DIST/release.env (VERSION, PACKAGE_REGISTRY_URL) and
#                                     DIST/release-notes.md
#
# DIST is dist/ unless DIST says otherwise; TARGET is x86_64-unknown-linux-musl or
# aarch64-unknown-linux-musl. VERSION is Cargo.toml's; `upload` refuses a CI_COMMIT_TAG
# other than vVERSION. `upload` reads CI_JOB_TOKEN and sends it in curl's config on stdin,
# never on a command line; PACKAGE_REGISTRY_URL defaults to this project's
# $CI_API_V4_URL/projects/$CI_PROJECT_ID/packages/generic/git-credential-gitlab-ci/VERSION.
set -euo pipefail
cd "$(dirname "$0")/.."

name=git-credential-gitlab-ci
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
dist=${DIST:-dist}
targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)

die() { echo "dist: $*" >&2; exit 1; }

deb_arch() {
    case "$1" in
        x86_64-unknown-linux-musl) echo amd64 ;;
        aarch64-unknown-linux-musl) echo arm64 ;;
        *) die "unsupported target $1 (${targets[*]})" ;;
    esac
}

names() {
    local target
    for target in "${targets[@]}"; do
        echo "$name-$version-$target"
    done
    for target in "${targets[@]}"; do
        echo "${name}_$version-1_$(deb_arch "$target").deb"
    done
}

case "${1:-}" in
    static)
        target=${2:?dist: static needs a TARGET}
        deb_arch "$target" >/dev/null
        bin=$(packaging/build-static.sh "$target" | tail -n1)
        mkdir -p "$dist"
        install -m 0755 "$bin" "$dist/$name-$version-$target"
        echo "$dist/$name-$version-$target"
        ;;
    deb)
        target=${2:?dist: deb needs a TARGET}
        deb_arch "$target" >/dev/null
        deb=$(packaging/build-deb.sh "$target" | tail -n1)
        want="${name}_$version-1_$(deb_arch "$target").deb"
        [ "$(basename "$deb")" = "$want" ] || die "build-deb.sh wrote $deb, not $want"
        mkdir -p "$dist"
        install -m 0644 "$deb" "$dist/$want"
        echo "$dist/$want"
        ;;
    sums)
        [ -d "$dist" ] || die "$dist does not exist"
        have=$(cd "$dist" && find . -maxdepth 1 -type f ! -name SHA256SUMS ! -name 'release*' \
            -printf '%f\n' | LC_ALL=C sort)
        want=$(names | LC_ALL=C sort)
        [ "$have" = "$want" ] ||
            die "$dist holds $(echo $have), not the release's $(echo $want)"
        (cd "$dist" && sha256sum $want >SHA256SUMS && sha256sum --check --quiet SHA256SUMS)
        cat "$dist/SHA256SUMS"
        ;;
    names)
        names
        ;;
    upload)
        [ -f "$dist/SHA256SUMS" ] || die "no $dist/SHA256SUMS: run packaging/dist.sh sums first"
        (cd "$dist" && sha256sum --check --quiet SHA256SUMS) || die "$dist/SHA256SUMS does not match"
        if [ -n "${CI_COMMIT_TAG:-}" ] && [ "$CI_COMMIT_TAG" != "v$version" ]; then
            die "the tag $CI_COMMIT_TAG is not v$version, Cargo.toml's version"
        fi
        [ -n "${CI_JOB_TOKEN:-}" ] || die "CI_JOB_TOKEN is not set"
        registry=${PACKAGE_REGISTRY_URL:-${CI_API_V4_URL:?}/projects/${CI_PROJECT_ID:?}/packages/generic/$name/$version}
        for file in $(awk '{ print $2 }' "$dist/SHA256SUMS") SHA256SUMS; do
            echo "dist: uploading $file to $registry/" >&2
            curl --fail --silent --show-error --proto '=https' --upload-file "$dist/$file" \
                --config - >/dev/null <<EOF
url = "$registry/$file"
header = "JOB-TOKEN: $CI_JOB_TOKEN"
EOF
        done
        printf 'VERSION=%s\nPACKAGE_REGISTRY_URL=%s\n' "$version" "$registry" >"$dist/release.env"
        {
            echo "Static binaries (musl) for x86_64 and aarch64 Linux, and Debian packages."
            echo
            echo "As a CI/CD Catalog component, with the binary installed from this release"
            echo "where the job's image does not have it (docs/component.md):"
            echo
            echo '```yaml'
            echo 'include:'
            echo "  - component: \$CI_SERVER_FQDN/${CI_PROJECT_PATH:-<group>/$name}/git-push@$version"
            echo '    inputs:'
            echo "      binary_url: $registry/$name-$version-x86_64-unknown-linux-musl"
            echo "      binary_sha256: \"$(awk -v f="$name-$version-x86_64-unknown-linux-musl" '$2 == f { print $1 }' "$dist/SHA256SUMS")\""
            echo '```'
            echo
            echo "For aarch64 runners, binary_url ends in -aarch64-unknown-linux-musl and binary_sha256 is"
            echo "\`$(awk -v f="$name-$version-aarch64-unknown-linux-musl" '$2 == f { print $1 }' "$dist/SHA256SUMS")\`."
            echo
            echo "SHA256SUMS:"
            echo
            echo '```text'
            cat "$dist/SHA256SUMS"
            echo '```'
        } >"$dist/release-notes.md"
        cat "$dist/release.env"
        ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
