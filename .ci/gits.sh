#!/usr/bin/env bash
# Installs the git version matrix the tests run against, under /opt/git-matrix:
#
#   <version>/bin/git   wrapper (or symlink) to put first on PATH
#   <version>/root/     the unpacked Debian packages (Debian gits only)
#   list                one line per git: "<version> <bin dir>", oldest first
#
# The matrix: Debian 11 (bullseye) git, Debian 12 (bookworm) git, this machine's
# /usr/local/bin/git, and the newest git in Debian unstable (sid).
#
# Packages come from Debian's registry through a private apt state per suite
# (own sources.list, lists, status and archive cache under $GIT_MATRIX_CACHE),
# so the system's apt configuration and packages are never touched, and
# nothing from bullseye or sid is installed into the system.
#
# bullseye's and bookworm's gits run on this (bookworm) machine's libraries.
# sid's git needs a newer glibc: its libc6 and the libraries git and
# libcurl-gnutls need are unpacked next to it, and the git binaries are
# patched (patchelf) to use that root's dynamic loader and, through DT_RPATH,
# its libraries. Nothing else sees those libraries: no LD_LIBRARY_PATH.
#
# Idempotent: a git already installed from the same packages is only checked
# again. Package lists are refreshed when older than GIT_MATRIX_LIST_AGE
# seconds (default one day), or always with GIT_MATRIX_REFRESH=1.
set -Eeuo pipefail

PREFIX=${GIT_MATRIX_PREFIX:-/opt/git-matrix}
CACHE=${GIT_MATRIX_CACHE:-/var/cache/git-matrix}
LIST_AGE=${GIT_MATRIX_LIST_AGE:-86400}
LOCAL_GIT=${GIT_MATRIX_LOCAL_GIT:-/usr/local/bin/git}
MIRROR=${GIT_MATRIX_MIRROR:-http://deb.debian.org}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() {
    printf 'gits.sh: error: %s\n' "$*" >&2
    exit 1
}
log() { printf 'gits.sh: %s\n' "$*" >&2; }
trap 'die "failed at line $LINENO: $BASH_COMMAND"' ERR

[[ $(id -u) == 0 ]] || die "must run as root (writes $PREFIX and $CACHE)"
[[ $(dpkg --print-architecture) == amd64 ]] || die "only amd64 is supported"
[[ -r $KEYRING ]] || die "$KEYRING missing (package debian-archive-keyring)"

# --- host tools and the host libraries the old gits link against ------------

# bullseye's and bookworm's git link against these sonames, which this
# bookworm machine provides from its own suite: libcurl-gnutls.so.4,
# libpcre2-8.so.0, libz.so.1, libexpat.so.1 (http-push only).
host_need=()
command -v patchelf >/dev/null || host_need+=(patchelf)
for pkg in libcurl3-gnutls libpcre2-8-0 zlib1g libexpat1; do
    dpkg-query -W -f='${db:Status-Status}\n' "$pkg" 2>/dev/null | grep -qx installed ||
        host_need+=("$pkg")
done
if ((${#host_need[@]})); then
    log "installing from the system's own suite: ${host_need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${host_need[@]}" >/dev/null
fi

# --- private apt state per suite ---------------------------------------------

# suite_sources SUITE: the sources.list lines of a matrix suite.
suite_sources() {
    local o="[signed-by=$KEYRING]"
    case $1 in
    bullseye | bookworm)
        printf 'deb %s %s/debian %s main\n' "$o" "$MIRROR" "$1"
        printf 'deb %s %s/debian %s-updates main\n' "$o" "$MIRROR" "$1"
        printf 'deb %s %s/debian-security %s-security main\n' "$o" "$MIRROR" "$1"
        ;;
    sid) printf 'deb %s %s/debian sid main\n' "$o" "$MIRROR" ;;
    *) die "unknown suite $1" ;;
    esac
}

# apt_setup SUITE: sets the global array APT_OPTS for SUITE's private apt
# state, and refreshes its package lists when they are stale.
APT_OPTS=()
apt_setup() {
    local suite=$1 d="$CACHE/apt/$1"
    mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/empty" "$CACHE/debs/$suite"
    [[ -e $d/status ]] || : >"$d/status"
    suite_sources "$suite" >"$d/sources.list.new"
    if ! cmp -s "$d/sources.list.new" "$d/sources.list" 2>/dev/null; then
        mv "$d/sources.list.new" "$d/sources.list"
        rm -f "$d/updated"
    else
        rm -f "$d/sources.list.new"
    fi
    APT_OPTS=(
        -o "Dir::Etc::SourceList=$d/sources.list"
        -o "Dir::Etc::SourceParts=$d/empty"
        -o "Dir::Etc::Preferences=/dev/null"
        -o "Dir::Etc::PreferencesParts=$d/empty"
        -o "Dir::State::Lists=$d/lists"
        -o "Dir::State::status=$d/status"
        -o "Dir::Cache=$d/cache"
        # The system may disable the binary caches (docker-clean); they save
        # seconds per apt call here.
        -o "Dir::Cache::pkgcache=pkgcache.bin"
        -o "Dir::Cache::srcpkgcache=srcpkgcache.bin"
        -o "APT::Architecture=amd64"
        -o "APT::Architectures::=amd64"
        -o "APT::Sandbox::User=root"
        -o "Acquire::Languages=none"
        -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
        -o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false"
        -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
        -o "Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false"
        -o "Acquire::Retries=3"
    )
    local stamp="$d/updated" age=$((LIST_AGE + 1))
    if [[ -e $stamp ]]; then
        age=$(($(date +%s) - $(stat -c %Y "$stamp")))
    fi
    if [[ ${GIT_MATRIX_REFRESH:-0} == 1 || $age -gt $LIST_AGE ]]; then
        log "$suite: apt-get update (private lists in $d)"
        local out
        if ! out=$(apt-get "${APT_OPTS[@]}" -q update 2>&1); then
            printf '%s\n' "$out" >&2
            die "$suite: apt-get update failed"
        fi
        # apt-get update exits 0 on some fetch failures; W:/E: lines say so.
        if grep -E '^(E:|W:.*(Failed|not signed|NO_PUBKEY))' <<<"$out" >&2; then
            die "$suite: apt-get update reported errors"
        fi
        touch "$stamp"
    fi
}

# candidate SUITE PKG: the version apt would pick for PKG in SUITE.
candidate() {
    local v
    v=$(apt-cache "${APT_OPTS[@]}" policy "$2" | awk '$1 == "Candidate:" { print $2 }')
    [[ -n $v && $v != "(none)" ]] || die "$1: no candidate for package $2"
    printf '%s\n' "$v"
}

# fetch SUITE PKG=VERSION...: downloads the exact packages into the cache,
# skipping files already there with the right SHA256, and prints their paths.
fetch() {
    local suite=$1 dir="$CACHE/debs/$1"
    shift
    local uris missing=() file hash
    uris=$(apt-get "${APT_OPTS[@]}" --print-uris download "$@")
    while read -r _ file _ hash; do
        [[ $hash == SHA256:* ]] || die "$suite: no SHA256 for $file"
        if [[ -e $dir/$file ]] && sha256sum "$dir/$file" | grep -q "^${hash#SHA256:} "; then
            :
        else
            rm -f "$dir/$file"
            missing+=("$file")
        fi
    done < <(printf '%s\n' "$uris" | sed -n "s/^'\([^']*\)' /\1 /p")
    if ((${#missing[@]})); then
        log "$suite: downloading ${#missing[@]} package(s)"
        (cd "$dir" && apt-get "${APT_OPTS[@]}" -q download "$@" >/dev/null) ||
            die "$suite: apt-get download $* failed"
    fi
    printf '%s\n' "$uris" | sed -n "s/^'[^']*' \([^ ]*\) .*/\1/p" | while read -r file; do
        [[ -s $dir/$file ]] || die "$suite: $file missing after download"
        printf '%s\n' "$dir/$file"
    done
}

# upstream DEBIAN_VERSION: 1:2.30.2-1+deb11u4 -> 2.30.2
upstream() {
    local v=${1#*:}
    printf '%s\n' "${v%-*}"
}

# --- unpacking ---------------------------------------------------------------

# Turns absolute symlinks inside ROOT (which point into the real /) into links
# to the same path inside ROOT.
fix_symlinks() {
    local root=$1 link target
    while IFS= read -r -d '' link; do
        target=$(readlink "$link")
        if [[ $target == /* ]]; then
            ln -sfn "$root$target" "$link"
        fi
    done < <(find "$root" -type l -print0)
}

write_wrapper() {
    local dir=$1 root=$2
    mkdir -p "$dir/bin"
    cat >"$dir/bin/git.new" <<EOF
#!/bin/sh
# Generated by .ci/gits.sh: runs the git unpacked in $root,
# with its own exec path and templates (absolute paths: works from any env).
GIT_EXEC_PATH='$root/usr/lib/git-core'
GIT_TEMPLATE_DIR='$root/usr/share/git-core/templates'
export GIT_EXEC_PATH GIT_TEMPLATE_DIR
exec '$root/usr/bin/git' "\$@"
EOF
    chmod 0755 "$dir/bin/git.new"
    mv "$dir/bin/git.new" "$dir/bin/git"
}

# Patches every dynamically linked executable of git in ROOT to use ROOT's
# loader and libraries. DT_RPATH (not RUNPATH) so that it also applies to the
# libraries' own dependencies (libcurl -> gnutls -> ...).
patch_root() {
    local root=$1 f interp rpath
    interp=$(readlink -f "$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    [[ -x $interp ]] || die "no dynamic loader in $root"
    rpath="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu"
    while IFS= read -r -d '' f; do
        patchelf --print-interpreter "$f" >/dev/null 2>&1 || continue
        patchelf --set-interpreter "$interp" --force-rpath --set-rpath "$rpath" "$f"
    done < <(find "$root/usr/bin" "$root/usr/lib/git-core" -type f -print0)
    # Every library must resolve inside the root, none from the system.
    for f in "$root/usr/bin/git" "$root/usr/lib/git-core/git-remote-http" \
        "$root/usr/lib/git-core/git-http-backend"; do
        local libs
        libs=$("$interp" --list "$f") || die "$f does not load: $libs"
        if grep -v -e "=> $root/" -e 'linux-vdso' -e "^[[:space:]]*$root/" <<<"$libs" >&2; then
            die "$f resolves the libraries above outside $root"
        fi
    done
}

# install_debian VERSION_DIR ROOT_PACKAGES_FILE PATCH(0|1) DEB...
# Unpacks the debs into a fresh root (unless the same set is already there).
install_debian() {
    local dir=$1 patch=$2
    shift 2
    local want have=""
    want=$(for deb in "$@"; do basename "$deb"; done | sort)
    if [[ -e $dir/.debs ]]; then
        have=$(cat "$dir/.debs")
    fi
    if [[ $want == "$have" && -e $dir/.manifest ]] && manifest "$dir" | cmp -s - "$dir/.manifest"; then
        log "$(basename "$dir"): already installed from the same packages"
        return
    fi
    log "$(basename "$dir"): unpacking $# package(s)"
    rm -rf "$dir"
    mkdir -p "$dir/root"
    local deb
    for deb in "$@"; do
        dpkg-deb -x "$deb" "$dir/root"
    done
    fix_symlinks "$dir/root"
    if ((patch)); then
        patch_root "$dir/root"
    fi
    write_wrapper "$dir" "$dir/root"
    printf '%s\n' "$want" >"$dir/.debs"
    manifest "$dir" >"$dir/.manifest"
}

# manifest DIR: what DIR holds (names, sizes, link targets, the wrapper's
# text), to notice a root that was changed or half removed since it was
# installed.
manifest() {
    (cd "$1" && { find bin root -printf '%p %s %l\n' && sha256sum bin/git; } | LC_ALL=C sort | sha256sum)
}

# --- verification ------------------------------------------------------------

# verify VERSION BIN_DIR: the git first on PATH from BIN_DIR is VERSION, its
# subcommands are its own, and http-backend, remote-https, credential helpers
# and config scopes work. Runs from an empty environment, like the tests.
verify() {
    local version=$1 bin=$2 tmp out exec
    tmp=$(mktemp -d)
    mkdir -p "$tmp/home"
    : >"$tmp/home/.gitconfig"
    g() {
        env -i PATH="$bin:/usr/local/bin:/usr/bin:/bin" HOME="$tmp/home" LC_ALL=C \
            GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 git "$@"
    }
    out=$(g --version)
    [[ $out == "git version $version" ]] || die "$bin/git --version says '$out', want $version"
    # Subcommands run through the exec path (aliases through PATH) must be
    # the same version.
    out=$(g -c alias.v='!git --version' v)
    [[ $out == "git version $version" ]] || die "$bin: git run by git says '$out'"
    exec=$(g --exec-path)
    for sub in git-remote-https git-http-backend git-upload-pack; do
        [[ -x $exec/$sub ]] || die "$bin: $exec/$sub missing"
    done
    # http-backend serves refs, spawning upload-pack.
    g init -q --bare "$tmp/r.git"
    out=$(env -i PATH="$bin:/usr/bin:/bin" GIT_PROJECT_ROOT="$tmp" GIT_HTTP_EXPORT_ALL=1 \
        REQUEST_METHOD=GET PATH_INFO=/r.git/info/refs QUERY_STRING=service=git-upload-pack \
        GATEWAY_INTERFACE=CGI/1.1 git http-backend 2>&1 | tr -d '\0') || die "$bin: http-backend failed: $out"
    grep -q 'application/x-git-upload-pack-advertisement' <<<"$out" ||
        die "$bin: http-backend answered: $out"
    # remote-https loads (libcurl) and fails only on the connection.
    out=$(g ls-remote https://127.0.0.1:9/r.git 2>&1) && die "$bin: ls-remote to port 9 worked?"
    grep -qi 'unable to access\|Failed to connect\|Could not connect' <<<"$out" ||
        die "$bin: git-remote-https broken: $out"
    # A credential helper, and credential-store from the same git.
    out=$(printf 'protocol=https\nhost=h.example\n\n' |
        g -c credential.helper='!f() { echo username=u; echo password=p; }; f' credential fill)
    grep -qx 'password=p' <<<"$out" || die "$bin: credential fill with a helper: $out"
    printf 'protocol=https\nhost=s.example\nusername=su\npassword=sp\n\n' |
        g -c credential.helper="store --file=$tmp/creds" credential approve
    out=$(printf 'protocol=https\nhost=s.example\n\n' |
        g -c credential.helper="store --file=$tmp/creds" credential fill)
    grep -qx 'password=sp' <<<"$out" || die "$bin: credential-store: $out"
    # Config scopes and origins.
    g config --global t.k v
    out=$(g config --list --show-origin --show-scope -z | tr '\0' '\n')
    grep -q "^global" <<<"$out" || die "$bin: config --show-scope: $out"
    rm -rf "$tmp"
}

# --- the matrix --------------------------------------------------------------

mkdir -p "$PREFIX" "$CACHE"
started=$(date +%s)
lines=()

for suite in bullseye bookworm sid; do
    apt_setup "$suite"
    debver=$(candidate "$suite" git)
    version=$(upstream "$debver")
    case $suite in
    bullseye) [[ $version == 2.30.* ]] || die "bullseye's git is $version, expected 2.30.x" ;;
    bookworm) [[ $version == 2.39.* ]] || die "bookworm's git is $version, expected 2.39.x" ;;
    esac
    if [[ $suite == sid ]]; then
        # git with everything it needs to run from an empty root, minus perl
        # and the manual (only Perl scripts like send-email use perl).
        mapfile -t pkgs < <(apt-get "${APT_OPTS[@]}" -s install --no-install-recommends git |
            awk '$1 == "Inst" { gsub(/[()]/, "", $3); print $2 "=" $3 }' |
            grep -Ev '^(perl|perl-base|perl-modules-[^=]*|libperl[^=]*|liberror-perl|git-man)=')
        printf '%s\n' "${pkgs[@]}" | grep -q '^libc6=' || die "sid: libc6 not in git's closure"
        patch=1
    else
        pkgs=("git=$debver")
        patch=0
    fi
    mapfile -t debs < <(fetch "$suite" "${pkgs[@]}")
    ((${#debs[@]} == ${#pkgs[@]})) || die "$suite: got ${#debs[@]} of ${#pkgs[@]} packages"
    install_debian "$PREFIX/$version" "$patch" "${debs[@]}"
    verify "$version" "$PREFIX/$version/bin"
    log "$suite: git $version OK"
    lines+=("$version $PREFIX/$version/bin")
done

# This machine's own newest git.
[[ -x $LOCAL_GIT ]] || die "$LOCAL_GIT missing"
out=$("$LOCAL_GIT" --version)
version=${out#git version }
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "$LOCAL_GIT --version says '$out'"
for line in "${lines[@]}"; do
    [[ ${line%% *} != "$version" ]] || die "$LOCAL_GIT is $version, the same version as a Debian git above"
done
mkdir -p "$PREFIX/$version/bin"
ln -sfn "$LOCAL_GIT" "$PREFIX/$version/bin/git"
verify "$version" "$PREFIX/$version/bin"
log "local: git $version OK"
lines+=("$version $PREFIX/$version/bin")

printf '%s\n' "${lines[@]}" | sort -V -u >"$PREFIX/list.new"
mv "$PREFIX/list.new" "$PREFIX/list"
log "done in $(($(date +%s) - started))s; matrix in $PREFIX/list"
cat "$PREFIX/list"
