"""``python -m grader similarity --submissions=DIR [--csv PATH] [--html-report DIR] [--threshold X]``: pairs of
learners whose step scripts share code of their own.

Fingerprints come from copydetect (winnowing, the algorithm of MOSS, over pygments tokens: names become V, F
or O, strings S, comments and whitespace are dropped, so renaming variables or rewriting comments changes
nothing). What every learner was given or was meant to write is subtracted before two learners are compared:

- the stub (``exercises/stepN.py``) and the reference solution (``solutions/stepN.py``, when present): a
  fingerprint found in either is boilerplate, so a class of correct answers is not flagged wholesale and
  learners who left the stub untouched share nothing;
- the class's own common code: a fingerprint found in more than ``common_limit(N)`` of a step's N scripts
  (10, or 5 % of a large class; MOSS's ``-m`` does the same) is how this class writes that step, not a copy.

For each step, two learners are compared only when they still share a fingerprint (an inverted index from
fingerprint to learners), so a class of 1000 costs its fingerprints plus the pairs that share something, not
500 000 comparisons per step. A pair's shares are copydetect's: the part of each learner's own code (what is
left after the subtraction) that the other has too. Its score is the larger share; a pair is flagged when its
score reaches the threshold and it shares at least ``MIN_SHARED`` normalised characters (a few lines: less
than that is a coincidence such as ``with … as run:`` and a print of its id).

Learners are found as the grader finds them for ``--submissions`` (``grader.session.class_learners``: same
folders, same ids). A step script that is a link, not a regular file or unreadable is left out (a link's
target is not the learner's to show); a script is read up to ``MAX_SCRIPT`` bytes.
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import datetime
import itertools
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from grader import catalog, text
from grader.i18n import get_lang, t

if TYPE_CHECKING:  # imported where used: `python -m grader --help` need not load the grading machinery
    from grader.session import Learner

ROOT = Path(__file__).resolve().parents[1]

NOISE = 25  # the shortest shared run of normalised code that counts (copydetect's noise threshold, its default)
GUARANTEE = 25  # every shared run this long is found: window 1, every k-gram kept, so scores never depend on
#                Python's per-process string hashing (copydetect's default too)
MIN_SHARED = 100  # normalised characters a flagged pair shares at least (about five lines of code)
DEFAULT_THRESHOLD = 0.5
COMMON_MIN, COMMON_SHARE = 10, 0.05
MAX_SCRIPT = 256 * 1024  # bytes of a script read
MAX_VIEWS = 200  # flagged pairs shown side by side on the page (the CSV lists every pair)
IN_OVERVIEW = 20  # flagged pairs listed, each linking to its side-by-side view, in the class overview
MAX_WORKERS = 4  # processes tokenising a class's scripts (pygments is most of the time)
PARALLEL_FROM = 200  # scripts of a step from which worker processes pay for their start
CONTEXT = 1  # lines shown around the shared lines in a side-by-side view
CSV_FIELDS = ["step", "learner_a", "learner_b", "score", "share_a", "share_b", "shared", "flagged",
              "folder_a", "folder_b"]
PAGE = "similarity.html"
LINK_START, LINK_END = "<!-- similarity: start -->", "<!-- similarity: end -->"


def common_limit(scripts: int) -> int:
    """A fingerprint found in more scripts of one step than this is the class's common code."""
    return max(COMMON_MIN, int(scripts * COMMON_SHARE))


@dataclasses.dataclass(frozen=True)
class Pair:
    step: str
    a: Learner
    b: Learner
    share_a: float  # the part of a's own code that b has too
    share_b: float
    shared: int  # normalised characters of a's code found in b's
    lines_a: tuple[int, ...] = ()  # shared lines (1-based), kept for flagged pairs only
    lines_b: tuple[int, ...] = ()

    @property
    def score(self) -> float:
        return max(self.share_a, self.share_b)


@dataclasses.dataclass
class Report:
    submissions: Path
    threshold: float
    learners: list[Learner]
    scripts: dict[str, list[Learner]]  # step -> the learners who have that script, in class order
    compared: dict[tuple[str, str, str], Pair]  # (step, a.id, b.id) -> a pair that shares something
    flagged: list[Pair]  # most similar first
    left_out: list[tuple[Learner, str]]  # (learner, script) not read: a link, or not a regular file
    cut: list[tuple[Learner, str]]  # (learner, script) longer than MAX_SCRIPT: its start was compared
    seconds: float = 0.0

    def pair_count(self) -> int:
        return sum(len(found) * (len(found) - 1) // 2 for found in self.scripts.values())


# -- reading and fingerprinting ------------------------------------------------------------------------
def read_script(path: Path) -> tuple[str | None, bool]:
    """(the script's text, whether it was cut), or (None, False) when it is a link, not a regular file, or
    cannot be read."""
    if path.is_symlink() or not path.is_file():
        return None, False
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SCRIPT + 1)
    except OSError:  # unreadable, or gone since it was listed
        return None, False
    return data[:MAX_SCRIPT].decode("utf-8", "replace"), len(data) > MAX_SCRIPT


def normalised(code: str) -> tuple:
    """copydetect's tokenising and filtering of one script: (normalised code, offsets back into the script).
    The costly part (pygments), and free of Python's salted hash(): run in worker processes for a class."""
    from copydetect.utils import filter_code

    return filter_code(code, "script.py", "python")


def fingerprint(filtered: str, offsets, base, window: int = GUARANTEE - NOISE + 1):
    """What copydetect's CodeFingerprint holds, from normalised code, ``base`` (boilerplate) subtracted: hashed
    in this process, so that every fingerprint of a run is hashed with the same salt."""
    from types import SimpleNamespace

    from copydetect.utils import get_document_fingerprints, get_token_coverage

    hashes, idx = get_document_fingerprints(filtered, NOISE, window, base)
    return SimpleNamespace(k=NOISE, hashes=hashes, hash_idx=idx, filtered_code=filtered, offsets=offsets,
                           token_coverage=get_token_coverage(idx, NOISE, len(filtered)))


def _normalise_all(codes: list[str], workers: int) -> list[tuple]:
    if workers > 1 and len(codes) >= PARALLEL_FROM:
        import concurrent.futures

        try:
            with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
                return list(pool.map(normalised, codes, chunksize=max(1, len(codes) // (workers * 8))))
        except (OSError, concurrent.futures.process.BrokenProcessPool):  # no processes here: one is enough
            pass
    return [normalised(code) for code in codes]


def boilerplate(step: str, rootdir: Path = ROOT):
    """The fingerprints of the step's stub and reference solution (every k-gram of both, as copydetect
    takes boilerplate)."""
    import numpy as np

    hashes = set()
    for folder in ("exercises", "solutions"):
        code, _ = read_script(rootdir / folder / f"{step}.py")
        if code is not None:
            hashes |= fingerprint(*normalised(code), None, 1).hashes
    return np.array(sorted(hashes), dtype=np.int64)


def _drop(fp, hashes) -> None:
    """Remove ``hashes`` from a fingerprint as copydetect removes boilerplate (its coverage shrinks too)."""
    from copydetect.utils import get_token_coverage

    for h in hashes:
        fp.hashes.discard(h)
        fp.hash_idx.pop(h, None)
    fp.token_coverage = get_token_coverage(fp.hash_idx, fp.k, len(fp.filtered_code))


def _line_numbers(code: str, slices) -> tuple[int, ...]:
    """1-based numbers of the lines a copydetect slice array (starts, ends in the raw code) touches."""
    starts = [0] + [i + 1 for i, ch in enumerate(code) if ch == "\n"]
    lines = set()
    for begin, end in zip(slices[0], slices[1]):
        first = bisect.bisect_right(starts, int(begin)) - 1
        last = bisect.bisect_right(starts, max(int(begin), int(end) - 1)) - 1
        lines.update(range(first + 1, last + 2))
    return tuple(sorted(lines))


def compare_step(step: str, learners: list[Learner], threshold: float, rootdir: Path, codes: dict,
                 workers: int = 1) -> tuple[list[Learner], dict, list[Pair]]:
    """One step: (learners with the script, pairs that share something, flagged pairs)."""
    from copydetect import compare_files

    base = boilerplate(step, rootdir)
    present = [learner for learner in learners if (learner.id, step) in codes]
    found = _normalise_all([codes[learner.id, step] for learner in present], workers)
    fps = {learner.id: fingerprint(filtered, offsets, base) for learner, (filtered, offsets) in zip(present, found)}
    del found
    holders = defaultdict(list)
    for learner in present:
        for h in fps[learner.id].hashes:
            holders[h].append(learner)
    limit = common_limit(len(present))
    common = {h for h, found in holders.items() if len(found) > limit}
    if common:
        for learner in present:
            mine = fps[learner.id].hashes & common
            if mine:
                _drop(fps[learner.id], mine)
    order = {learner.id: i for i, learner in enumerate(present)}
    candidates = set()
    for h, found in holders.items():
        if h not in common and len(found) > 1:
            candidates.update(itertools.combinations(sorted(found, key=lambda x: order[x.id]), 2))
    compared, flagged = {}, []
    for a, b in sorted(candidates, key=lambda ab: (order[ab[0].id], order[ab[1].id])):
        overlap, (share_a, share_b), (slices_a, slices_b) = compare_files(fps[a.id], fps[b.id])
        if not overlap:
            continue
        pair = Pair(step, a, b, float(share_a), float(share_b), int(overlap))
        if pair.score >= threshold and pair.shared >= MIN_SHARED:
            pair = dataclasses.replace(pair, lines_a=_line_numbers(codes[a.id, step], slices_a),
                                       lines_b=_line_numbers(codes[b.id, step], slices_b))
            flagged.append(pair)
        compared[step, a.id, b.id] = pair
    return present, compared, flagged


def compare(submissions: Path, threshold: float = DEFAULT_THRESHOLD, rootdir: Path = ROOT,
            steps=catalog.STEPS, workers: int | None = None) -> Report:
    """The class's report. ``workers``: processes that tokenise the scripts (default: one per core, up to
    ``MAX_WORKERS``; the rest runs in this one)."""
    from grader.session import class_learners

    if workers is None:
        workers = min(MAX_WORKERS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else
                      os.cpu_count() or 1)
    began = time.perf_counter()
    learners = class_learners(submissions)
    report = Report(submissions, threshold, learners, {}, {}, [], [], [])
    for step in steps:
        codes = {}
        for learner in learners:
            script = learner.path / f"{step}.py"
            if not (script.exists() or script.is_symlink()):
                continue
            code, was_cut = read_script(script)
            if code is None:
                report.left_out.append((learner, f"{step}.py"))
                continue
            if was_cut:
                report.cut.append((learner, f"{step}.py"))
            codes[learner.id, step] = code
        present, compared, flagged = compare_step(step, learners, threshold, rootdir, codes, workers)
        report.scripts[step] = present
        report.compared.update(compared)
        report.flagged += flagged
    report.flagged.sort(key=lambda p: (-p.score, -p.shared, p.step, p.a.id, p.b.id))
    report.seconds = time.perf_counter() - began
    return report


# -- writing ---------------------------------------------------------------------------------------------
def _score(x: float) -> str:
    return f"{x:.2f}"


def learner_label(learner: str, folder: str) -> str:
    from grader.report import learner_label as label

    return label(learner, folder)


def pair_line(pair: Pair) -> str:
    return t("similarity.pair", score=_score(pair.score), step=pair.step,
             a=learner_label(pair.a.id, pair.a.folder), b=learner_label(pair.b.id, pair.b.folder))


def write_csv(path: Path, report: Report) -> int:
    """Every pair of learners for every step both have a script for, with its scores: the pairs that share
    something first (most similar first), then the others (score 0) in class order. Returns the rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flagged = {(p.step, p.a.id, p.b.id) for p in report.flagged}
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for step, present in report.scripts.items():
            shared = sorted((p for key, p in report.compared.items() if key[0] == step),
                            key=lambda p: (-p.score, -p.shared, p.a.id, p.b.id))
            for p in shared:
                writer.writerow([step, p.a.id, p.b.id, f"{p.score:.4f}", f"{p.share_a:.4f}", f"{p.share_b:.4f}",
                                 p.shared, int((step, p.a.id, p.b.id) in flagged), p.a.folder, p.b.folder])
            rows += len(shared)
            for a, b in itertools.combinations(present, 2):
                if (step, a.id, b.id) not in report.compared:
                    writer.writerow([step, a.id, b.id, "0", "0", "0", 0, 0, a.folder, b.folder])
                    rows += 1
    return rows


def _view(code: str, shared: tuple[int, ...]) -> list[dict]:
    """The lines of a side-by-side column: shared lines with CONTEXT lines around them, gaps as one row."""
    lines = code.split("\n")  # the line numbers of _line_numbers: only "\n" ends a line
    if lines[-1] == "":
        lines.pop()
    shared = set(shared)
    keep = {n for s in shared for n in range(s - CONTEXT, s + CONTEXT + 1) if 1 <= n <= len(lines)}
    rows, last = [], 0
    for n in sorted(keep):
        if n > last + 1:
            rows.append({"gap": True})
        rows.append({"gap": False, "n": n, "text": text.clean(lines[n - 1], text.MAX_LINE, inline=True),
                     "shared": n in shared})
        last = n
    if last < len(lines):
        rows.append({"gap": True})
    return rows


def _env():
    import jinja2
    from markupsafe import Markup

    def finalize(value):
        return text.clean(value) if isinstance(value, str) and not isinstance(value, Markup) else value

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "grader" / "html_templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             finalize=finalize)
    env.globals.update(t=t)
    return env


def _label(learner: Learner) -> dict:
    return {"id": learner.id, "folder": learner.folder if learner.folder != learner.id else None}


def write_html(out: Path, report: Report) -> tuple[Path, Path | None]:
    """``out/similarity.html`` (flagged pairs, then each one's shared lines side by side), and a section in
    ``out/index.html``, when the class overview is there, linking the page and the first pairs' views.
    Returns (page, the overview linked or None)."""
    out.mkdir(parents=True, exist_ok=True)
    env = _env()
    pairs = []
    for i, pair in enumerate(report.flagged):
        entry = {"n": i + 1, "step": pair.step, "score": _score(pair.score), "shared": pair.shared,
                 "share_a": _score(pair.share_a), "share_b": _score(pair.share_b),
                 "a": _label(pair.a), "b": _label(pair.b), "view": None}
        if i < MAX_VIEWS:
            code_a, _ = read_script(pair.a.path / f"{pair.step}.py")
            code_b, _ = read_script(pair.b.path / f"{pair.step}.py")
            if code_a is not None and code_b is not None:
                entry["view"] = {"a": _view(code_a, pair.lines_a), "b": _view(code_b, pair.lines_b)}
        pairs.append(entry)
    index = out / "index.html"
    page = env.get_template("similarity.html.j2").render(
        lang=get_lang(), pairs=pairs, threshold=_score(report.threshold), learners=len(report.learners),
        compared=report.pair_count(), submissions=str(report.submissions), min_shared=MIN_SHARED,
        max_views=MAX_VIEWS, overview="index.html" if index.is_file() else None,
        written=datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"))
    path = out / PAGE
    path.write_text(page, encoding="utf-8")
    if not index.is_file():
        return path, None
    section = env.get_template("similarity_link.html.j2").render(
        page=PAGE, count=len(report.flagged), threshold=_score(report.threshold), pairs=pairs[:IN_OVERVIEW],
        start=LINK_START, end=LINK_END)
    html = index.read_text(encoding="utf-8")
    if LINK_START in html and LINK_END in html:  # a run before this one linked it: replace its section
        head, rest = html.split(LINK_START, 1)
        html = head + section.strip() + rest.split(LINK_END, 1)[1]
    elif "</body>" in html:
        html = html.replace("</body>", section + "</body>", 1)
    else:
        html += section
    index.write_text(html, encoding="utf-8")
    return path, index


# -- the command -----------------------------------------------------------------------------------------
def add_parser(sub) -> None:
    cmd = sub.add_parser("similarity", help=t("help.similarity"))
    cmd.add_argument("--submissions", required=True, type=Path, metavar="DIR", help=t("help.similarity_submissions"))
    cmd.add_argument("--csv", type=Path, default=None, metavar="PATH", help=t("help.similarity_csv"))
    cmd.add_argument("--html-report", type=Path, default=None, metavar="DIR", help=t("help.similarity_html"))
    cmd.add_argument("--threshold", type=str, default=str(DEFAULT_THRESHOLD), metavar="X",
                     help=t("help.similarity_threshold", default=DEFAULT_THRESHOLD))
    # Read before parsing by python -m grader (its --help speaks the language too); here so it may follow.
    from grader import options

    options.add_to_argparse(cmd, "lang", lang=get_lang(), dest="similarity_lang")


def main(args) -> int:
    """Flagged pairs on stdout, one a line, most similar first; what was written and left out on stderr.
    Exit 0 once the report is made (pairs flagged or not), 2 for a usage error."""
    try:
        threshold = float(args.threshold)
    except ValueError:
        threshold = -1.0
    if not 0.0 <= threshold <= 1.0:
        print(t("similarity.bad_threshold", value=args.threshold), file=sys.stderr)
        return 2
    if not args.submissions.is_dir():
        print(t("similarity.no_folder", path=str(args.submissions)), file=sys.stderr)
        return 2
    report = compare(args.submissions.resolve(), threshold)
    for learner, script in report.left_out:
        print(t("similarity.left_out", learner=learner_label(learner.id, learner.folder), script=script),
              file=sys.stderr)
    for learner, script in report.cut:
        print(t("similarity.cut", learner=learner_label(learner.id, learner.folder), script=script,
                size=MAX_SCRIPT // 1024), file=sys.stderr)
    for pair in report.flagged:
        print(pair_line(pair))
    sys.stdout.flush()
    print(t("similarity.summary", learners=len(report.learners), pairs=report.pair_count(),
            flagged=len(report.flagged), threshold=_score(threshold), seconds=f"{report.seconds:.1f}"),
          file=sys.stderr)
    if args.csv:
        rows = write_csv(args.csv, report)
        print(t("similarity.csv_written", path=str(args.csv), rows=rows), file=sys.stderr)
    if args.html_report:
        page, index = write_html(args.html_report, report)
        key = "similarity.html_linked" if index else "similarity.html_written"
        print(t(key, path=str(page), index=str(index)) if index else t(key, path=str(page)), file=sys.stderr)
    return 0
