"""``python -m grader clone-class LIST --dest DIR``: a class folder from a list of learners' repositories.

LIST is either a text file of repository URLs, one per line (``#`` starts a comment), each cloned into a
folder named after the repository (``owner-name`` when two share a name), or a CSV file whose header names a
URL column (``url``, ``repository_url`` or GitHub Classroom's ``student_repository_url``) and maybe a folder
column (``folder``, else Classroom's ``roster_identifier`` or ``github_username``).

Every line of LIST becomes a learner folder, so every learner gets a gradebook row: a repository that cannot
be cloned (gone, private, a typo, a timeout) becomes a folder holding only ``CLONE-FAILED.txt`` with the URL
and git's reason, and the grader fails each of that learner's checks saying so (grader/plugin.py). The
command exits 0 when it wrote the class (failed clones included) and 2 when LIST cannot be read.

Standard library only: the class workflow runs it before anything is installed. Clones are shallow, run
eight at a time, without a terminal prompt (a private repository fails instead of waiting for a password)
and without submodules. ``HANDSON_CLONE_TOKEN`` (a token that can read the class's repositories) is sent to
github.com only, as an HTTP header the way actions/checkout does; it never appears in what is printed.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import csv
import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from grader import text
from grader.class_workflow import CLONE_FAILED
from grader.i18n import t

URL_COLUMNS = ("url", "repository_url", "student_repository_url")
FOLDER_COLUMNS = ("folder", "roster_identifier", "github_username")
CLONE_TIMEOUT = 300  # seconds for one repository
PARALLEL = 8


@dataclass
class Repo:
    url: str
    folder: str
    error: str = ""


def _url_parts(url: str) -> list[str]:
    tail = url.rstrip("/").split("://", 1)[-1].replace(":", "/")
    parts = [p for p in tail.split("/") if p]
    if parts and parts[-1].endswith(".git"):
        parts[-1] = parts[-1][:-4]
    return parts


def _safe_folder(name: str) -> str:
    """A folder name the class can hold: no path separator or NUL, not hidden nor left out (``.``/``_``)."""
    name = name.strip("\n").replace("/", "-").replace("\\", "-").replace("\0", "-")
    if name.lstrip(".") == "":
        return ""
    while name.startswith((".", "_")):
        name = "-" + name[1:]
    return name


def read_list(path: Path) -> list[Repo]:
    """The repositories of LIST, each with its folder (unique within the class)."""
    raw = path.read_text(encoding="utf-8-sig")
    first = raw.split("\n", 1)[0].lower()
    entries: list[tuple[str, str]] = []
    if any(col in [c.strip() for c in first.split(",")] for col in URL_COLUMNS):
        for row in csv.DictReader(io.StringIO(raw)):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            url = next((row[c] for c in URL_COLUMNS if row.get(c)), "")
            if url:
                entries.append((url, next((row[c] for c in FOLDER_COLUMNS if row.get(c)), "")))
    else:
        for line in raw.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                entries.append((line, ""))
    # A folder from the URL is the repository's name, or owner-name where two repositories share a name.
    parts = [_url_parts(url) for url, _ in entries]
    shared = collections.Counter(p[-1] for p in parts if p)
    repos, taken = [], set()
    for (url, folder), path in zip(entries, parts):
        if not folder and path:
            folder = "-".join(path[-2:]) if shared[path[-1]] > 1 else path[-1]
        folder = _safe_folder(folder) or "learner"
        unique, n = folder, 1
        while unique in taken:
            n += 1
            unique = f"{folder}-{n}"
        taken.add(unique)
        repos.append(Repo(url, unique))
    return repos


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HANDSON_CLONE_TOKEN"}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GCM_INTERACTIVE"] = "never"
    return env


def _token_args(url: str, token: str) -> list[str]:
    if not token or not url.startswith("https://github.com/"):
        return []
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return ["-c", f"http.https://github.com/.extraheader=AUTHORIZATION: basic {basic}"]


def redact(message: str, token: str) -> str:
    if not token:
        return message
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return message.replace(basic, "***").replace(token, "***")


def clone(repo: Repo, dest: Path, token: str = "") -> Repo:
    """Clone ``repo`` into ``dest/folder``; on failure leave that folder with CLONE_FAILED only."""
    target = dest / repo.folder
    cmd = ["git", *_token_args(repo.url, token), "clone", "--quiet", "--depth", "1", "--no-recurse-submodules",
           "--", repo.url, str(target)]
    try:
        proc = subprocess.run(cmd, env=_git_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=CLONE_TIMEOUT)
        if proc.returncode != 0:
            lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
            repo.error = " ".join(lines[-3:]) or f"git exited with code {proc.returncode}"
    except subprocess.TimeoutExpired:
        repo.error = f"git clone did not finish in {CLONE_TIMEOUT} s"
    except OSError as e:  # no git at all
        repo.error = f"git could not run: {e}"
    if repo.error:
        repo.error = redact(repo.error, token)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True, exist_ok=True)
        (target / CLONE_FAILED).write_text(f"{repo.url}\n{repo.error}\n", encoding="utf-8")
    return repo


def clone_class(list_path: Path, dest: Path) -> int:
    try:
        repos = read_list(list_path)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        print(t("clone.unreadable", path=str(list_path), error=text.clean(str(e))), file=sys.stderr)
        return 2
    if not repos:
        print(t("clone.empty", path=str(list_path)), file=sys.stderr)
        return 2
    dest.mkdir(parents=True, exist_ok=True)
    token = os.environ.get("HANDSON_CLONE_TOKEN", "")
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        done = list(pool.map(lambda r: clone(r, dest, token), repos))
    for repo in done:
        if repo.error:
            print(t("clone.failed", folder=text.clean(repo.folder), url=text.clean(repo.url),
                    error=text.clean(repo.error)))
        else:
            print(t("clone.ok", folder=text.clean(repo.folder), url=text.clean(repo.url)))
    failed = sum(1 for r in done if r.error)
    print(t("clone.summary", cloned=len(done) - failed, failed=failed, dest=str(dest), marker=CLONE_FAILED),
          file=sys.stderr)
    return 0
