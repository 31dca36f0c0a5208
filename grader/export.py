"""``python -m grader export DIR``: the learner-facing repository.

Leaves out the instructor side — ``solutions/``, the suite's own ``tests/``, ``bench/``, ``.ci/``, the practice
drills' reference solutions — and
every check the catalogue marks hidden: its function in ``checks/``, its catalogue entry, its
messages. The Classroom workflow is regenerated for the visible checks. The release's ``README.md`` is
the learner README (``grader/templates/README.learner.md``, with the table of visible checks filled in),
not the instructor one. The export's own ``pytest`` grades its exercises.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

from grader import catalog, classroom

INSTRUCTOR_ONLY = ("solutions", "tests", "bench", ".ci", ".git")
# The instructor's own learner record (grader/progress.py): a release starts without one.
NOT_RELEASED = (".handson",)
# The practice drills' reference solutions (and the faulty variants made from them) stay on the instructor side.
PRACTICE_DRILLS = Path("grader/practice/drills")
PRACTICE_INSTRUCTOR_ONLY = ("SOLUTION", "FAULTS")
LEARNER_README = Path("grader/templates/README.learner.md")
CHECKS_MARKER = "<!-- export: the table of checks is generated here from the check catalogue -->"


def _tracked_files(root: Path) -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                             capture_output=True, check=True).stdout
        return [root / p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def _strip_check_functions(source: str, hidden: set[str]) -> str:
    tree = ast.parse(source)
    drop = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                if (isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "check"
                        and deco.args and getattr(deco.args[0], "value", None) in hidden):
                    drop.append((deco.lineno, node.end_lineno))
    lines = source.splitlines(keepends=True)
    for start, end in sorted(drop, reverse=True):
        del lines[start - 1:end]
    return "".join(lines)


def strip_assignments(source: str, names) -> str:
    """``source`` without its top-level assignments to ``names`` (the whole statement, however many lines)."""
    tree = ast.parse(source)
    drop = [(node.lineno, node.end_lineno) for node in tree.body if isinstance(node, ast.Assign)
            and any(isinstance(target, ast.Name) and target.id in names for target in node.targets)]
    lines = source.splitlines(keepends=True)
    for start, end in sorted(drop, reverse=True):
        del lines[start - 1:end]
    return "".join(lines)


def _strip_catalogue(source: str, hidden: set[str]) -> str:
    for check_id in hidden:
        source = re.sub(rf'^\s*Check\("{re.escape(check_id)}"[^\n]*\n', "", source, flags=re.M)
    return source


def _strip_messages(source: str, hidden: set[str]) -> str:
    for check_id in hidden:
        for suffix in ("title", "hint", "hint1", "hint3"):
            source = re.sub(rf'^\s*"{re.escape(check_id)}\.{suffix}": \{{.*?\}},\n', "", source, flags=re.M | re.S)
    return source


def checks_table(checks) -> str:
    """Markdown: the visible checks with their points and English titles."""
    from grader.i18n import t_in

    total = sum(c.points for c in checks)
    lines = [f"{len(checks)} checks, {total:g} points in all. Each has a stable id, shown in every message.", "",
             "| check | points | what must be true |", "|---|---|---|"]
    for c in checks:
        title = t_in("en", f"{c.id}.title").replace("|", "\\|")
        lines.append(f"| `{c.id}` | {c.points:g} | {title} |")
    return "\n".join(lines)


def learner_readme(root: Path, checks) -> str:
    text = (root / LEARNER_README).read_text(encoding="utf-8")
    if CHECKS_MARKER not in text:
        raise SystemExit(f"{LEARNER_README} lost its marker line: {CHECKS_MARKER}")
    return text.replace(CHECKS_MARKER, checks_table(checks))


def export(root: Path, dest: Path) -> Path:
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"{dest} exists and is not empty")
    hidden = {c.id for c in catalog.CHECKS if c.hidden}
    for path in _tracked_files(root):
        rel = path.relative_to(root)
        if rel.parts[0] in INSTRUCTOR_ONLY + NOT_RELEASED or rel == LEARNER_README or not path.is_file():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    for module in (dest / PRACTICE_DRILLS).glob("*.py"):
        module.write_text(strip_assignments(module.read_text(encoding="utf-8"), PRACTICE_INSTRUCTOR_ONLY),
                          encoding="utf-8")
    if hidden:
        for module in (dest / "checks").glob("test_step*.py"):
            module.write_text(_strip_check_functions(module.read_text(encoding="utf-8"), hidden), encoding="utf-8")
        cat = dest / "grader" / "catalog.py"
        cat.write_text(_strip_catalogue(cat.read_text(encoding="utf-8"), hidden), encoding="utf-8")
        msg = dest / "grader" / "messages.py"
        msg.write_text(_strip_messages(msg.read_text(encoding="utf-8"), hidden), encoding="utf-8")
    visible = [c for c in catalog.CHECKS if c.id not in hidden]
    (dest / "README.md").write_text(learner_readme(root, visible), encoding="utf-8")
    workflow = dest / classroom.WORKFLOW
    workflow.parent.mkdir(parents=True, exist_ok=True)
    workflow.write_text(classroom.workflow(visible), encoding="utf-8")
    return dest
