"""Synthetic classes for the similarity report (tests/test_similarity.py, bench/bench.py --only similarity).

``rename`` rewrites a script as a learner who was handed it might: other names for everything the script
binds (variables, functions, arguments, ``except … as e``), other comments, another docstring, the code
itself unchanged. Names from outside (modules, MLflow's functions, keyword arguments, attributes) stay.
"""

from __future__ import annotations

import ast
import io
import keyword
import random
import re
import shutil
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "tests" / "submissions"
STEPS = ("step1", "step2", "step3", "step4", "step5")

_WORDS = ("value", "item", "result", "thing", "data", "obj", "ref", "handle", "entry", "info", "tmp", "node")
_COMMENTS = ("my note", "check this later", "as in the lecture", "this part logs things", "remember the step",
             "copied from the slides", "TODO tidy up", "works on my machine", "see the guide", "important")
_DOCSTRINGS = ("My answer.", "Homework for the MLflow course.", "Solution attempt.", "Done in class.",
               "Exercise script.")


def _bound_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return {n for n in names if not n.startswith("__")}


def _offsets(source: str) -> list[int]:
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def rename(source: str, seed: int) -> str:
    """``source`` with its own names, comments and docstring changed (deterministic in ``seed``)."""
    rng = random.Random(seed)
    tree = ast.parse(source)
    names = sorted(_bound_names(tree))
    taken = set(names) | set(re.findall(r"[A-Za-z_]\w*", source))
    mapping = {}
    for name in names:
        while True:
            new = f"{rng.choice(_WORDS)}_{rng.randrange(1000)}"
            if new not in taken and not keyword.iskeyword(new):
                break
        taken.add(new)
        mapping[name] = new
    first = tree.body[0] if tree.body else None
    doc = None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        doc = (first.lineno, first.col_offset)
    starts = _offsets(source)
    edits = []  # (start, end, text) as offsets into source
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    depth = 0
    for i, tok in enumerate(tokens):
        start = starts[tok.start[0] - 1] + tok.start[1]
        end = starts[tok.end[0] - 1] + tok.end[1]
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        if tok.type == tokenize.NAME and tok.string in mapping:
            before = tokens[i - 1].string if i else ""
            after = tokens[i + 1].string if i + 1 < len(tokens) else ""
            if before == "." or (depth and after == "=" and before in ("(", ",")):
                continue  # an attribute, or a keyword argument of someone else's function
            edits.append((start, end, mapping[tok.string]))
        elif tok.type == tokenize.COMMENT and not tok.string.startswith("#!"):
            edits.append((start, end, f"# {rng.choice(_COMMENTS)}"))
        elif tok.type == tokenize.STRING and doc == tok.start:
            edits.append((start, end, f'"""{rng.choice(_DOCSTRINGS)}"""'))
        elif tok.type == tokenize.STRING and re.match(r"(?i)r?fr?['\"]", tok.string):
            def inside(match, mapping=mapping):
                return re.sub(r"(?<![.\w])([A-Za-z_]\w*)", lambda m: mapping.get(m.group(1), m.group(1)), match.group())
            edits.append((start, end, re.sub(r"\{[^{}]*\}", inside, tok.string)))
    out = source
    for start, end, new in sorted(edits, reverse=True):
        out = out[:start] + new + out[end:]
    # A comment line of its own before some statements: comments never count, wherever they are.
    lines = out.splitlines(keepends=True)
    for n in sorted(rng.sample(range(len(lines)), k=min(3, len(lines))), reverse=True):
        if lines[n].strip() and not lines[n].rstrip().endswith(("\\", ",", "(")):
            indent = lines[n][:len(lines[n]) - len(lines[n].lstrip())]
            lines.insert(n, f"{indent}# {rng.choice(_COMMENTS)}\n")
    out = "".join(lines)
    ast.parse(out)  # still Python
    return out


def write_learner(dest: Path, scripts: dict[str, str]) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for step, source in scripts.items():
        (dest / f"{step}.py").write_text(source, encoding="utf-8")
    return dest


def scripts_of(folder: Path, base: Path | None = None) -> dict[str, str]:
    """The five scripts of ``folder``; a step it lacks comes from ``base`` (a faulty case holds one script)."""
    out = {}
    for step in STEPS:
        path = folder / f"{step}.py"
        if not path.is_file() and base is not None:
            path = base / f"{step}.py"
        if path.is_file():
            out[step] = path.read_text(encoding="utf-8")
    return out


def renamed(scripts: dict[str, str], seed: int) -> dict[str, str]:
    return {step: rename(source, seed * 31 + i) for i, (step, source) in enumerate(scripts.items())}


def faulty_cases() -> list[Path]:
    return sorted(p for p in (SUBMISSIONS / "faulty").iterdir() if p.is_dir())


def small_class(dest: Path) -> dict:
    """A class of 14: renamed copies of the reference solution (one under a Japanese name), three learners
    who left the stubs untouched, renamed faulty variants, one learner in the fluent style, and ONE planted
    copy: 鈴木 handed in 佐藤 花子's client-API scripts under other names and comments.
    Returns {"planted": (folder a, folder b), "stub": [folders]}."""
    solutions = scripts_of(ROOT / "solutions")
    for seed, name in enumerate(("alice", "bob", "carol", "dave", "山田太郎")):
        write_learner(dest / name, renamed(solutions, seed + 1))
    stub = [f"untouched{i}" for i in (1, 2, 3)]
    for name in stub:
        shutil.copytree(ROOT / "exercises", dest / name)
    for seed, case in enumerate(faulty_cases()[::8][:3]):
        write_learner(dest / f"faulty-{case.name}", renamed(scripts_of(case, ROOT / "solutions"), 40 + seed))
    write_learner(dest / "frank", renamed(scripts_of(SUBMISSIONS / "alternative" / "fluent_variants"), 50))
    original = scripts_of(SUBMISSIONS / "alternative" / "client_api")
    write_learner(dest / "佐藤 花子", original)
    write_learner(dest / "鈴木", renamed(original, 60))
    return {"planted": ("佐藤 花子", "鈴木"), "stub": stub}


# Small changes a learner makes to the reference answer: each a line inserted after a statement, written in
# the learner's own names. Several learners picking the same one is what a class looks like, not copying.
_TOUCHES = (
    'print("done")',
    'print(f"tracking at {mlflow.get_tracking_uri()}")',
    "import sys",
    'print("starting", flush=True)',
    "sys_version = __import__('sys').version",
    'print("=" * 40)',
)


def touched(scripts: dict[str, str], seed: int) -> dict[str, str]:
    """``scripts`` with one or two personal lines inserted between top-level statements, then renamed."""
    rng = random.Random(seed)
    out = {}
    for step, source in scripts.items():
        lines = source.splitlines(keepends=True)
        ends = [node.end_lineno for node in ast.parse(source).body[1:]]
        for at in sorted(rng.sample(ends, k=min(len(ends), rng.randint(1, 2))), reverse=True):
            lines.insert(at, rng.choice(_TOUCHES) + "\n")
        out[step] = "".join(lines)
    return renamed(out, seed)


def large_class(dest: Path, learners: int) -> Path:
    """A class of ``learners`` for the bench: most hand in the reference answer with a personal line or two
    under their own names; every 10th left the stubs untouched; every 10th hands in a renamed faulty variant;
    every 20th one of the two alternative styles, renamed (so those share code with each other: two rings
    of copies, the pairs a report must list)."""
    solutions = scripts_of(ROOT / "solutions")
    stub = scripts_of(ROOT / "exercises")
    faulty = faulty_cases()
    styles = [scripts_of(SUBMISSIONS / "alternative" / s) for s in ("client_api", "fluent_variants")]
    for i in range(learners):
        if i % 10 == 0:
            scripts = stub
        elif i % 10 == 5:
            scripts = renamed(scripts_of(faulty[i // 10 % len(faulty)], ROOT / "solutions"), i)
        elif i % 20 == 7:
            scripts = renamed(styles[i // 20 % 2], i)
        else:
            scripts = touched(solutions, i)
        write_learner(dest / f"learner{i:04d}", scripts)
    return dest
