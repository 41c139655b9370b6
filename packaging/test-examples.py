#!/usr/bin/env python3
"""Runs the jobs of docs/examples/*.gitlab-ci.yml against a local GitLab stand-in.

    packaging/test-examples.py BINARY

The stand-in is git's http-backend behind an HTTPS server on 127.0.0.1 that demands Basic
auth and accepts only the tokens a GitLab would: the job token with `gitlab-ci-token`, an
access token with any username, a deploy token with its own username. Each job's `script`
runs in bash as a runner would run it (errexit, one shell, `after_script` in a new one), with
the predefined variables a job gets, the job's `variables` expanded, and BINARY configured in
a system git config the way packaging/docker/Dockerfile configures it. Tools a job needs that
are not part of this project (kustomize, the project's own scripts) are small stand-ins.

After each job it checks what the job was for on the server (the tag, the commit, the push
options, which credential pushed) and that no token is left in any file of the job's
directory. `rules` are not evaluated: every job runs.
"""

import base64
import http.server
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import yaml

JOB_TOKEN = "glcbt-eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"
RELEASE_TOKEN = "glpat-ReleaseTokenForExamples01"
MANIFESTS_TOKEN = "glpat-ManifestsTokenForExamples2"
DEPLOY_USER = "gitlab+deploy-token-42"
DEPLOY_TOKEN = "gldt-DeployTokenForExamples0003"
SECRETS = [JOB_TOKEN, RELEASE_TOKEN, MANIFESTS_TOKEN, DEPLOY_TOKEN]


def run(*args, **kw):
    kw.setdefault("check", True)
    return subprocess.run(args, **kw)


def accepted(user, password):
    """What GitLab accepts, by token kind (GitLab's docs: ci/jobs/ci_job_token and security/tokens)."""
    if password == JOB_TOKEN:
        return user == "gitlab-ci-token"
    if password in (RELEASE_TOKEN, MANIFESTS_TOKEN):
        return user != ""
    if password == DEPLOY_TOKEN:
        return user == DEPLOY_USER
    return False


KINDS = {JOB_TOKEN: "job", RELEASE_TOKEN: "release", MANIFESTS_TOKEN: "manifests",
         DEPLOY_TOKEN: "deploy"}


class GitLab(http.server.BaseHTTPRequestHandler):
    root = None
    log = None  # (method, path, user, token kind) per authenticated request
    packages = {}  # the generic package registry: path -> file
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def auth(self):
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if accepted(user, password):
                return user, password
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="GitLab"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def reply(self, status, payload=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def handle_package(self, path):
        """The generic package registry: GET with Basic auth (as git's, any accepted token),
        PUT with the job token in a JOB-TOKEN header, as GitLab's API takes them."""
        if self.command == "PUT":
            body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            if self.headers.get("JOB-TOKEN", "") != JOB_TOKEN:
                return self.reply(401)
            with self.lock:
                self.packages[path] = body
                self.log.append((self.command, path, "JOB-TOKEN", "job"))
            return self.reply(201, b'{"message":"201 Created"}')
        who = self.auth()
        if who is None:
            return
        with self.lock:
            self.log.append((self.command, path, who[0], KINDS[who[1]]))
        if path not in self.packages:
            return self.reply(404)
        self.reply(200, self.packages[path])

    def handle_git(self):
        path, _, query = self.path.partition("?")
        if re.match(r"^/api/v4/projects/[^/]+/packages/generic/", path):
            return self.handle_package(path)
        who = self.auth()
        if who is None:
            return
        kind = KINDS[who[1]]
        with self.lock:
            self.log.append((self.command, path, who[0], kind))
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": who[0],
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        backend = os.path.join(run("git", "--exec-path", capture_output=True,
                                   text=True).stdout.strip(), "git-http-backend")
        out = subprocess.run([backend], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(": ")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = handle_git
    do_POST = handle_git
    do_PUT = handle_git


def bare_repo(root, path, files, hook_log):
    """A project on the server, with one commit holding `files`."""
    bare = os.path.join(root, path + ".git")
    run("git", "init", "--quiet", "--bare", "--initial-branch=main", bare)
    run("git", "-C", bare, "config", "receive.advertisePushOptions", "true")
    hook = os.path.join(bare, "hooks", "pre-receive")
    with open(hook, "w") as f:
        f.write('#!/bin/sh\ni=0\nwhile [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do\n'
                '  eval "echo %s \\"\\$GIT_PUSH_OPTION_$i\\"" >> %s\n  i=$((i + 1))\ndone\n'
                'cat >/dev/null\n' % (path, hook_log))
    os.chmod(hook, 0o755)
    work = tempfile.mkdtemp()
    for name, (text, mode) in files.items():
        full = os.path.join(work, name)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        os.chmod(full, mode)
    ident = ["-c", "user.name=seed", "-c", "user.email=seed@example.com"]
    run("git", "-C", work, "init", "--quiet", "--initial-branch=main")
    run("git", "-C", work, "add", ".")
    run("git", *ident, "-C", work, "commit", "--quiet", "-m", "Initial commit")
    run("git", "-C", work, "push", "--quiet", bare, "main")
    shutil.rmtree(work)
    return bare


def rev(bare, ref):
    out = run("git", "-C", bare, "rev-parse", "--verify", "--quiet", ref,
              capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def expand(value, env):
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), value)


def main():
    binary = os.path.abspath(sys.argv[1])
    examples = sorted(os.path.join("docs/examples", f) for f in os.listdir("docs/examples")
                      if f.endswith(".gitlab-ci.yml"))
    top = tempfile.mkdtemp(prefix="examples.")
    try:
        return run_all(binary, examples, top)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def start_gitlab(top):
    """The HTTPS stand-in on 127.0.0.1, serving the bare repositories under top/server.
    Returns the server, its URL and the CA certificate git and curl must trust."""
    cert, key = os.path.join(top, "cert.pem"), os.path.join(top, "key.pem")
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", key, "-out", cert, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    GitLab.root = os.path.join(top, "server")
    GitLab.log = []
    GitLab.packages = {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), GitLab)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "https://127.0.0.1:%d" % server.server_address[1], cert


def make_image(top, binary, cert, url, name="image", helper=True):
    """The runner image: git, the test CA, and (with helper) the helper on PATH, configured
    system-wide for the server as the Dockerfile does it. Returns its PATH and system config."""
    image = os.path.join(top, name)
    os.makedirs(os.path.join(image, "bin"))
    system_config = os.path.join(image, "gitconfig")
    path = os.path.join(image, "bin") + ":" + os.environ["PATH"]
    run("git", "config", "--file", system_config, "http.sslCAInfo", cert)
    if helper:
        os.symlink(binary, os.path.join(image, "bin", "git-credential-gitlab-ci"))
        run(binary, "configure", "--system", capture_output=True,
            env={"PATH": path, "GIT_CONFIG_SYSTEM": system_config, "HOME": top,
                 "GIT_CREDENTIAL_GITLAB_CI_URL": url})
    return image, path, system_config


def job_env(url, sha, path, system_config, home, builds, runtime, token_file):
    """The variables a job gets: GitLab's predefined ones and the examples' CI/CD variables."""
    return {
        "PATH": path, "HOME": home, "XDG_RUNTIME_DIR": runtime, "LANG": "C.UTF-8",
        "GIT_CONFIG_SYSTEM": system_config, "GIT_TERMINAL_PROMPT": "0",
        "CI": "true", "GITLAB_CI": "true",
        "CI_SERVER_URL": url, "CI_SERVER_PROTOCOL": "https",
        "CI_SERVER_HOST": "127.0.0.1", "CI_SERVER_PORT": url.rsplit(":", 1)[1],
        "CI_SERVER_FQDN": url.split("//")[1],
        "CI_PROJECT_PATH": "group/project", "CI_PROJECT_URL": url + "/group/project",
        "CI_PROJECT_DIR": builds, "CI_BUILDS_DIR": builds,
        "CI_REPOSITORY_URL": url.replace("//", "//gitlab-ci-token:%s@" % JOB_TOKEN)
        + "/group/project.git",
        "CI_JOB_TOKEN": JOB_TOKEN,
        "CI_COMMIT_SHA": sha, "CI_COMMIT_SHORT_SHA": sha[:8],
        "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_TAG": "v1.4.2", "CI_COMMIT_MESSAGE": "Initial commit",
        "CI_PIPELINE_IID": "42", "CI_PIPELINE_SOURCE": "schedule",
        "CI_REGISTRY_IMAGE": "registry.example.com/group/project",
        "RELEASE_TOKEN": RELEASE_TOKEN, "MANIFESTS_TOKEN": MANIFESTS_TOKEN,
        "DEPLOY_TOKEN_USERNAME": DEPLOY_USER, "DEPLOY_TOKEN": DEPLOY_TOKEN,
        "DEPLOY_TOKEN_FILE": token_file,
    }


def leaks(directory):
    """Every file under directory (symlinks aside) that holds one of the tokens."""
    found = []
    for dirpath, _, files in os.walk(directory):
        for fname in files:
            full = os.path.join(dirpath, fname)
            if os.path.islink(full):
                continue
            data = open(full, "rb").read()
            if any(secret.encode() in data for secret in SECRETS):
                found.append(full)
    return found


def sockets_left(runtime):
    return any(f.endswith(".sock") for _, _, fs in os.walk(runtime) for f in fs)


def reset_project(project, hook_log):
    """Each job starts from the same server state: no tags, no bot branches."""
    for ref in run("git", "-C", project, "for-each-ref", "--format=%(refname)",
                   "refs/tags", "refs/heads/bot", capture_output=True,
                   text=True).stdout.split():
        run("git", "-C", project, "update-ref", "-d", ref)
    open(hook_log, "w").close()


def run_all(binary, examples, top):
    root = os.path.join(top, "server")
    hook_log = os.path.join(top, "push-options.log")
    open(hook_log, "w").close()
    server, url, cert = start_gitlab(top)

    project = bare_repo(root, "group/project", {
        "VERSION": ("1.4.2\n", 0o644),
        "scripts/update-lockfile.sh": ("#!/bin/sh\ndate +%s%N > lockfile\n", 0o755),
        "lockfile": ("old\n", 0o644),
    }, hook_log)
    deployments = bare_repo(root, "platform/deployments", {
        "apps/my-service/overlays/production/kustomization.yaml":
            ("resources:\n- ../../base\n", 0o644),
    }, hook_log)
    sha = rev(project, "main")

    # kustomize is a stand-in.
    image, path, system_config = make_image(top, binary, cert, url)
    with open(os.path.join(image, "bin", "kustomize"), "w") as f:
        f.write('#!/bin/sh\n# stand-in: kustomize edit set image NAME=IMAGE:TAG\n'
                '[ "$1 $2 $3" = "edit set image" ] || exit 2\n'
                'printf "images:\\n- name: %s\\n  newName: %s\\n  newTag: %s\\n" '
                '"${4%%=*}" "$(echo "${4#*=}" | sed "s/:[^:]*$//")" "${4##*:}" '
                '>> kustomization.yaml\n')
    os.chmod(os.path.join(image, "bin", "kustomize"), 0o755)

    failures = []
    for example in examples:
        with open(example) as f:
            doc = yaml.safe_load(f)
        for name, job in doc.items():
            if not isinstance(job, dict) or "script" not in job:
                continue
            home = tempfile.mkdtemp(dir=top, prefix="home.")
            builds = tempfile.mkdtemp(dir=top, prefix="builds.")
            runtime = tempfile.mkdtemp(dir=top, prefix="run.")
            token_file = os.path.join(top, "deploy-token-file")
            with open(token_file, "w") as f:
                f.write(DEPLOY_TOKEN + "\n")
            os.chmod(token_file, 0o600)
            env = job_env(url, sha, path, system_config, home, builds, runtime, token_file)
            for key, value in (job.get("variables") or {}).items():
                env[key] = expand(str(value), env)
            reset_project(project, hook_log)
            before = len(GitLab.log)
            script = os.path.join(top, "script.sh")
            with open(script, "w") as f:
                f.write("set -eo pipefail\n" + "\n".join(job["script"]) + "\n")
            print("--- %s: %s" % (example, name), flush=True)
            result = subprocess.run(["bash", script], cwd=builds, env=env)
            if job.get("after_script"):
                with open(script, "w") as f:
                    f.write("\n".join(job["after_script"]) + "\n")
                subprocess.run(["bash", script], cwd=builds, env=env)
            pushes = [e for e in GitLab.log[before:] if e[1].endswith("/git-receive-pack")]
            problems = []
            if result.returncode != 0:
                problems.append("the script failed (exit %d)" % result.returncode)
            problems += check(name, project, deployments, pushes, hook_log)
            problems += ["a token is written in %s" % f for f in leaks(builds)]
            if sockets_left(runtime):
                problems.append("a daemon socket is left behind")
            for p in problems:
                failures.append("%s: %s: %s" % (example, name, p))
                print("    FAILED: " + p, flush=True)
            if not problems:
                print("    ok: " + ", ".join("%s as %s (%s token)" % (e[1].split("/git-")[0]
                      .lstrip("/"), e[2], e[3]) for e in pushes), flush=True)
    server.shutdown()
    if failures:
        print("\n%d example job(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    print("\nall example jobs did what they are for")
    return 0


def check(name, project, deployments, pushes, hook_log):
    """What each example job is for, on the server."""
    options = open(hook_log).read()
    want_push = {
        "release-tag": ("job", lambda: rev(project, "refs/tags/v1.0.42")),
        "release-tag-with-daemon": ("job", lambda: rev(project, "refs/tags/v1.0.42")),
        "bump-version": ("job", lambda: run(
            "git", "-C", project, "show", "main:VERSION", capture_output=True,
            text=True).stdout.strip() in ("1.4.3", "1.4.4")
            and "group/project ci.skip" in options),
        "update-manifest": ("manifests", lambda: "newTag: " in run(
            "git", "-C", deployments, "show",
            "main:apps/my-service/overlays/production/kustomization.yaml",
            capture_output=True, text=True).stdout),
        "regenerate-lockfile": ("release", lambda: rev(project, "refs/heads/bot/lockfile-42")
                                and "merge_request.create" in options),
        "push-with-deploy-token": ("deploy", lambda: rev(project, "refs/tags/deployed")),
        "push-with-deploy-token-config": ("deploy", lambda: rev(project, "refs/tags/deployed")),
    }
    if name not in want_push:
        return ["no check for this job: add one to packaging/test-examples.py"]
    kind, done = want_push[name]
    problems = []
    if not pushes:
        problems.append("nothing was pushed")
    elif any(p[3] != kind for p in pushes):
        problems.append("pushed with the wrong token: %s" % pushes)
    if not done():
        problems.append("the server does not show what the job is for")
    return problems


if __name__ == "__main__":
    sys.exit(main())
