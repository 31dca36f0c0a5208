"""``python -m grader merge``: the reports of a class graded in shards (``--shard=i/N``), made one.

Inputs are what the shards wrote, each recognised by what it is: gradebook CSV files (``--gradebook``, the
grader's own csv format), results folders (``--grade-json DIR``: ``<learner>/results.json``), JUnit XML files
(pytest's ``--junitxml``) and HTML report folders (``--html-report DIR``). Outputs: the gradebook (``-o``, in
``--gradebook-format`` with ``--roster``), the results folder (``--grade-json``), one JUnit XML
(``--junitxml``) and the HTML report with its class overview (``--html-report``).

A merge is refused — nothing written, the learners named — when a learner is in two shards (always found:
the same learner id in two inputs of a kind), or, when the class is known (``--submissions DIR``, with
``--learners`` if the shards graded only those), when a learner of the class is in no shard.
"""

from __future__ import annotations

import codecs
import dataclasses
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from grader import report
from grader.i18n import t


class MergeError(Exception):
    """The merge is refused; the message (in the reader's language) says why."""


@dataclasses.dataclass
class Inputs:
    gradebooks: list[Path] = dataclasses.field(default_factory=list)
    results: list[Path] = dataclasses.field(default_factory=list)
    junit: list[Path] = dataclasses.field(default_factory=list)
    html: list[Path] = dataclasses.field(default_factory=list)


def classify(paths: list[Path]) -> Inputs:
    inputs = Inputs()
    for path in paths:
        if path.is_file() and path.suffix.lower() == ".csv":
            inputs.gradebooks.append(path)
        elif path.is_file() and path.suffix.lower() == ".xml":
            inputs.junit.append(path)
        elif path.is_dir() and (path / "index.html").is_file():
            inputs.html.append(path)
        elif path.is_dir() and any(path.glob(f"*/{report.RESULTS_FILE}")):
            inputs.results.append(path)
        else:
            raise MergeError(t("merge.unknown_input", path=str(path)))
    return inputs


def expected_learners(submissions: Path | None, learners: tuple[str, ...] = ()) -> list[str] | None:
    """The learner ids of the class (as every shard gives them), or None when the class is not known."""
    if submissions is None:
        return None
    from grader.session import Learner, class_learners, select_learners

    if not submissions.is_dir():
        raise MergeError(t("merge.no_class", path=str(submissions)))
    found: list[Learner] = class_learners(submissions)
    if learners:
        try:
            found = select_learners(found, learners, submissions)
        except ValueError as e:
            raise MergeError(str(e)) from None
    return [lr.id for lr in found]


def _check(kind: str, seen: dict[str, list[str]], expected: list[str] | None) -> list[str]:
    """The problems of one kind of input: learners in two inputs (or twice in one), learners in none."""
    problems = []
    twice = sorted(lr for lr, where in seen.items() if len(where) > 1)
    if twice:
        problems.append(t("merge.duplicate", kind=kind, count=len(twice), names=t("value.sep").join(
            t("merge.where", learner=lr, inputs=t("value.sep").join(seen[lr])) for lr in twice)))
    if expected is not None:
        missing = [lr for lr in expected if lr not in seen]
        if missing:
            problems.append(t("merge.missing", kind=kind, count=len(missing), names=t("value.sep").join(missing)))
        extra = sorted(lr for lr in seen if lr not in expected)
        if extra:
            problems.append(t("merge.not_in_class", kind=kind, count=len(extra), names=t("value.sep").join(extra)))
    return problems


# -- reading the shards ------------------------------------------------------------------------------------
def read_gradebooks(paths: list[Path]) -> tuple[list[dict], dict[str, list[str]]]:
    rows, seen = [], {}
    for path in paths:
        found = report.read_gradebook(path)
        if found and not {"learner", "total", "max"} <= set(found[0]):
            raise MergeError(t("merge.not_a_gradebook", path=str(path)))
        for row in found:
            seen.setdefault(row["learner"], []).append(str(path))
            rows.append(row)
    return rows, seen


def read_results(paths: list[Path]) -> tuple[dict[str, tuple[Path, dict]], dict[str, list[str]]]:
    """learner id -> (its results.json, what it holds), and the folders each learner is in."""
    merged, seen = {}, {}
    for folder in paths:
        try:
            files = report.results_files(folder)
        except ValueError as e:  # a results.json that is not JSON
            raise MergeError(t("merge.bad_results", path=str(folder), error=str(e))) from None
        for learner, (file, data) in files.items():
            seen.setdefault(learner, []).append(str(folder))
            merged[learner] = (file, data)
    return merged, seen


def _junit_learner(name: str) -> str | None:
    """The learner id of a JUnit test case name (``test_run[alice]``); pytest writes non-ASCII escaped."""
    if not (name.endswith("]") and "[" in name):
        return None
    shown = name[name.rindex("[") + 1:-1]
    try:
        return codecs.decode(shown, "unicode_escape") if "\\" in shown else shown
    except (UnicodeDecodeError, ValueError):
        return shown


def read_junit(paths: list[Path]) -> tuple[list[tuple[Path, ET.Element, list[ET.Element]]], dict[str, list[str]]]:
    suites, seen = [], {}
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            raise MergeError(t("merge.bad_junit", path=str(path), error=str(e))) from None
        learners = set()
        for suite in [root] if root.tag == "testsuite" else root.iter("testsuite"):
            cases = list(suite.iter("testcase"))
            suites.append((path, suite, cases))
            learners |= {_junit_learner(case.get("name") or "") for case in cases}
        for learner in sorted(learners - {None}):
            seen.setdefault(learner, []).append(str(path))
    return suites, seen


# -- writing -------------------------------------------------------------------------------------------------
def gradebook_from_results(merged: dict[str, tuple[Path, dict]]) -> list[dict]:
    """Gradebook rows rebuilt from results.json (when no shard gradebook was given)."""
    results, folders, restarts = [], {}, []
    for learner, (_folder, data) in merged.items():
        results += report.results_of_json(learner, data).values()
        extra = data.get("extra_data") or {}
        folders[learner] = extra.get("folder") or learner
        restarts += [{"scripts": [(learner, step) for step in e.get("steps") or [""]]}
                     for e in extra.get("restarts") or []]
    return report.gradebook_rows(results, folders, restarts)


def write_results(out: Path, merged: dict[str, tuple[Path, dict]]) -> None:
    """Each learner's results.json copied as its shard wrote it, under the same folder name."""
    for _learner, (file, _data) in sorted(merged.items()):
        target = report.results_path(out, file.parent.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)


def write_junit(out: Path, suites) -> None:
    """One <testsuites> holding one <testsuite> with every shard's test cases, its counts added up."""
    merged = ET.Element("testsuites")
    suite = ET.SubElement(merged, "testsuite", name="pytest")
    counts = {"errors": 0, "failures": 0, "skipped": 0, "tests": 0}
    seconds = 0.0
    stamps, hosts = [], []
    for _path, source, cases in suites:
        for case in cases:
            suite.append(case)
            counts["tests"] += 1
            counts["failures"] += case.find("failure") is not None
            counts["errors"] += case.find("error") is not None
            counts["skipped"] += case.find("skipped") is not None
        seconds += float(source.get("time") or 0)
        stamps += [source.get("timestamp")] if source.get("timestamp") else []
        hosts += [source.get("hostname")] if source.get("hostname") else []
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{seconds:.3f}")
    if stamps:
        suite.set("timestamp", min(stamps))
    if hosts:
        suite.set("hostname", hosts[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(merged).write(out, encoding="utf-8", xml_declaration=True)


def merge(args) -> int:
    from grader import lms

    try:
        inputs = classify([Path(p) for p in args.inputs])
        wanted = {"gradebook": args.output, "results": args.grade_json, "junit": args.junitxml,
                  "html": args.html_report}
        if not any(wanted.values()):
            raise MergeError(t("merge.no_output"))
        if args.html_report and not inputs.html:
            raise MergeError(t("merge.needs_input", option="--html-report", kind=t("merge.kind.html")))
        if args.html_report and not inputs.results:
            raise MergeError(t("merge.html_needs_results"))
        if args.grade_json and not inputs.results:
            raise MergeError(t("merge.needs_input", option="--grade-json", kind=t("merge.kind.results")))
        if args.junitxml and not inputs.junit:
            raise MergeError(t("merge.needs_input", option="--junitxml", kind=t("merge.kind.junit")))
        if args.output and not (inputs.gradebooks or inputs.results):
            raise MergeError(t("merge.needs_input", option="-o", kind=t("merge.kind.gradebook")))
        from grader.config import parse_learners

        if args.learners and not args.submissions:
            raise MergeError(t("learners.needs_submissions"))
        expected = expected_learners(Path(args.submissions) if args.submissions else None,
                                     parse_learners(args.learners))
        roster = lms.read_roster(Path(args.roster)) if args.roster else None
        if roster is not None and args.gradebook_format == "moodle":
            lms.moodle_identifier(roster)
        rows, seen_rows = read_gradebooks(inputs.gradebooks)
        results, seen_results = read_results(inputs.results)
        suites, seen_junit = read_junit(inputs.junit)
        pages, seen_pages = read_html(inputs.html)
        problems = []
        for kind, seen, given in (("gradebook", seen_rows, inputs.gradebooks), ("results", seen_results, inputs.results),
                                  ("junit", seen_junit, inputs.junit), ("html", seen_pages, inputs.html)):
            if given:
                problems += _check(t(f"merge.kind.{kind}"), seen, expected)
        if problems:
            raise MergeError("\n".join([t("merge.refused"), *("  " + p for p in problems)]))
    except (MergeError, ValueError, OSError) as e:  # ValueError: a roster's (lms.RosterError); OSError names its file
        print(str(e), file=sys.stderr)
        return 1
    lines = []
    if args.output:
        gradebook_rows = rows if inputs.gradebooks else gradebook_from_results(results)
        matched = report.write_gradebook(Path(args.output), gradebook_rows, args.gradebook_format, roster)
        lines.append(t("merge.wrote_gradebook", count=len(gradebook_rows), path=args.output))
        if matched is not None:
            lines += lms.problem_lines(matched, roster, args.gradebook_format)
    if args.grade_json:
        write_results(Path(args.grade_json), results)
        lines.append(t("merge.wrote_results", count=len(results), path=args.grade_json))
    if args.junitxml:
        write_junit(Path(args.junitxml), suites)
        lines.append(t("merge.wrote_junit", count=sum(len(c) for _, _, c in suites), path=args.junitxml))
    if args.html_report:
        lines += write_html(Path(args.html_report), pages, results)
    print("\n".join(lines))
    return 0


# -- HTML report ---------------------------------------------------------------------------------------------
def read_html(paths: list[Path]) -> tuple[dict[str, Path], dict[str, list[str]]]:
    """Learner pages of the shards' HTML reports: learner id -> page (every .html but the overview)."""
    pages, seen = {}, {}
    for folder in paths:
        for page in sorted(folder.glob("*.html")):
            if page.name == "index.html":
                continue
            learner = page.stem[1:] if page.stem.casefold() == "_index" else page.stem
            seen.setdefault(learner, []).append(str(folder))
            pages[learner] = page
    return pages, seen


def write_html(out: Path, pages: dict[str, Path], results: dict[str, tuple[Path, dict]]) -> list[str]:
    """The learner pages copied as they are, and a class overview drawn from the merged results."""
    from grader import html_report

    out.mkdir(parents=True, exist_ok=True)
    for page in pages.values():
        shutil.copyfile(page, out / page.name)
    per_learner = {learner: report.results_of_json(learner, data) for learner, (_f, data) in results.items()}
    run = _MergedRun(results)
    env = html_report._env()
    try:
        index = env.get_template("overview.html.j2").render(**html_report.overview_context(
            run, per_learner, {lr: page.name for lr, page in pages.items()}, {}))
    except Exception as e:  # never lose the pages for the overview
        index = html_report._fallback(env, "index.html", e)
    (out / "index.html").write_text(index, encoding="utf-8")
    return [t("merge.wrote_html", count=len(pages), path=str(out / "index.html"))]


class _MergedRun:
    """What the overview reads of a grading run, for shards merged after the fact."""

    def __init__(self, results: dict[str, tuple[Path, dict]]):
        import time
        from types import SimpleNamespace

        self.learners = [SimpleNamespace(id=lr, folder=(data.get("extra_data") or {}).get("folder") or lr)
                         for lr, (_f, data) in sorted(results.items())]
        # A restart of the shared stack is in the results.json of every learner it touched: one event again.
        events: dict[tuple, dict] = {}
        for lr, (_f, data) in sorted(results.items()):
            for e in (data.get("extra_data") or {}).get("restarts") or []:
                if e.get("time") is None or not e.get("service"):
                    continue
                event = events.setdefault((e["time"], e["service"]), {**e, "scripts": []})
                event["scripts"] += [(lr, step) for step in e.get("steps") or []]
        self._restarts = list(events.values())
        uris = sorted({(data.get("extra_data") or {}).get("tracking_uri") or "-" for _f, data in results.values()})
        self.run_id = t("merge.run_id", count=len({str(f.parent.parent) for f, _ in results.values()}))
        self.backend_name, self.backend_reason = "-", t("merge.backend_reason")
        self._uri = t("value.sep").join(uris)
        self.started = time.time()

    def restarts(self) -> list[dict]:
        return sorted(self._restarts, key=lambda e: e.get("time") or 0)

    def tracking_uri(self) -> str:
        return self._uri
