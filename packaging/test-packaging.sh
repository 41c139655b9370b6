#!/usr/bin/env bash
# Checks what a platform engineer relies on, as far as this machine allows (no docker):
#
# - the .deb builds, holds the files it should, and its binary runs from an unpacked root:
#   --version carries the commit, `get` answers the served origin, and git fills a
#   credential through it;
# - the man page renders without warnings, and the bash completion loads and completes;
# - the binary is static;
# - the Dockerfile snippet's commands configure git so that git asks the helper;
# - every docs/examples/*.gitlab-ci.yml parses, and each job's shell lines pass `bash -n`;
#   so do the ```yaml blocks of README.md and docs/*.md;
# - every example job, run with the packaged binary against a local HTTPS git server that
#   checks tokens as GitLab does, does what it is for (packaging/test-examples.py);
# - the CI/CD Catalog component templates/git-push.yml parses as GitLab reads it, and a job
#   that extends it pushes through the packaged binary in each GitLab Runner mode, with each
#   input that changes what it does (packaging/test-component.py);
# - packaging/dist.sh names, copies and checksums the release's files (both static binaries
#   and both .debs), and this project's .gitlab-ci.yml runs scripts that exist, with valid
#   shell, links in its release exactly those files, and uploads them with the token off
#   curl's command line (packaging/test-pipeline.py, against a local package registry);
# - the APKBUILD passes `sh -n`, and the RPM spec parses (rpmspec, where installed).
#
#   packaging/test-packaging.sh
#
# Needs cargo-deb, dpkg-deb, file, man (man-db) or groff, python3 with PyYAML, git; .ci/run
# installs them. Safe to run again: it rebuilds what changed and works in a temp directory.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n--> %s\n' "$*"; }
fail() { printf 'test-packaging: FAILED: %s\n' "$*" >&2; exit 1; }

name=git-credential-gitlab-ci
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "build the .deb (and the static binary it packages)"
deb=$(packaging/build-deb.sh | tail -n1)
echo "$deb"

step "the package's contents"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$deb" | tee "$work/contents"
awk '{ print $NF }' "$work/contents" >"$work/paths"
for path in \
    ./usr/bin/$name \
    ./usr/share/man/man1/$name.1.gz \
    ./usr/share/man/man1/$name-status.1.gz \
    ./usr/share/bash-completion/completions/$name \
    ./usr/share/zsh/vendor-completions/_$name \
    ./usr/share/fish/vendor_completions.d/$name.fish \
    ./usr/share/doc/$name/README.md \
    ./usr/share/doc/$name/SECURITY.md \
    ./usr/share/doc/$name/copyright \
    ./usr/share/doc/$name/docs/troubleshooting.md \
    ./usr/share/doc/$name/docs/examples/push-tag.gitlab-ci.yml; do
    grep -Fqx "$path" "$work/paths" || fail "$path is not in the package"
done
grep -q "^-rwxr-xr-x .* \./usr/bin/$name\$" "$work/contents" || fail "the binary is not mode 0755"
dpkg-deb --field "$deb" Version | grep -q "^$version" || fail "the package version is not $version"

step "unpack into a temp root and run its binary"
root="$work/root"
dpkg-deb -x "$deb" "$root"
bin="$root/usr/bin/$name"
got=$("$bin" --version)
echo "$got"
if commit=$(git rev-parse --short HEAD 2>/dev/null); then
    want="$name $version ($commit)"
    [ "$got" = "$want" ] || fail "--version says '$got', expected '$want'"
else
    [[ "$got" == "$name $version ("*")" ]] || fail "--version says '$got'"
    commit=${got##*(}
    commit=${commit%)}
fi

# The job's environment and nothing else: no HOME config, no daemon.
job_env=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work/home"
    XDG_RUNTIME_DIR="$work/run" XDG_CONFIG_HOME="$work/home/.config"
    GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    CI_SERVER_URL=https://gitlab.example.com:8443/gitlab CI_PROJECT_PATH=group/project
    CI_JOB_TOKEN=glcbt-packaging-test-0123456789)
mkdir -p "$work/home" "$work/run" && chmod 700 "$work/run"
answer=$(printf 'protocol=https\nhost=gitlab.example.com:8443\n' | "${job_env[@]}" "$bin" get)
want=$'username=gitlab-ci-token\npassword=glcbt-packaging-test-0123456789'
[ "$answer" = "$want" ] || fail "get answered '$answer'"
echo "get: answers the served origin"
refused=$(printf 'protocol=https\nhost=gitlab.example.com\n' | "${job_env[@]}" "$bin" get)
[ -z "$refused" ] || fail "get answered another port: '$refused'"
echo "get: silent for another port"
# git itself, with the helper by absolute path as configure writes it.
filled=$(printf 'url=https://gitlab.example.com:8443/gitlab/group/project.git\n' |
    "${job_env[@]}" git -c "credential.https://gitlab.example.com:8443.helper=" \
        -c "credential.https://gitlab.example.com:8443.helper=$bin" credential fill)
grep -qx 'password=glcbt-packaging-test-0123456789' <<<"$filled" || fail "git credential fill got: $filled"
echo "git credential fill: answered through the packaged binary"

step "the man pages render"
for page in "$root"/usr/share/man/man1/*.1.gz; do
    warnings=$(zcat "$page" | groff -man -Tutf8 -ww -z 2>&1)
    [ -z "$warnings" ] || fail "groff warns about $page: $warnings"
done
rendered=$(MANWIDTH=80 man -l "$root/usr/share/man/man1/$name.1.gz" 2>&1)
for section in NAME SYNOPSIS OPTIONS SUBCOMMANDS ENVIRONMENT FILES "EXIT STATUS" VERSION; do
    grep -q "^$section" <<<"$rendered" || fail "the man page has no $section section"
done
grep -q -- "--token-file" <<<"$rendered" || fail "the man page does not document --token-file"
grep -q "$commit" <<<"$rendered" || fail "the man page does not carry the commit"
pages=("$root"/usr/share/man/man1/*.1.gz)
echo "${#pages[@]} pages, no warnings"

step "the binary is static"
kind=$(file -b "$bin")
echo "$kind"
[[ "$kind" == *static* ]] || fail "the packaged binary is not static"
linkage=$(ldd "$bin" 2>&1 || true)
[[ "$linkage" == *"not a dynamic executable"* || "$linkage" == *"statically linked"* ]] ||
    fail "ldd lists libraries: $linkage"

step "the completions load"
completion="$root/usr/share/bash-completion/completions/$name"
bash -c "source '$completion' && complete -p $name"
# Complete "git-credential-gitlab-ci sta<TAB>" with the registered function.
completed=$(bash -c "source '$completion'
    fn=\$(complete -p $name | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')
    COMP_WORDS=($name sta); COMP_CWORD=1; COMP_LINE='$name sta'; COMP_POINT=\${#COMP_LINE}
    \"\$fn\" $name sta $name; echo \"\${COMPREPLY[*]}\"")
[ "$completed" = "status" ] || fail "'$name sta<TAB>' completed to '$completed'"
echo "bash: '$name sta<TAB>' -> $completed"
if command -v zsh >/dev/null; then zsh -n "$root/usr/share/zsh/vendor-completions/_$name"; fi
if command -v fish >/dev/null; then fish --no-execute "$root/usr/share/fish/vendor_completions.d/$name.fish"; fi

step "the Dockerfile snippet configures git"
# The snippet's ARG defaults and RUN commands, run here with the packaged binary on PATH and
# a temp file as the system config (COPY is what dpkg-deb -x did).
python3 - packaging/docker/Dockerfile >"$work/snippet.sh" <<'EOF'
import re, shlex, sys
lines = open(sys.argv[1]).read().split("\n")
start = next(i for i, l in enumerate(lines) if l.startswith("# --- snippet"))
end = next(i for i, l in enumerate(lines) if l.startswith("# --- end of snippet"))
body = "\n".join(l for l in lines[start + 1:end] if not l.startswith("#"))
body = body.replace("\\\n", " ")
runs = 0
for instr in body.split("\n"):
    word, _, rest = instr.strip().partition(" ")
    if word == "ARG":
        key, _, default = rest.partition("=")
        print(f"export {key}={shlex.quote(default)}")
    elif word == "RUN":
        print(rest)
        runs += 1
    elif word not in ("", "COPY"):
        sys.exit(f"unexpected instruction in the snippet: {word}")
if runs == 0:
    sys.exit("the snippet runs nothing")
EOF
cat "$work/snippet.sh"
PATH="$root/usr/bin:$PATH" GIT_CONFIG_SYSTEM="$work/gitconfig" GIT_CONFIG_GLOBAL=/dev/null \
    HOME="$work/home" bash -euo pipefail "$work/snippet.sh"
url=$(sed -n 's/^export GITLAB_URL=//p' "$work/snippet.sh" | tr -d "'")
filled=$(printf 'url=%s/group/project.git\n' "$url" |
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work/home" GIT_CONFIG_SYSTEM="$work/gitconfig" \
        GIT_CONFIG_GLOBAL=/dev/null XDG_RUNTIME_DIR="$work/run" CI_SERVER_URL="$url" \
        CI_JOB_TOKEN=glcbt-snippet-test-0123456789 git credential fill)
grep -qx 'password=glcbt-snippet-test-0123456789' <<<"$filled" || fail "after the snippet, git got: $filled"
echo "git asks the helper the snippet configured"

step "the example pipelines parse"
python3 - docs/examples/*.gitlab-ci.yml <<'EOF'
import subprocess, sys, yaml
KEYWORDS = {"default", "include", "stages", "variables", "workflow"}
for path in sys.argv[1:]:
    with open(path) as f:
        doc = yaml.safe_load(f)
    jobs = {k: v for k, v in doc.items() if k not in KEYWORDS and not k.startswith(".")}
    if not jobs:
        sys.exit(f"{path}: no job")
    for name, job in jobs.items():
        for key in ("image", "script"):
            if key not in job:
                sys.exit(f"{path}: job {name} has no {key}")
        for var, value in (job.get("variables") or {}).items():
            if not isinstance(value, str):
                sys.exit(f"{path}: {name}: variable {var} is not a string: {value!r}")
        for part in ("before_script", "script", "after_script"):
            lines = job.get(part) or []
            if not all(isinstance(l, str) for l in lines):
                sys.exit(f"{path}: {name}: {part} has a non-string entry")
            check = subprocess.run(["bash", "-n"], input="\n".join(lines), text=True,
                                   capture_output=True)
            if check.returncode != 0:
                sys.exit(f"{path}: {name}: {part} is not valid shell: {check.stderr}")
    print(f"{path}: {', '.join(jobs)}")
EOF
python3 - README.md docs/*.md <<'EOF'
import re, sys, yaml
# GitLab's YAML has one tag of its own: !reference [job, key].
class GitLabLoader(yaml.SafeLoader):
    pass
GitLabLoader.add_constructor("!reference", lambda loader, node: loader.construct_sequence(node))
for path in sys.argv[1:]:
    blocks = re.findall(r"^```yaml\n(.*?)^```", open(path).read(), re.M | re.S)
    for i, block in enumerate(blocks, 1):
        try:
            yaml.load(block, Loader=GitLabLoader)
        except yaml.YAMLError as e:
            sys.exit(f"{path}: yaml block {i} does not parse: {e}")
    print(f"{path}: {len(blocks)} yaml blocks parse")
EOF

step "the example jobs, run against a local GitLab stand-in with the packaged binary"
python3 packaging/test-examples.py "$bin"

step "the CI/CD Catalog component, run in each runner mode with the packaged binary"
python3 packaging/test-component.py "$bin"

step "the release's files, as .gitlab-ci.yml makes them (packaging/dist.sh)"
# aarch64 too: build-static.sh cross-links it with rust-lld, and build-deb.sh packages it.
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    DIST="$work/dist" packaging/dist.sh static "$target"
    DIST="$work/dist" packaging/dist.sh deb "$target"
done
DIST="$work/dist" packaging/dist.sh sums

step "this project's .gitlab-ci.yml, and its release steps run on those files"
python3 packaging/test-pipeline.py "$work/dist"

step "the Alpine and RPM recipes"
sh -n packaging/alpine/APKBUILD
# aarch64 and x86_64 alike: the recipe builds from source on the machine it runs on.
(. packaging/alpine/APKBUILD && [ "$arch" = all ]) || fail "the APKBUILD does not build for every architecture"
echo "APKBUILD: sh -n passes; arch=all (x86_64 and aarch64)"
if command -v rpmspec >/dev/null; then
    for rpm_target in x86_64-linux aarch64-linux; do
        rpmspec --target "$rpm_target" -P packaging/rpm/$name.spec >/dev/null
    done
    ! grep -Eq '^(Exclusive|Exclude)Arch:|^BuildArch:' packaging/rpm/$name.spec ||
        fail "the RPM spec limits its architectures"
    echo "RPM spec: rpmspec parses it for x86_64 and aarch64"
else
    echo "RPM spec: rpmspec is not installed, not checked"
fi

printf '\ntest-packaging: all checks passed (%s)\n' "$deb"
