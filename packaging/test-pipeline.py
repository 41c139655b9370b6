#!/usr/bin/env python3
"""Checks this project's own .gitlab-ci.yml, and runs its release steps on built files.

    packaging/test-pipeline.py DIST

DIST holds what packaging/dist.sh wrote for both targets (the static binaries, the .debs and
SHA256SUMS), as the pipeline's checksums job leaves it.

- .gitlab-ci.yml parses; each job's stage is declared, it has an image, and every script
  line passes `bash -n`; every repository script a job calls exists and is executable, and
  every `packaging/dist.sh` subcommand it calls is one dist.sh has;
- the build and package matrices cover the targets dist.sh knows; the release job runs only
  on vX.Y.Z tags, needs the upload job whose dotenv it reads, and its asset links name
  exactly the files `packaging/dist.sh names` lists (and SHA256SUMS), under the registry URL
  the upload job writes;
- DIST holds exactly those files and SHA256SUMS matches them;
- `packaging/dist.sh upload` runs against packaging/test-examples.py's HTTPS stand-in: every
  file arrives byte for byte, sent with the job token in a JOB-TOKEN header that is never on
  curl's command line; the links, expanded with the release.env it writes, are the uploaded
  files; the release notes' component snippet is one the component accepts, with the
  binary's real SHA-256; and a tag other than v<Cargo.toml's version> uploads nothing.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


def load_module(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ex = load_module("examples", "test-examples.py")
component = load_module("component", "test-component.py")

KEYWORDS = {"default", "include", "stages", "variables", "workflow", "image", "cache"}
SCRIPT = re.compile(r"(?:^|[\s;&|(])((?:\./)?(?:\.ci|packaging)/[A-Za-z0-9._/-]+)")
failures = []


def fail(message):
    failures.append(message)
    print("    FAILED: " + message, flush=True)


def dist_sh(*args, env=None, check=True):
    return subprocess.run(["packaging/dist.sh", *args], capture_output=True, text=True,
                          env=env, check=check)


def jobs_of(doc):
    jobs = {}
    for name, job in doc.items():
        if name in KEYWORDS or name.startswith(".") or not isinstance(job, dict):
            continue
        if "extends" in job:
            job = component.merge(doc[job.pop("extends")], job)
        jobs[name] = job
    return jobs


def check_jobs(doc, jobs):
    print("--- .gitlab-ci.yml: jobs, scripts and the scripts they call")
    stages = doc.get("stages") or []
    if stages != ["test", "build", "package", "release"]:
        fail("the stages are %s" % stages)
    dist_text = open("packaging/dist.sh").read()
    subcommands = set(re.findall(r"^    ([a-z]+)\)$", dist_text, re.M))
    for name, job in jobs.items():
        if job.get("stage") not in stages:
            fail("%s: stage %r is not declared" % (name, job.get("stage")))
        if not job.get("image"):
            fail("%s: no image" % name)
        if not job.get("script"):
            fail("%s: no script" % name)
        called = []
        for part in ("before_script", "script", "after_script"):
            lines = job.get(part) or []
            if not all(isinstance(line, str) for line in lines):
                fail("%s: %s has a non-string entry" % (name, part))
                continue
            r = subprocess.run(["bash", "-n"], input="\n".join(lines), text=True,
                               capture_output=True)
            if r.returncode:
                fail("%s: %s is not valid shell: %s" % (name, part, r.stderr.strip()))
            for line in lines:
                for path in SCRIPT.findall(line):
                    called.append(path)
                    if not os.path.isfile(path):
                        fail("%s: %s does not exist" % (name, path))
                    elif not os.access(path, os.X_OK) and not re.search(r"\bbash\s+" + re.escape(path), line):
                        fail("%s: %s is not executable" % (name, path))
                for sub in re.findall(r"packaging/dist\.sh\s+([a-z]+)", line):
                    if sub not in subcommands:
                        fail("%s: packaging/dist.sh has no subcommand %s" % (name, sub))
        print("    %s (%s): %s" % (name, job["stage"], ", ".join(called) or "no repository script"))


def check_release(doc, jobs, version):
    print("--- .gitlab-ci.yml: what the build jobs make is what the release links")
    targets = re.search(r"^targets=\((.*)\)$", open("packaging/dist.sh").read(), re.M).group(1).split()
    for name in ("build", "package"):
        matrix = jobs[name]["parallel"]["matrix"]
        got = sorted(t for entry in matrix for t in entry["TARGET"])
        if got != sorted(targets):
            fail("%s builds %s, dist.sh knows %s" % (name, got, targets))
    if sorted(jobs["checksums"]["needs"]) != ["build", "package"]:
        fail("checksums does not need every build and package job")
    tag_rule = re.compile(r"\$CI_COMMIT_TAG =~ /(.*)/$")
    for name in ("upload", "release"):
        rules = jobs[name].get("rules") or []
        patterns = [tag_rule.match(r.get("if", "")) for r in rules]
        if len(rules) != 1 or not patterns[0]:
            fail("%s does not run only on a version tag: %s" % (name, rules))
            continue
        pattern = re.compile(patterns[0].group(1))
        for tag, want in [("v1.2.3", True), ("v10.0.1", True), ("v" + version, True),
                          ("1.2.3", False), ("v1.2", False), ("v1.2.3-rc1", False),
                          ("release-1.2.3", False)]:
            if bool(pattern.search(tag)) != want:
                fail("%s: the tag rule %s %s %s" % (name, pattern.pattern,
                     "misses" if want else "takes", tag))
    upload, release = jobs["upload"], jobs["release"]
    needs = [n if isinstance(n, str) else n["job"] for n in upload.get("needs") or []]
    if sorted(needs) != ["checksums", "test"]:
        fail("the upload job does not wait for the tests and the checksums: %s" % needs)
    dotenv = upload["artifacts"]["reports"]["dotenv"]
    if dotenv != "dist/release.env":
        fail("the upload job's dotenv is %s, dist.sh writes dist/release.env" % dotenv)
    if release.get("needs") != ["upload"]:
        fail("the release job does not need the upload job (and its dotenv)")
    if release["release"]["tag_name"] != "$CI_COMMIT_TAG":
        fail("the release is not for the pipeline's tag")
    if release["release"]["description"] not in upload["artifacts"]["paths"]:
        fail("the release notes are not an artifact of the upload job")
    links = release["release"]["assets"]["links"]
    names = dist_sh("names").stdout.split() + ["SHA256SUMS"]
    linked = [link["name"].replace("$VERSION", version) for link in links]
    if sorted(linked) != sorted(names):
        fail("the release links %s, dist.sh names %s" % (linked, names))
    for link in links:
        if link["url"] != "$PACKAGE_REGISTRY_URL/" + link["name"]:
            fail("link %s points at %s" % (link["name"], link["url"]))
    print("    links: %s" % ", ".join(linked))
    return links


def check_dist(dist, version):
    print("--- %s: the release's files, and their checksums" % dist)
    names = dist_sh("names").stdout.split()
    have = sorted(f for f in os.listdir(dist) if f != "SHA256SUMS")
    if have != sorted(names):
        fail("%s holds %s, the release names %s" % (dist, have, names))
    r = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=dist,
                       capture_output=True, text=True)
    if r.returncode:
        return fail("SHA256SUMS does not match: %s" % (r.stdout + r.stderr).strip())
    listed = sorted(line.split()[1] for line in open(os.path.join(dist, "SHA256SUMS")))
    if listed != sorted(names):
        fail("SHA256SUMS lists %s" % listed)
    kinds = {}
    for name in names:
        kinds[name] = subprocess.run(["file", "-b", os.path.join(dist, name)],
                                     capture_output=True, text=True).stdout.strip()
        machine = "x86-64" if "x86_64" in name or "amd64" in name else "aarch64"
        want = "Debian binary package" if name.endswith(".deb") else machine
        if want not in kinds[name] or (not name.endswith(".deb") and "static" not in kinds[name]):
            fail("%s is %s" % (name, kinds[name]))
    for name in names:
        if name.endswith(".deb"):
            arch = subprocess.run(["dpkg-deb", "--field", os.path.join(dist, name),
                                   "Architecture"], capture_output=True, text=True).stdout.strip()
            if not name.endswith("_%s.deb" % arch):
                fail("%s is for %s" % (name, arch))
    print("    " + "\n    ".join("%s: %s" % (n, k[:60]) for n, k in kinds.items()))


def check_upload(dist, links, version, top):
    print("--- packaging/dist.sh upload, against a local package registry")
    server, url, cert = ex.start_gitlab(top)
    registry = "/api/v4/projects/7/packages/generic/git-credential-gitlab-ci/" + version
    work = os.path.join(top, "dist")
    shutil.copytree(dist, work)
    argv_log = os.path.join(top, "curl-argv.log")
    bindir = os.path.join(top, "bin")
    os.makedirs(bindir)
    with open(os.path.join(bindir, "curl"), "w") as f:
        f.write('#!/bin/sh\nprintf "%%s\\n" "$*" >> %s\nexec %s "$@"\n'
                % (argv_log, shutil.which("curl")))
    os.chmod(os.path.join(bindir, "curl"), 0o755)
    env = {"PATH": bindir + ":" + os.environ["PATH"], "HOME": top, "DIST": work,
           "CURL_CA_BUNDLE": cert, "CI_JOB_TOKEN": ex.JOB_TOKEN,
           "CI_API_V4_URL": url + "/api/v4", "CI_PROJECT_ID": "7",
           "CI_PROJECT_PATH": "group/git-credential-gitlab-ci"}

    wrong = dist_sh("upload", env=dict(env, CI_COMMIT_TAG="v99.0.0"), check=False)
    if wrong.returncode == 0 or ex.GitLab.packages:
        fail("a tag other than v%s uploaded: %s" % (version, sorted(ex.GitLab.packages)))
    print("    tag v99.0.0: refused (%s)" % wrong.stderr.strip().splitlines()[-1])

    r = dist_sh("upload", env=dict(env, CI_COMMIT_TAG="v" + version), check=False)
    server.shutdown()
    if r.returncode:
        fail("upload failed: %s" % r.stderr)
        return
    files = sorted(os.listdir(dist))
    for name in files:
        got = ex.GitLab.packages.get(registry + "/" + name)
        if got != open(os.path.join(dist, name), "rb").read():
            fail("%s did not arrive intact" % name)
    if sorted(p.rsplit("/", 1)[1] for p in ex.GitLab.packages) != files:
        fail("uploaded %s" % sorted(ex.GitLab.packages))
    puts = [e for e in ex.GitLab.log if e[0] == "PUT"]
    if len(puts) != len(files) or any(e[2:] != ("JOB-TOKEN", "job") for e in puts):
        fail("not every file was sent with the job token: %s" % puts)
    argv = open(argv_log).read()
    if not argv or ex.JOB_TOKEN in argv:
        fail("curl did not run, or the token is on its command line")
    print("    %d files uploaded with the job token in a JOB-TOKEN header, none on curl's "
          "command line" % len(files))

    dotenv = dict(line.split("=", 1) for line in open(os.path.join(work, "release.env"))
                  .read().split())
    if dotenv != {"VERSION": version, "PACKAGE_REGISTRY_URL": url + registry}:
        fail("release.env says %s" % dotenv)
    for link in links:
        target = ex.expand(link["url"], dotenv)
        if target.replace(url, "", 1) not in ex.GitLab.packages:
            fail("the release links %s, which was not uploaded" % target)
    print("    every release link, expanded with release.env, is an uploaded file")

    notes = open(os.path.join(work, "release-notes.md")).read()
    snippet = re.search(r"```yaml\n(.*?)```", notes, re.S).group(1)
    include = yaml.safe_load(snippet)["include"][0]
    inputs, body = component.load(component.COMPONENT)
    try:
        component.interpolate(inputs, body, include["inputs"])
    except component.Refused as e:
        fail("the release notes' component snippet is refused: %s" % e)
    binary = "git-credential-gitlab-ci-%s-x86_64-unknown-linux-musl" % version
    sums = dict(reversed(line.split()) for line in open(os.path.join(dist, "SHA256SUMS")))
    if include["inputs"] != {"binary_url": url + registry + "/" + binary,
                             "binary_sha256": sums[binary]}:
        fail("the release notes' snippet says %s" % include["inputs"])
    if not include["component"].endswith("/group/git-credential-gitlab-ci/git-push@" + version):
        fail("the release notes include %s" % include["component"])
    print("    the release notes' include: component: snippet is accepted by the component, "
          "with the binary's SHA-256")


def main():
    dist = os.path.abspath(sys.argv[1])
    version = re.search(r'^version = "(.*)"$', open("Cargo.toml").read(), re.M).group(1)
    doc = yaml.safe_load(open(".gitlab-ci.yml"))
    jobs = jobs_of(doc)
    check_jobs(doc, jobs)
    links = check_release(doc, jobs, version)
    check_dist(dist, version)
    if failures:
        print("\n%d pipeline check(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    top = tempfile.mkdtemp(prefix="pipeline.")
    try:
        check_upload(dist, links, version, top)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    if failures:
        print("\n%d pipeline check(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    print("\n.gitlab-ci.yml's jobs call scripts that exist, and the release links what they make")
    return 0


if __name__ == "__main__":
    sys.exit(main())
