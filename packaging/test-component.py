#!/usr/bin/env python3
"""Checks the CI/CD Catalog component templates/git-push.yml, and runs it.

    packaging/test-component.py BINARY

First the component as GitLab reads it: a `spec:` header and the body, two YAML documents;
every input declared with a known type, a default that passes its own type, options and
regex; every `$[[ inputs.NAME ]]` in the body declared, and every declared input used; and
inputs a pipeline may not give (an unknown name, `$RELEASE_TOKEN` for a token's name, a value
outside the options, a string for a boolean) refused as GitLab would refuse them.

Then pipelines that include it, each job run as GitLab Runner runs it: the runner's
get_sources for a runner mode (FF_GIT_URLS_WITHOUT_TOKENS off, with the token in the remote
URL as older runners set it or in an insteadOf rule as 18.6 and later write it; on, with the
19.2+ seed file in GIT_CONFIG_GLOBAL, the reset, the inline helper echoing CI_JOB_TOKEN and
the user name; GIT_STRATEGY none), then the job's before_script and script in one shell (bash,
or sh, or bash -x as CI_DEBUG_TRACE would run it) and after_script in another, against
packaging/test-examples.py's HTTPS GitLab stand-in. After each job it checks on the server
that the tag arrived, pushed with the expected credential, that no token is left in any file
of the job's builds directory or in its log (the trace included), and that no daemon is left.
The install input is run too: the binary downloaded from the stand-in's package registry
(with the job token as Basic auth, never on curl's command line), and refused when its
SHA-256 is not the one given.
"""

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("examples", os.path.join(HERE, "test-examples.py"))
ex = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ex)

COMPONENT = "templates/git-push.yml"
HIDDEN = ".git-credential-gitlab-ci"
INTERPOLATION = re.compile(r"\$\[\[(.*?)\]\]")
INPUT_KEYS = {"default", "description", "type", "options", "regex"}
TYPES = {"string": str, "boolean": bool, "number": (int, float)}
RUNNER_HELPER = '!f(){ if [ "$1" = "get" ] ; then echo "password=${CI_JOB_TOKEN}" ; fi ; } ; f'
PACKAGE = "/api/v4/projects/7/packages/generic/git-credential-gitlab-ci/0.1.0/" \
    "git-credential-gitlab-ci-0.1.0-x86_64-unknown-linux-musl"
TAG = "v9.9.9"


class Refused(Exception):
    """What GitLab would refuse when it creates the pipeline."""


def strings(node):
    """Every string in a YAML tree, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def validate(name, decl, value):
    kind = decl.get("type", "string")
    if not isinstance(value, TYPES[kind]) or (kind == "number" and isinstance(value, bool)):
        raise Refused("input %s: %r is not a %s" % (name, value, kind))
    if "options" in decl and value not in decl["options"]:
        raise Refused("input %s: %r is not one of %s" % (name, value, decl["options"]))
    # GitLab matches the regex (RE2) anywhere in the value: ours are anchored.
    if "regex" in decl and not re.search(decl["regex"], value):
        raise Refused("input %s: %r does not match %s" % (name, value, decl["regex"]))


def load(path):
    """The component's inputs and body; fails on anything GitLab would not take."""
    text = open(path).read()
    docs = list(yaml.safe_load_all(text))
    if len(docs) != 2 or not re.search(r"^---$", text, re.M):
        sys.exit("%s: not a spec header and a body separated by ---" % path)
    header, body = docs
    if set(header) != {"spec"} or not set(header["spec"]) <= {"inputs", "description"}:
        sys.exit("%s: the header holds more than spec:inputs: %s" % (path, header))
    inputs = header["spec"]["inputs"]
    for name, decl in inputs.items():
        if not set(decl) <= INPUT_KEYS or decl.get("type", "string") not in TYPES:
            sys.exit("%s: input %s: unknown keys or type: %s" % (path, name, decl))
        if not decl.get("description"):
            sys.exit("%s: input %s has no description" % (path, name))
        if "regex" in decl and decl.get("type", "string") != "string":
            sys.exit("%s: input %s: regex on a %s" % (path, name, decl["type"]))
        if "default" not in decl:
            sys.exit("%s: input %s has no default: every input is optional" % (path, name))
        try:
            validate(name, decl, decl["default"])
        except Refused as e:
            sys.exit("%s: the default fails: %s" % (path, e))
    if INTERPOLATION.search(yaml.safe_dump(header)):
        sys.exit("%s: the header interpolates" % path)
    used = set()
    for s in strings(body):
        for expr in INTERPOLATION.findall(s):
            m = re.fullmatch(r"\s*inputs\.([a-z][a-z0-9_]*)\s*", expr)
            if not m:
                sys.exit("%s: $[[%s]] is not a plain inputs.NAME" % (path, expr))
            used.add(m.group(1))
    if used - set(inputs):
        sys.exit("%s: the body uses undeclared inputs: %s" % (path, sorted(used - set(inputs))))
    if set(inputs) - used:
        sys.exit("%s: declared but never used: %s" % (path, sorted(set(inputs) - used)))
    if set(body) != {HIDDEN}:
        sys.exit("%s: the body should hold only the hidden job %s, nothing global: %s"
                 % (path, HIDDEN, sorted(body)))
    return inputs, body


def interpolate(inputs, body, given):
    """The body with `given` inputs, as GitLab interpolates an include: component: inputs:."""
    unknown = set(given) - set(inputs)
    if unknown:
        raise Refused("unknown inputs: %s" % sorted(unknown))
    values = {}
    for name, decl in inputs.items():
        value = given.get(name, decl["default"])
        validate(name, decl, value)
        values[name] = str(value).lower() if isinstance(value, bool) else str(value)

    def walk(node):
        if isinstance(node, str):
            return INTERPOLATION.sub(lambda m: values[m.group(1).strip()[len("inputs."):]], node)
        if isinstance(node, dict):
            return {walk(k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(body)


def merge(base, over):
    """extends: hashes merge key by key, anything else is replaced by the extending job's."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def pipeline(inputs, body, text):
    """A consumer's .gitlab-ci.yml: its include: component: line resolved against the
    component, and its jobs' extends: resolved."""
    doc = yaml.safe_load(text)
    (include,) = doc.pop("include")
    if not re.fullmatch(r"\$CI_SERVER_FQDN/[^@]+/git-push@[0-9.]+", include["component"]):
        raise Refused("not an include of git-push: %s" % include["component"])
    jobs = dict(interpolate(inputs, body, include.get("inputs") or {}))
    for name, job in doc.items():
        if "extends" in job:
            job = merge(jobs[job.pop("extends")], job)
        jobs[name] = job
    return {k: v for k, v in jobs.items() if not k.startswith(".")}


def syntax(jobs):
    """Every script part of every job passes bash -n and (the component's, POSIX) sh -n."""
    for name, job in jobs.items():
        for part in ("before_script", "script", "after_script"):
            text = "\n".join(job.get(part) or [])
            for shell in ("bash", "sh"):
                r = subprocess.run([shell, "-n"], input=text, text=True, capture_output=True)
                if r.returncode:
                    sys.exit("%s: %s: %s -n: %s" % (name, part, shell, r.stderr))


def refusals(inputs, body):
    for given, why in [
        ({"token_env": "$RELEASE_TOKEN"}, "a token variable's value, not its name"),
        ({"token_env": "RELEASE TOKEN"}, "a name with a space"),
        ({"username": "x'; echo pwned; '"}, "a quote in the user name"),
        ({"server": "https://gitlab.example.com/$(id)"}, "a command substitution in the URL"),
        ({"binary_url": "http://example.com/bin"}, "a download over plain http"),
        ({"binary_sha256": "abc"}, "a short checksum"),
        ({"install": "sometimes"}, "an install mode that is not an option"),
        ({"daemon": "yes"}, "a string for a boolean"),
        ({"token": "glpat-x"}, "an unknown input"),
    ]:
        try:
            interpolate(inputs, body, given)
        except Refused as e:
            print("    refused, %s: %s" % (why, e))
            continue
        sys.exit("the component accepts %s: %s" % (why, given))


def get_sources(mode, url, project_dir, env):
    """GitLab Runner's get_sources for a mode, as tests/support/runner.rs replays it, as a
    script; and the variables the runner exports in every later stage."""
    tmp = project_dir + ".tmp"
    ext = tmp + "/.gitlab-runner.ext.conf"
    seed = tmp + "/.glr.gconf"
    remote = url + "/group/project.git"
    with_token = url.replace("//", "//gitlab-ci-token:${CI_JOB_TOKEN}@") + "/group/project.git"
    flag_on = mode.startswith("flag-on")
    lines = ["set -e", 'mkdir -p "%s"' % tmp]
    exports = {}
    if flag_on:
        exports["GIT_CONFIG_GLOBAL"] = seed
        lines += [
            'export GIT_CONFIG_GLOBAL="%s"' % seed,
            'rm -f "%s"' % seed,
            'if [ -r "$HOME/.gitconfig" ]; then git config --file "%s" --add include.path '
            '"$HOME/.gitconfig"; fi' % seed,
            'git config --file "%s" --add include.path "%s"' % (seed, ext),
            'rm -f "%s"' % ext,
            'git config -f "%s" --replace-all "credential.%s.helper" ""' % (ext, url),
            "git config -f \"%s\" --add \"credential.%s.helper\" '%s'" % (ext, url, RUNNER_HELPER),
            'git config -f "%s" "credential.%s.username" gitlab-ci-token' % (ext, url),
        ]
    if mode.endswith("none"):
        pass
    elif mode == "flag-off-url":
        # Older runners: the token in remote.origin.url itself.
        lines.append('git clone --quiet "%s" "%s"' % (with_token, project_dir))
    else:
        if mode == "flag-off-insteadof":
            lines.append('git config --file "%s" --replace-all "url.%s.insteadOf" "%s"'
                         % (ext, with_token, remote))
        lines += [
            'git init --quiet "%s"' % project_dir,
            'cd "%s"' % project_dir,
            'git config include.path "%s"' % ext,
            'git remote add origin "%s"' % remote,
            "git fetch --quiet origin '+refs/heads/*:refs/remotes/origin/*'",
            "git checkout --quiet -f origin/main",
        ]
    if flag_on:
        # Runner 19.3 ends get_sources with an erase that carries no password.
        lines.append("printf 'url=%s\\nusername=gitlab-ci-token\\n' | git credential reject"
                     " || true" % url)
    r = subprocess.run(["bash", "-c", "\n".join(lines)], cwd=os.path.dirname(project_dir),
                       env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit("get_sources (%s) failed: %s" % (mode, r.stderr))
    return exports


CHECKOUT_SCRIPT = """
  script:
    - git tag --annotate --message "Release %(tag)s" %(tag)s "$CI_COMMIT_SHA"
    - git push origin "refs/tags/%(tag)s"
""" % {"tag": TAG}
FRESH_CLONE_SCRIPT = """
  script:
    - git clone --quiet --no-checkout "$CI_SERVER_URL/$CI_PROJECT_PATH.git" project
    - cd project
    - git remote -v
    - git tag --annotate --message "Release %(tag)s" %(tag)s "$CI_COMMIT_SHA"
    - git push origin "refs/tags/%(tag)s"
""" % {"tag": TAG}
DROPPED = ('test -z "${CI_JOB_TOKEN:-}${CI_REPOSITORY_URL:-}${CI_REGISTRY_PASSWORD:-}'
           '${CI_DEPENDENCY_PROXY_PASSWORD:-}" || { echo "a job token variable is still set";'
           ' exit 1; }')


def consumer(inputs_yaml, script, variables=""):
    return """
include:
  - component: $CI_SERVER_FQDN/group/git-credential-gitlab-ci/git-push@1.0.0
%s
release-tag:
  extends: .git-credential-gitlab-ci
  variables:
    GIT_COMMITTER_NAME: release-bot
    GIT_COMMITTER_EMAIL: release-bot@example.com
%s%s""" % (("    inputs:\n" + inputs_yaml) if inputs_yaml else "", variables, script)


def cases(sha256):
    install = ("      binary_url: $CI_SERVER_URL%s\n" % PACKAGE).replace("$CI_SERVER_URL", "%(url)s")
    return [
        # (name, runner mode, image has the helper, consumer YAML, token kind, shell, expect)
        ("defaults, flag off: the token in remote.origin.url", "flag-off-url", True,
         consumer("", CHECKOUT_SCRIPT), "job", "bash", "push"),
        ("defaults, flag off: the token in the runner's insteadOf rule", "flag-off-insteadof",
         True, consumer("", CHECKOUT_SCRIPT), "job", "bash", "push"),
        ("defaults, flag on: the runner's seed file, reset and helper", "flag-on", True,
         consumer("", CHECKOUT_SCRIPT), "job", "bash", "push"),
        ("defaults, flag on, GIT_STRATEGY none", "flag-on-none", True,
         consumer("", FRESH_CLONE_SCRIPT), "job", "bash", "push"),
        ("defaults, flag off, GIT_STRATEGY none", "flag-off-none", True,
         consumer("", FRESH_CLONE_SCRIPT), "job", "bash", "push"),
        ("project access token, flag on: ours answers, not the runner's helper", "flag-on",
         True, consumer("      token_env: RELEASE_TOKEN\n", CHECKOUT_SCRIPT), "release",
         "bash", "push"),
        ("project access token with the daemon, flag off: RELEASE_TOKEN dropped",
         "flag-off-insteadof", True,
         consumer("      token_env: RELEASE_TOKEN\n      daemon: true\n",
                  CHECKOUT_SCRIPT.replace("  script:\n", "  script:\n    - "
                                          "test -z \"${RELEASE_TOKEN:-}\"\n")),
         "release", "bash", "push"),
        ("job token with the daemon, flag on, GIT_STRATEGY none: every copy dropped",
         "flag-on-none", True,
         consumer("      daemon: true\n",
                  FRESH_CLONE_SCRIPT.replace("  script:\n", "  script:\n    - '%s'\n"
                                             % DROPPED.replace("'", "''"))),
         "job", "bash", "push"),
        ("deploy token: its user name over the runner's gitlab-ci-token, flag on", "flag-on",
         True, consumer("      token_env: DEPLOY_TOKEN\n"
                        "      username: gitlab+deploy-token-42\n", CHECKOUT_SCRIPT),
         "deploy", "bash", "push"),
        ("scrub off, flag on: nothing to scrub, still ours", "flag-on", True,
         consumer("      scrub: false\n      token_env: RELEASE_TOKEN\n", CHECKOUT_SCRIPT),
         "release", "bash", "push"),
        ("scrub off, flag off: the runner's token stays (why scrub defaults to true)",
         "flag-off-insteadof", True, consumer("      scrub: false\n", CHECKOUT_SCRIPT), "job",
         "bash", "leak"),
        ("install from the release, image without the helper, flag on, in sh", "flag-on",
         False, consumer(install + "      binary_sha256: \"%s\"\n" % sha256, CHECKOUT_SCRIPT),
         "job", "sh", "push+download"),
        ("install always, with the daemon, flag off, traced: downloaded though the image has one",
         "flag-off-url", True,
         consumer(install + "      binary_sha256: \"%s\"\n      install: always\n"
                  "      daemon: true\n" % sha256, CHECKOUT_SCRIPT),
         "job", "bash -x", "push+download"),
        ("install with a SHA-256 the binary does not have", "flag-on", False,
         consumer(install + "      binary_sha256: \"%s\"\n" % ("0" * 64), CHECKOUT_SCRIPT),
         "job", "bash", "fail:does not have the SHA-256"),
        ("install never, image without the helper", "flag-on", False,
         consumer("      install: never\n", CHECKOUT_SCRIPT), "job", "bash",
         "fail:is not on PATH"),
        ("server from a variable the job does not have: configure fails the job", "flag-on",
         True, consumer("      server: $NO_SUCH_VARIABLE\n", CHECKOUT_SCRIPT), "job", "bash",
         "fail:configure --env failed"),
        ("install auto, no helper in the image and no binary_url", "flag-on", False,
         consumer("", CHECKOUT_SCRIPT), "job", "bash", "fail:set the inputs binary_url"),
    ]


def main():
    binary = os.path.abspath(sys.argv[1])
    inputs, body = load(COMPONENT)
    print("%s: a spec header with %d inputs (%s), a body with %s; every input declared and "
          "used" % (COMPONENT, len(inputs), ", ".join(inputs), ", ".join(body)))
    refusals(inputs, body)
    top = tempfile.mkdtemp(prefix="component.")
    try:
        return run_all(binary, inputs, body, top)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def run_all(binary, inputs, body, top):
    hook_log = os.path.join(top, "push-options.log")
    open(hook_log, "w").close()
    server, url, cert = ex.start_gitlab(top)
    project = ex.bare_repo(os.path.join(top, "server"), "group/project",
                           {"VERSION": ("1.4.2\n", 0o644)}, hook_log)
    sha = ex.rev(project, "main")
    data = open(binary, "rb").read()
    ex.GitLab.packages[PACKAGE] = data
    sha256 = hashlib.sha256(data).hexdigest()

    with_helper = ex.make_image(top, binary, cert, url, "image")
    # No helper: what the component's install input is for.
    without = ex.make_image(top, binary, cert, url, "bare-image", helper=False)
    # In both, curl is a stand-in that logs its command line and runs the real one.
    argv_log = os.path.join(top, "curl-argv.log")
    real_curl = shutil.which("curl")
    for image in (with_helper[0], without[0]):
        with open(os.path.join(image, "bin", "curl"), "w") as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$*" >> %s\nexec %s "$@"\n'
                    % (argv_log, real_curl))
        os.chmod(os.path.join(image, "bin", "curl"), 0o755)

    failures = []
    for n, (name, mode, helper, text, kind, shell, expect) in enumerate(cases(sha256)):
        print("--- %s" % name, flush=True)
        jobs = pipeline(inputs, body, text % {"url": url})
        syntax(jobs)
        (job,) = jobs.values()
        _, path, system_config = with_helper if helper else without
        home = tempfile.mkdtemp(dir=top, prefix="home.")
        builds = tempfile.mkdtemp(dir=top, prefix="builds.")
        runtime = tempfile.mkdtemp(dir=top, prefix="run.")
        project_dir = os.path.join(builds, "group", "project")
        os.makedirs(os.path.dirname(project_dir))
        env = ex.job_env(url, sha, path, system_config, home, builds, runtime, "/nonexistent")
        env.update({
            "CI_PROJECT_DIR": project_dir, "CI_JOB_ID": str(1000 + n),
            "CI_REGISTRY_PASSWORD": ex.JOB_TOKEN, "CI_DEPENDENCY_PROXY_PASSWORD": ex.JOB_TOKEN,
            "CURL_CA_BUNDLE": cert,
        })
        ex.reset_project(project, hook_log)
        env.update(get_sources(mode, url, project_dir, env))
        os.makedirs(project_dir, exist_ok=True)
        for key, value in (job.get("variables") or {}).items():
            env[key] = ex.expand(str(value), env)
        open(argv_log, "w").close()
        before = len(ex.GitLab.log)
        script = os.path.join(top, "script.sh")
        with open(script, "w") as f:
            f.write(("set -eo pipefail\n" if shell.startswith("bash") else "set -e\n")
                    + "\n".join(job["before_script"] + job["script"]) + "\n")
        # "bash -x" is CI_DEBUG_TRACE: the log it makes must not show a token either.
        result = subprocess.run(shell.split() + [script], cwd=project_dir, env=env,
                                capture_output=True, text=True)
        with open(script, "w") as f:
            f.write("\n".join(job.get("after_script") or []) + "\n")
        subprocess.run(shell.split() + [script], cwd=project_dir, env=env)
        output = result.stdout + result.stderr
        log = ex.GitLab.log[before:]
        pushes = [e for e in log if e[1].endswith("/git-receive-pack")]
        downloads = [e for e in log if e[1] == PACKAGE]
        problems = []
        leaked = ex.leaks(builds)
        if expect.startswith("fail:"):
            if result.returncode == 0:
                problems.append("the job passed")
            if expect[5:] not in output:
                problems.append("the job did not say '%s'" % expect[5:])
            if pushes:
                problems.append("something was pushed")
            if os.path.exists(project_dir + ".tmp/git-credential-gitlab-ci/bin/"
                              "git-credential-gitlab-ci"):
                problems.append("a binary was installed")
        else:
            if result.returncode:
                problems.append("the job failed (exit %d)" % result.returncode)
            if not pushes or any(p[3] != kind for p in pushes):
                problems.append("not pushed with the %s token: %s" % (kind, pushes))
            if not ex.rev(project, "refs/tags/" + TAG):
                problems.append("the tag is not on the server")
        if expect == "leak":
            if not leaked:
                problems.append("with scrub off, the runner's token should still be there")
        else:
            problems += ["a token is written in %s" % f for f in leaked]
        if "download" in expect:
            if not downloads or any(d[2:] != ("gitlab-ci-token", "job") for d in downloads):
                problems.append("not downloaded with the job token: %s" % downloads)
            if not os.access(project_dir + ".tmp/git-credential-gitlab-ci/bin/"
                             "git-credential-gitlab-ci", os.X_OK):
                problems.append("the downloaded binary is not installed")
            argv = open(argv_log).read()
            if not argv:
                problems.append("curl did not run")
            if any(secret in argv for secret in ex.SECRETS):
                problems.append("a token is on curl's command line")
        for secret in ex.SECRETS:
            if secret in output:
                problems.append("the job log shows a token")
        if ex.sockets_left(runtime):
            problems.append("a daemon socket is left behind")
        if problems:
            print(output)
        for p in problems:
            failures.append("%s: %s" % (name, p))
            print("    FAILED: " + p, flush=True)
        if not problems:
            print("    ok: %s" % ("failed as it should" if expect.startswith("fail:") else
                  ", ".join("%s as %s (%s token)" % (e[1].split("/git-")[0].lstrip("/"),
                            e[2], e[3]) for e in pushes)
                  + (", token left by the runner in %s" % leaked[0] if expect == "leak" else "")
                  + (", binary downloaded as %s" % downloads[0][2] if downloads else "")),
                  flush=True)
    server.shutdown()
    if failures:
        print("\n%d component job(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    print("\nthe component sets every job up to push, in each runner mode")
    return 0


if __name__ == "__main__":
    sys.exit(main())
