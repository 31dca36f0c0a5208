"""A class past one machine: a GitHub Actions workflow that grades it in N shard jobs, then merges them.

``python -m grader classroom --class-workflow`` prints the workflow (``--write``: to
``.github/workflows/grade-class.yml``). Three jobs:

``class``  the class, packed once as the artifact ``class`` (a tar: empty folders, Japanese names and
           file modes survive; ``.git`` is left out): the folder ``--class DIR`` of the instructor's
           repository, or the repositories listed in ``--repos FILE`` cloned one per learner
           (``python -m grader clone-class``; a repository that cannot be cloned becomes a folder holding
           ``CLONE-FAILED.txt``, which grades as a row of its own saying why);
``grade``  a matrix of N jobs: each sets up with the README's command (``bash scripts/setup.sh``, the MinIO
           build and pip's downloads cached), grades ``--shard=i/N`` with every report and uploads them as
           the artifact ``shard-i``;
``merge``  ``python -m grader merge`` of every shard's reports against the class (it refuses a learner graded
           twice or by no shard, naming them), the LMS gradebook when asked, the similarity report; one
           artifact ``class-grades``.

Each shell step is one of the ``*_SH`` texts below, and reads the shard and its folders from environment
variables, never from a ``${{ }}`` expression inside ``run:`` (the text is then exactly what a shell runs
anywhere, and no value can be spliced into it): tests/test_instructor.py runs these very texts on this
machine — four shards, then the merge — and compares what they write with one unsharded run.
"""

from __future__ import annotations

from pathlib import Path

WORKFLOW = Path(".github/workflows/grade-class.yml")
CLONE_FAILED = "CLONE-FAILED.txt"  # grader/plugin.py reads it: the learner's row says why nothing was graded

# -- the shell steps ----------------------------------------------------------------------------------
CLONE_SH = """\
python3 -m grader clone-class "$REPOS" --dest "$CLASS_DIR"
"""

FOLDER_SH = """\
test -d "$CLASS_DIR" || { echo "no folder $CLASS_DIR in this repository: commit the class there" >&2; exit 1; }
"""

PACK_SH = """\
tar --exclude=.git -cf class.tar "$CLASS_DIR"
"""

UNPACK_SH = """\
tar -xf class.tar
"""

GRADE_SH = """\
out="$SHARDS_DIR/shard-$SHARD"
mkdir -p "$out"
# Each learner's scripts run under a uid of their own in a sandbox: that needs root (sudo on GitHub's runners).
as_root=()
if [ "$(id -u)" != 0 ]; then as_root=(sudo env "PATH=$PATH" "CI=${CI:-}"); fi
status=0
"${as_root[@]}" .venv/bin/python -m pytest --submissions="$CLASS_DIR" --shard="$SHARD/$SHARDS" -n auto \\
  --submission-timeout "$SUBMISSION_TIMEOUT" --gradebook "$out/grades.csv" --grade-json "$out/results" \\
  --junitxml "$out/junit.xml" --html-report "$out/html" || status=$?
# 1: some checks failed, which is what grading finds; anything else is the grader's own failure.
[ "$status" -le 1 ]
"""

MERGE_SH = """\
.venv/bin/python -m grader merge "$SHARDS_DIR"/shard-*/grades.csv "$SHARDS_DIR"/shard-*/results \\
  "$SHARDS_DIR"/shard-*/junit.xml "$SHARDS_DIR"/shard-*/html --submissions="$CLASS_DIR" \\
  -o "$GRADES_DIR/grades.csv" --grade-json "$GRADES_DIR/results" --junitxml "$GRADES_DIR/junit.xml" \\
  --html-report "$GRADES_DIR/html"
"""

LMS_SH = """\
.venv/bin/python -m grader merge "$SHARDS_DIR"/shard-*/grades.csv --submissions="$CLASS_DIR" \\
  --gradebook-format "$LMS" --roster "$ROSTER" -o "$GRADES_DIR/$LMS.csv"
"""

SIMILARITY_SH = """\
.venv/bin/python -m grader similarity --submissions="$CLASS_DIR" --csv "$GRADES_DIR/similarity.csv" \\
  --html-report "$GRADES_DIR/html"
"""

CACHE_KEY_MINIO = "minio-${{ runner.os }}-${{ hashFiles('scripts/install-local-stack.sh') }}"


def _quote(value: str) -> str:
    """A YAML single-quoted scalar."""
    return "'" + value.replace("'", "''") + "'"


def _run(name: str, script: str, env: dict[str, str] | None = None, indent: str = "    ") -> list[str]:
    lines = [f"{indent}- name: {_quote(name)}"]
    if env:
        lines.append(f"{indent}  env:")
        lines += [f"{indent}    {k}: {v}" for k, v in env.items()]
    lines.append(f"{indent}  run: |")
    lines += [f"{indent}    {line}" if line else "" for line in script.rstrip("\n").split("\n")]
    return lines


def _uses(name: str, action: str, with_: dict[str, str] | None = None, indent: str = "    ") -> list[str]:
    lines = [f"{indent}- name: {_quote(name)}", f"{indent}  uses: {action}"]
    if with_:
        lines.append(f"{indent}  with:")
        lines += [f"{indent}    {k}: {v}" for k, v in with_.items()]
    return lines


def _checkout() -> list[str]:
    # No token left in .git/config: the learners' scripts run in this checkout's jobs.
    return _uses("Check out the grader", "actions/checkout@v4", {"persist-credentials": "false"})


def _python(pip_cache: bool = True) -> list[str]:
    with_ = {"python-version": "'3.11'"}
    if pip_cache:
        with_ |= {"cache": "pip", "cache-dependency-path": "pyproject.toml"}
    return _uses("Set up Python", "actions/setup-python@v5", with_)


# The defaults of `python -m grader classroom --class-workflow`; its help shows them.
SHARDS, CLASS_DIR, SUBMISSION_TIMEOUT = 4, "class", 120


def workflow(shards: int = SHARDS, *, class_dir: str = CLASS_DIR, repos: str | None = None,
             roster: str | None = None, lms: str | None = None, submission_timeout: int = SUBMISSION_TIMEOUT) -> str:
    """The class workflow's YAML. ``repos``: a file of repository URLs to clone (else the class is the
    folder ``class_dir`` of this repository); ``lms`` with ``roster``: also that LMS's gradebook."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    if lms is not None and roster is None:
        raise ValueError("an LMS gradebook needs a roster")
    source = f"the repositories listed in {repos}" if repos else f"the folder {class_dir}/ of this repository"
    env = {"CLASS_DIR": _quote(class_dir), "SHARDS_DIR": "shards", "GRADES_DIR": "grades",
           "SUBMISSION_TIMEOUT": _quote(str(submission_timeout))}
    if repos:
        env["REPOS"] = _quote(repos)
    if lms:
        env["LMS"] = lms
        env["ROSTER"] = _quote(roster)
    lines = [
        "# Generated by `python -m grader classroom --class-workflow`: change its options and generate it again.",
        f"# Grades the class ({source}) in {shards} shard jobs, then merges their reports into the",
        "# artifact class-grades (gradebook, results, JUnit XML, HTML overview, similarity report).",
        "name: Grade the class",
        "'on':",
        "  workflow_dispatch:",
        "permissions:",
        "  contents: read",
        "env:",
        *[f"  {k}: {v}" for k, v in env.items()],
        "jobs:",
        "  class:",
        "    name: The class",
        "    runs-on: ubuntu-latest",
        "    steps:",
        *_checkout(),
    ]
    if repos:
        lines += _python(pip_cache=False)  # clone-class needs only the standard library
        lines += _run("Clone every learner's repository", CLONE_SH,
                      {"HANDSON_CLONE_TOKEN": "${{ secrets.CLASS_TOKEN }}"})
    else:
        lines += _run("The class folder", FOLDER_SH)
    lines += _run("Pack the class", PACK_SH)
    lines += _uses("Upload the class", "actions/upload-artifact@v4",
                   {"name": "class", "path": "class.tar", "retention-days": "7"})
    lines += [
        "  grade:",
        "    name: Grade shard ${{ matrix.shard }}",
        "    needs: class",
        "    runs-on: ubuntu-latest",
        "    strategy:",
        "      fail-fast: false",
        "      matrix:",
        f"        shard: [{', '.join(str(i) for i in range(1, shards + 1))}]",
        "    steps:",
        *_checkout(),
        *_python(),
        *_uses("Set up Go (the MinIO build)", "actions/setup-go@v5",
               {"go-version": "stable", "cache": "false"}),
        *_uses("Cache the MinIO build", "actions/cache@v4",
               {"path": "~/go/bin/minio", "key": CACHE_KEY_MINIO}),
        *_run("Set up (the README's command)", "bash scripts/setup.sh\n"),
        *_uses("Download the class", "actions/download-artifact@v4", {"name": "class"}),
        *_run("Unpack the class", UNPACK_SH),
        *_run("Grade this shard", GRADE_SH,
              {"SHARD": "${{ matrix.shard }}", "SHARDS": "${{ strategy.job-total }}"}),
        *_uses("Upload this shard's reports", "actions/upload-artifact@v4",
               {"name": "shard-${{ matrix.shard }}", "path": "${{ env.SHARDS_DIR }}/shard-${{ matrix.shard }}",
                "if-no-files-found": "error"}),
        "  merge:",
        "    name: Merge the shards",
        "    needs: grade",
        "    runs-on: ubuntu-latest",
        "    steps:",
        *_checkout(),
        *_python(),
        *_run("Set up the grader (no stack)", "bash scripts/setup.sh --no-stack\n"),
        *_uses("Download the class", "actions/download-artifact@v4", {"name": "class"}),
        *_run("Unpack the class", UNPACK_SH),
        *_uses("Download every shard's reports", "actions/download-artifact@v4",
               {"pattern": "shard-*", "path": "${{ env.SHARDS_DIR }}"}),
        *_run("Merge (refuses a learner missing or graded twice)", MERGE_SH),
    ]
    if lms:
        lines += _run(f"The {lms} gradebook", LMS_SH)
    lines += [
        *_run("Similarity report", SIMILARITY_SH),
        *_uses("Upload the class's grades", "actions/upload-artifact@v4",
               {"name": "class-grades", "path": "${{ env.GRADES_DIR }}", "if-no-files-found": "error"}),
    ]
    return "\n".join(lines) + "\n"
