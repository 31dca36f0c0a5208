"""``--html-report DIR``: a page per learner with pictures of what they logged, and a class overview.

A report is another view of the results the grader holds (grader/report.py) plus what the learner's
scripts left in the stack, read at the end of the grading run while the stack is still up — through the
same readers the checks use (tracking database rows, artifact-store objects). Pages are rendered from
Jinja2 templates with autoescaping on (run names, tags and artifact text are the learner's, not ours),
every printed value cleaned of control and bidi characters (grader/text.py), and figures are drawn by
grader/plots.py as inline SVG, so a page is one self-contained file.

Nothing here may cost a learner their grade: a step whose data cannot be read says so on the page, a
page that cannot be built at all is replaced by a short page saying why, and the other pages and the
other reports are written regardless.
"""

from __future__ import annotations

import base64
import datetime
import importlib.util
import json
import math
import sys
import textwrap
import time
from pathlib import Path

import jinja2
from markupsafe import Markup

from grader import catalog, outcomes, plots, report, text
from grader.checking import CheckFailed
from grader.i18n import get_lang, t
from grader.store import artifact_key

TEMPLATES = Path(__file__).resolve().parent / "html_templates"
MARKS = outcomes.MARKS
PNG = b"\x89PNG\r\n\x1a\n"
MAX_TEXT = 4000  # characters of an artifact shown on the page
MAX_IMAGE = 2 * 1024 * 1024  # bytes of an image inlined in the page
OUTPUT_LINES = 20
MAX_RUNS = 12  # runs drawn per figure: a script that starts thousands must not stall the report


def _env() -> jinja2.Environment:
    # finalize: every value a template prints is cleaned once, here (HTML escaping alone leaves a bidi
    # override free to turn a run name around, and control characters in the page).
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             finalize=_clean_value)
    env.globals.update(t=t, marks=MARKS, num=report.num)
    return env


def _clean_value(value):
    if isinstance(value, str) and not isinstance(value, Markup):
        return text.clean(value)
    return value


def page_name(learner: str) -> str:
    """The learner's page in DIR; a learner must not replace the overview, not even on a file system where
    case does not count (learner ids never are ``index``, but ids given by hand may be)."""
    return ("_" + learner if learner.casefold() == "index" else learner) + ".html"


# -- what the scripts left in the stack ----------------------------------------------------------------
class NoFigure(Exception):
    """Nothing to draw for a step; the text says why (the checks themselves say what was expected)."""


_PRELOADED: dict[str, object] = {}


def preload(rootdir: Path) -> None:
    """Load the steps' check modules once, when the grading run starts (before any learner script runs),
    for the expected values the report draws against (the controller of an xdist run collects nothing)."""
    for step in catalog.STEPS:
        path = (rootdir / "checks" / f"test_{step}.py").resolve()
        module = _collected(path)
        if module is None and path.is_file():
            spec = importlib.util.spec_from_file_location(f"_handson_report_{step}", path)
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception:  # a broken check module is the suite's problem; the report just draws less
                continue
        if module is not None:
            _PRELOADED[step] = module


def _collected(path: Path):
    for module in list(sys.modules.values()):
        try:
            if module is not None and getattr(module, "__file__", None) and Path(module.__file__).resolve() == path:
                return module
        except (OSError, TypeError, ValueError):
            continue
    return None


def _checks_module(rootdir: Path, step: str):
    """The step's check module as loaded when the run started (``preload``) or as pytest collected it; never
    executed from disk later (the checkout may have changed since), so None when neither happened."""
    return _PRELOADED.get(step) or _collected((rootdir / "checks" / f"test_{step}.py").resolve())


def _one(outcome, name: str):
    found = outcome.runs_named(name)
    if len(found) != 1:
        raise NoFigure(t("html.no_run", name=name, count=len(found)))
    return found[0]


def _step2(outcome, expected) -> dict:
    run = _one(outcome, expected.RUN)
    found = {key: sorted(run.metrics.get(key, [])) for key in expected.HISTORY}
    return {"plot": plots.histories(found, expected.HISTORY),
            "rows": [{"key": key, "expected": expected.HISTORY[key], "found": found[key]} for key in expected.HISTORY]}


def _data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _step3(outcome, expected) -> dict:
    run = _one(outcome, expected.RUN)
    prefix = artifact_key(run.artifact_uri)
    objects = outcome.objects
    stored = [k[len(prefix) + 1:] for k in objects.keys(prefix)] if prefix else []

    def get(name):
        return objects.get(f"{prefix}/{name}") if prefix else None

    def missing(name):
        """Why ``name`` is not at the artifact root: logged into a folder (artifact_path=...), or not at all."""
        folders = sorted(p.rsplit("/", 1)[0] for p in stored if "/" in p and p.rsplit("/", 1)[1] == name)
        return t("html.elsewhere", name=name, folder=folders[0] + "/") if folders else t("html.missing")

    found_text = get("file1.txt")
    raw_json = get("file2.json")
    if raw_json is None:
        json_found, json_note = None, None
    else:
        try:
            json_found, json_note = json.dumps(json.loads(raw_json.decode("utf-8")), indent=2, ensure_ascii=False), None
        except (UnicodeDecodeError, ValueError) as e:
            json_found, json_note = raw_json.decode("utf-8", "replace")[:MAX_TEXT], str(e)
    image = get("sample.png")
    original = (outcome.data_dir / "sample.png").read_bytes()
    return {
        "artifact_uri": run.artifact_uri, "in_store": prefix is not None, "store": objects.label,
        "stored": stored, "missing": {name: missing(name) for name in ("file1.txt", "file2.json", "sample.png")},
        "text": None if found_text is None else found_text.decode("utf-8", "replace")[:MAX_TEXT],
        "text_ok": found_text is not None
        and found_text.decode("utf-8", "replace").removesuffix("\n").removesuffix("\r") == expected.TEXT,
        "text_expected": expected.TEXT,
        "json": json_found, "json_note": json_note,
        "json_ok": raw_json is not None and json_note is None and json.loads(raw_json) == expected.JSON,
        "json_expected": json.dumps(expected.JSON, indent=2, ensure_ascii=False),
        "image": _data_uri(image) if image and image.startswith(PNG) and len(image) <= MAX_IMAGE else None,
        "image_size": None if image is None else len(image),
        "image_ok": image == original,
        "image_expected": _data_uri(original),
    }


def _inside(child, parent) -> bool:
    return (parent is not None and None not in (child.start_time, child.end_time, parent.start_time, parent.end_time)
            and parent.start_time <= child.start_time and child.end_time <= parent.end_time)


def _step4(outcome, expected) -> dict:
    parents = outcome.runs_named(expected.PARENT)
    parent = parents[0] if len(parents) == 1 else None
    runs = [parent] if parent else []
    if parent:
        runs += [r for r in outcome.runs() if r.parent_id == parent.run_id]
    runs += [r for r in outcome.runs() if r.name in expected.CHILDREN and r not in runs]
    runs = runs[:MAX_RUNS]
    if not runs:
        raise NoFigure(t("html.no_run", name=expected.PARENT, count=len(parents)))
    bars = [{"name": r.name or r.run_id, "role": "parent" if r is parent else "child",
             "start": r.start_time, "end": r.end_time,
             "nested": parent is not None and r.parent_id == parent.run_id,
             "inside": r is parent or _inside(r, parent)} for r in runs]
    origin = min((b["start"] for b in bars if b["start"] is not None), default=0)
    for b in bars:
        b["start_s"] = None if b["start"] is None else (b["start"] - origin) / 1000
        b["end_s"] = None if b["end"] is None else (b["end"] - origin) / 1000
    return {"plot": plots.timeline(bars), "bars": bars, "parent": expected.PARENT}


def _val(run):
    found = run.latest.get("val_rmse")
    return None if found is None or math.isnan(found[0]) else found[0]


def _child_label(run) -> str:
    name, alpha = run.name or run.run_id, run.params.get("alpha")
    return name if alpha is None or alpha in name else f"{name} (alpha={alpha})"


def _step5(outcome, expected) -> dict:
    top = _one(outcome, "sweep")
    kids = [r for r in outcome.runs() if r.parent_id == top.run_id and r.lifecycle_stage == "active"][:MAX_RUNS]
    if not kids:
        raise NoFigure(t("html.no_children", name="sweep"))
    children = [{"label": _child_label(k), "name": k.name, "run_id": k.run_id,
                 "alpha": k.params.get("alpha"), "train": sorted(k.metrics.get("train_rmse", [])), "val": _val(k),
                 "best": k.tags.get("best") == "true"} for k in kids]
    scored = [c for c in children if c["val"] is not None]
    lowest = min(scored, key=lambda c: c["val"])["name"] if scored else None
    versions = [v for v in outcome.model_versions() if v.version == 1]
    by_id = {c["run_id"]: c["name"] for c in children}
    registered = None
    if versions:
        registered = {"version": 1, "run": by_id.get(versions[0].run_id, versions[0].run_id)}
    return {"plot": plots.sweep(children), "children": children, "lowest": lowest, "registered": registered,
            "model_name": outcome.model_name, "epochs": expected.EPOCHS}


FIGURES = {"step2": _step2, "step3": _step3, "step4": _step4, "step5": _step5}


def _figure(grading, learner, step: str, expected, broken: dict) -> tuple[dict | None, str | None]:
    """(figure data, None) or (None, why there is no figure). ``broken`` remembers a stack service that
    could not be read, so the other pages do not wait on it again."""
    if broken:
        return None, broken["note"]
    try:
        outcome = grading.graded_outcome(learner, step)
        if outcome is None:
            return None, t("html.not_run")
        if not outcome.script.exists:
            return None, CheckFailed("script.missing", script=outcome.script.script).render()
        outcome.experiment()
        return FIGURES[step](outcome, expected), None
    except NoFigure as e:
        return None, str(e)
    except Exception as e:  # said on the page, never raised; what it means is grader/outcomes.py's call
        verdict = outcomes.judge(e, step)
        if verdict.status == outcomes.FAILED or (verdict.service is None and not verdict.internal):
            return None, verdict.message  # what the checks found (a failure, or someone else's tampering)
        first_line = str(e).splitlines()[0][:300] if str(e) else ""
        note = t("html.unreadable", error=f"{type(e).__name__}: {first_line}")
        if verdict.service is not None:  # a service is down: the other pages need not wait on it again
            broken["note"] = note
        return None, note


def _script(grading, learner, step: str) -> dict | None:
    if not grading.has_result(learner, step):  # not run in this grading run (-k): never run just to be shown
        return None
    s = grading.script_result(learner, step)
    if not s.exists:  # the checks' own messages say so; there is no output to show
        return None
    return {"ok": s.ok, "state": report.script_state(s, page=True), "tail": s.tail(OUTPUT_LINES),
            "duration": s.duration}


def _detail(result: report.Result) -> str:
    """The result's message without its first line (the check's id and title, shown apart)."""
    if result.status == "passed" or not result.message:
        return ""
    first, _, rest = result.message.partition("\n")
    body = rest if " — " in first and rest else result.message
    return textwrap.dedent(body).strip("\n")


def learner_context(grading, learner, checks: dict[str, report.Result], broken: dict | None = None) -> dict:
    broken = {} if broken is None else broken
    steps = []
    per_step = report.step_points(checks)
    for step in catalog.STEPS:
        rows = [{"id": c.id, "title": c.title(), "status": checks[c.id].status if c.id in checks else None,
                 "detail": _detail(checks[c.id]) if c.id in checks else ""}
                for c in catalog.CHECKS if c.step == step]
        figure, note = None, None
        expected = _checks_module(grading.cfg.rootdir, step)
        if step in FIGURES and expected is not None and any(r["status"] for r in rows):
            figure, note = _figure(grading, learner, step, expected, broken)
        got, top = per_step.get(step, (0.0, 0.0))
        steps.append({"step": step, "heading": t(f"html.{step}"), "checks": rows, "got": got, "top": top,
                      "graded": any(r["status"] for r in rows), "figure": figure, "note": note,
                      "script": _script(grading, learner, step)})
    return {"learner": report.learner_label(learner.id, learner.folder), "learner_id": learner.id,
            "folder": learner.folder, "steps": steps, "score": sum(r.score for r in checks.values()),
            "max": sum(r.max_score for r in checks.values()),
            "errors": sum(1 for r in checks.values() if r.status == "error"), **_run_facts(grading)}


def _run_facts(grading) -> dict:
    return {"lang": get_lang(), "run_id": grading.run_id, "backend": grading.backend_name,
            "backend_reason": grading.backend_reason, "tracking_uri": grading.tracking_uri() or "-",
            "started": datetime.datetime.fromtimestamp(grading.started).strftime("%Y-%m-%d %H:%M:%S"),
            "elapsed": f"{time.time() - grading.started:.1f}"}


def overview_context(grading, per_learner: dict, pages: dict[str, str], problems: dict[str, str],
                     previous: dict | None = None) -> dict:
    """``previous``: learner id -> report.Previous (--previous), shown as two columns beside the score."""
    learners = []
    for learner in grading.learners:
        checks = per_learner.get(learner.id, {})
        per_step = report.step_points(checks)
        before = (previous or {}).get(learner.id)
        score = sum(r.score for r in checks.values())
        learners.append({"previous": before.total if before else None,
                         "delta": score - before.total if before else None,"id": learner.id, "folder": learner.folder, "page": pages.get(learner.id),
                         "problem": problems.get(learner.id),
                         "score": sum(r.score for r in checks.values()),
                         "max": sum(r.max_score for r in checks.values()),
                         "failed": sum(1 for r in checks.values() if r.status == "failed"),
                         "not_graded": sum(1 for r in checks.values() if r.status == outcomes.NOT_GRADED),
                         "errors": sum(1 for r in checks.values() if r.status == "error"),
                         "steps": [per_step.get(s, (0.0, 0.0)) for s in catalog.STEPS]})
    rates = []
    for check in catalog.CHECKS:
        found = [checks[check.id] for checks in per_learner.values() if check.id in checks]
        if not found:
            continue
        counts = {s: sum(1 for r in found if r.status == s) for s in outcomes.STATUSES}
        # A not-graded check was not passed either (its root failed): it counts against the rate.
        graded = counts["passed"] + counts["failed"] + counts[outcomes.NOT_GRADED]
        rates.append({"id": check.id, "title": check.title(), **counts,
                      "rate": counts["passed"] / graded if graded else None})
    # The checks a class fails most come first: an instructor sees what to teach again.
    rates.sort(key=lambda r: (-(r["failed"] / max(r["passed"] + r["failed"], 1)), -r["failed"]))
    top = catalog.max_points()
    scores = [x["score"] for x in learners if x["max"]]
    return {"learners": learners, "rates": rates, "steps": catalog.STEPS, "top": top, "with_previous": previous is not None,
            "restarts": report.restart_lines(grading.restarts())[1:],
            "histogram": plots.score_histogram(scores, top) if scores else None,
            "rates_plot": plots.check_rates(rates) if rates else None,
            "errors": sum(x["errors"] for x in learners), **_run_facts(grading)}


# -- writing ---------------------------------------------------------------------------------------------
def _fallback(env, learner: str, error: BaseException) -> str:
    return env.get_template("broken.html.j2").render(
        learner=learner, lang=get_lang(), error=f"{type(error).__name__}: {error}")


def write(grading, results: list[report.Result], out: Path, began: float | None = None,
          previous: dict | None = None) -> list[str]:
    """Write the pages; returns lines for the terminal (where the report is, and what went wrong).
    ``began``: when the caller started on the report (``time.perf_counter()``), imports included;
    ``previous``: the previous run's results (--previous), for the overview."""
    began = time.perf_counter() if began is None else began
    out.mkdir(parents=True, exist_ok=True)
    env = _env()
    per_learner = report.by_learner(results)
    pages, problems, lines, broken = {}, {}, [], {}
    first_page = None
    for learner in grading.learners:
        try:
            html = env.get_template("learner.html.j2").render(
                **learner_context(grading, learner, per_learner.get(learner.id, {}), broken),
                overview="index.html" if grading.cfg.submissions else None)
        except Exception as e:  # one learner's page must never cost the others theirs
            problems[learner.id] = f"{type(e).__name__}: {e}"
            lines.append(t("html.page_failed", learner=learner.id, error=problems[learner.id]))
            html = _fallback(env, learner.id, e)
        (out / page_name(learner.id)).write_text(html, encoding="utf-8")
        pages[learner.id] = page_name(learner.id)
        first_page = first_page or html
    if grading.cfg.submissions:
        try:
            index = env.get_template("overview.html.j2").render(
                **overview_context(grading, per_learner, pages, problems, previous))
        except Exception as e:
            lines.append(t("html.page_failed", learner="index.html", error=f"{type(e).__name__}: {e}"))
            index = _fallback(env, "index.html", e)
    else:
        index = first_page or ""
    (out / "index.html").write_text(index, encoding="utf-8")
    lines.insert(0, t("html.written", path=out / "index.html", count=len(pages),
                      seconds=f"{time.perf_counter() - began:.1f}"))
    return lines
