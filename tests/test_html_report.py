"""``--html-report``: the pages, graded on the session's real local stack and opened in headless Chromium.

One class run (``--submissions``, two xdist workers) holds a reference answer, the untouched stubs, a
script that crashes, a step-4 mistake and a learner whose file1.txt holds markup; one single-learner run
in Japanese grades two steps only. The pages are opened in Debian's ``chromium`` through Playwright
(its own browser download is not used): every figure must have loaded and drawn its series, links
between the overview and the learner pages must lead where they say, and no page may log an error.
Under CI=true a missing browser fails these tests; elsewhere they skip.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import re
import shutil
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT, SUBMISSIONS, grade

pytestmark = [pytest.mark.realstack, pytest.mark.slow]

PARALLEL = ["-n", "2"] if importlib.util.find_spec("xdist") else []
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MARKUP = "<script>window.__pwned = 1</script><b>bold?</b>"
GRADER_TRACEBACK = re.compile(r'File "[^"]*(grader|_pytest|pluggy)/')
FIGURES = {"step2-history": 4, "step4-timeline": 3, "step5-sweep": 3}


def require_browser() -> str:
    """Chromium and Playwright; under CI=true these tests must run, so their absence fails."""
    missing = []
    if CHROMIUM is None:
        missing.append("the chromium browser (Debian: apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if missing:
        message = "the browser tests need " + " and ".join(missing)
        if IN_CI:
            pytest.fail(message + " (CI=true: bash scripts/setup.sh --with-browser installs both)")
        pytest.skip(message)
    return CHROMIUM


# -- the graded runs -----------------------------------------------------------------------------------
def _copy(src: Path, dest: Path, only: str | None = None) -> None:
    dest.mkdir(parents=True)
    for script in sorted(src.glob("step[0-9].py")):
        if only is None or script.stem == only:
            shutil.copy2(script, dest / script.name)


@pytest.fixture(scope="module")
def class_report(local_stack_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("html-class")
    subs = root / "subs"
    _copy(ROOT / "solutions", subs / "model")
    _copy(ROOT / "exercises", subs / "stub")
    _copy(SUBMISSIONS / "broken" / "crash_step2", subs / "crash")
    _copy(SUBMISSIONS / "faulty" / "step4_children_after_parent", subs / "late")
    _copy(ROOT / "solutions", subs / "markup", only="step3")
    step3 = subs / "markup" / "step3.py"
    step3.write_text(step3.read_text().replace('log_text("Hello world"', f'log_text({MARKUP!r}'))
    out = root / "html"
    graded = grade(root, "--lang", "en", "--html-report", str(out), *PARALLEL, stack_file=local_stack_file,
                   submissions=subs, timeout=1800)
    assert (out / "index.html").is_file(), graded.output[-4000:]
    return graded, out


@pytest.fixture(scope="module")
def single_report(local_stack_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("html-single")
    out = root / "html"
    graded = grade(root, "--lang", "ja", "-k", "step2 or step3", "--html-report", str(out),
                   stack_file=local_stack_file, submission=ROOT / "solutions", timeout=900)
    assert (out / "index.html").is_file(), graded.output[-4000:]
    return graded, out


# -- the browser ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Page:
    """A page opened in the browser, with every console error and failed request it produced."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url[:100]}"))
        self.page.on("request", lambda r: r.url.startswith(("http:", "https:"))
                     and self.problems.append(f"network request: {r.url}"))
        self.page.goto(url)
        self.page.wait_for_load_state("load")

    def close(self):
        assert not self.problems, self.problems
        self.page.close()


@pytest.fixture
def open_page(browser):
    pages = []

    def open_(path: Path) -> Page:
        pages.append(Page(browser, path.as_uri()))
        return pages[-1]

    yield open_
    for p in pages:
        p.close()


# Draws a text and a character no font has (a private-use code point) in the page's font; same pixels = tofu.
TOFU_PROBE = """text => {
    const canvas = document.createElement("canvas");
    canvas.width = 160; canvas.height = 40;
    const g = canvas.getContext("2d");
    g.font = "28px " + getComputedStyle(document.body).fontFamily;
    const draw = s => {
        g.clearRect(0, 0, 160, 40);
        g.fillText(s, 2, 32);
        return g.getImageData(0, 0, 160, 40).data.join(",");
    };
    return [draw(text), draw("\\u{10FFFD}".repeat(text.length))];
}"""


def _svg(uri: str) -> str:
    assert uri.startswith("data:image/svg+xml;base64,"), uri[:60]
    return base64.b64decode(uri.split(",", 1)[1]).decode("utf-8")


def _series_in_svg(uri: str) -> int:
    return len(set(re.findall(r'id="(series-\d+)"', _svg(uri))))


def _figure_svg(page: Page, name: str) -> str:
    return _svg(page.page.locator(f"figure[data-plot={name}] img").get_attribute("src"))


def _colours(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 20) or [])


def check_figures(page: Page, shots: Path, expected: dict[str, int]) -> None:
    """Every figure on the page loaded, drew the series expected, and shows more than a blank box."""
    figures = page.page.locator("figure.plot")
    found = {}
    for i in range(figures.count()):
        figure = figures.nth(i)
        name = figure.get_attribute("data-plot")
        img = figure.locator("img")
        loaded = img.evaluate("el => el.complete && el.naturalWidth > 0 && el.naturalHeight > 0")
        assert loaded, f"{name}: the image did not load"
        series = _series_in_svg(img.get_attribute("src"))
        assert series == int(figure.get_attribute("data-series")), name
        shot = img.screenshot(path=str(shots / f"{name}.png"))
        assert _colours(shot) > 20, f"{name}: the rendered figure is (nearly) blank"
        found[name] = series
    assert found == expected, found


# -- the class overview and the learner pages ----------------------------------------------------------
def test_class_overview_links_and_figures(class_report, open_page, tmp_path):
    graded, out = class_report
    assert "HTML report:" in graded.output, graded.output[-3000:]
    assert not GRADER_TRACEBACK.search(graded.output), graded.output
    page = open_page(out / "index.html")
    page.page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    check_figures(page, tmp_path, {"score-histogram": 1, "check-rates": 3})
    rows = page.page.locator("table#rates tr[data-check]")
    rates = []
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td.num").all_inner_texts()
        passed, failed = int(cells[0]), int(cells[1])
        rates.append(failed / max(passed + failed, 1))
    assert rates and rates == sorted(rates, reverse=True), rates  # the checks failed most come first
    links = page.page.locator("a.learner-link")
    assert sorted(links.all_inner_texts()) == ["open"] * 5
    assert {page.page.locator("tr.learner").nth(i).get_attribute("data-learner") for i in range(5)} == {
        "model", "stub", "crash", "late", "markup"}
    # Follow a link in the browser, and the learner page's link back.
    page.page.locator("tr.learner[data-learner=late] a.learner-link").click()
    page.page.wait_for_load_state("load")
    assert page.page.url.endswith("/late.html")
    assert page.page.locator("body").get_attribute("data-learner") == "late"
    page.page.locator("a#to-overview").click()
    page.page.wait_for_load_state("load")
    assert page.page.url.endswith("/index.html")
    assert page.page.locator("body").get_attribute("data-overview") == "true"


def test_reference_answer_page_draws_every_figure(class_report, open_page, tmp_path):
    _, out = class_report
    page = open_page(out / "model.html")
    page.page.screenshot(path=str(tmp_path / "model.png"), full_page=True)
    check_figures(page, tmp_path, FIGURES)
    statuses = page.page.locator("tr.check").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert statuses == ["passed"] * 27
    assert page.page.locator("#score").inner_text().endswith("27 / 27")
    images = page.page.locator("img.artifact-image")
    assert images.count() == 2
    assert images.evaluate_all("els => els.every(e => e.complete && e.naturalWidth > 0)")
    registered = page.page.locator("#registered").inner_text()
    best = page.page.locator("#step5 tr.best td").first.inner_text()
    # one val_rmse mark per child on a panel of its own, only the child tagged best drawn as such
    marks = re.findall(r'<g id="(val-\d+(?:-best)?)">', _figure_svg(page, "step5-sweep"))
    assert len(marks) == 3 and len([m for m in marks if m.endswith("-best")]) == 1, marks
    assert "version 1" in registered and best in registered, (registered, best)
    assert page.page.locator("#run-id").inner_text().strip()


def test_children_outside_the_parent_are_seen(class_report, open_page):
    _, out = class_report
    page = open_page(out / "late.html")
    timeline = page.page.locator("figure[data-plot=step4-timeline]")
    assert timeline.get_attribute("data-series") == "3"
    inside = page.page.locator("#step4 td span.bad")
    assert inside.count() == 2  # both children ran after ParentRun ended
    assert page.page.locator("tr[data-check='step4.timeline']").get_attribute("data-status") == "failed"


def test_crashed_script_page_shows_its_output_not_a_grader_traceback(class_report, open_page):
    _, out = class_report
    page = open_page(out / "crash.html")
    step2 = page.page.locator("#step2")
    output = step2.locator("details.output")
    assert output.get_attribute("open") is not None
    assert "NameError: name 'relu' is not defined" in output.inner_text()
    # The run began before the crash: its (empty) histories are drawn next to the expected ones.
    assert step2.locator("figure").get_attribute("data-series") == "2"
    assert step2.locator("tr[data-check='step2.tag']").get_attribute("data-status") == "passed"
    # Steps with no script say so instead of drawing.
    note = page.page.locator("#step4 .figure-note").inner_text()
    assert "crash/step4.py" in note and "does not exist" in note, note
    text = page.page.locator("body").inner_text()
    assert not GRADER_TRACEBACK.search(text), text


def test_learner_markup_is_shown_as_text(class_report, open_page):
    _, out = class_report
    page = open_page(out / "markup.html")
    assert page.page.locator("#found-file1").inner_text() == MARKUP
    assert page.page.evaluate("() => window.__pwned") is None
    assert page.page.locator("script").count() == 0
    assert page.page.locator("#step3 b").count() == 0
    assert "&lt;script&gt;" in (out / "markup.html").read_text(encoding="utf-8")


def test_stub_page_explains_every_missing_figure(class_report, open_page):
    _, out = class_report
    page = open_page(out / "stub.html")
    assert page.page.locator("body").get_attribute("data-broken") is None
    for step in ("step2", "step3", "step4", "step5"):
        section = page.page.locator(f"#{step}")
        assert section.locator("figure").count() + section.locator(".figure-note").count() >= 1, step


# -- one learner, in Japanese ----------------------------------------------------------------------------
def test_single_learner_index_is_the_learner_page_in_japanese(single_report, open_page, tmp_path):
    graded, out = single_report
    assert (out / "index.html").read_text(encoding="utf-8") == (out / "solutions.html").read_text(encoding="utf-8")
    assert "HTML レポート" in graded.output, graded.output[-2000:]
    page = open_page(out / "index.html")
    page.page.screenshot(path=str(tmp_path / "ja.png"), full_page=True)
    assert page.page.locator("html").get_attribute("lang") == "ja"
    assert "ハンズオン採点レポート" in page.page.title()
    assert page.page.locator("a#to-overview").count() == 0
    check_figures(page, tmp_path, {"step2-history": 4})
    history = _figure_svg(page, "step2-history")
    assert ">値</text>" in history and "（期待値）" in history and ">value</text>" not in history, \
        "the figure's axis titles and legend are in Japanese on the Japanese page"
    # Japanese is drawn with a real font: its glyphs differ from the box a missing glyph leaves (tofu).
    japanese, missing = page.page.evaluate(TOFU_PROBE, page.page.locator("h1").inner_text()[:4])
    assert japanese != missing, "Japanese text renders as empty boxes: install a CJK font (fonts-noto-cjk)"
    # Steps left out with -k are not run just for the report.
    assert page.page.locator("#step4 tr.check[data-status=ungraded]").count() == 4
    assert page.page.locator("#step4 figure").count() == 0
    assert len(page.page.locator("img.artifact-image").all()) == 2


# -- a page that cannot be built -------------------------------------------------------------------------
def test_a_page_that_fails_is_replaced_and_the_others_are_written(tmp_path):
    """A learner whose data cannot even be listed gets a page saying so; the class page still lists them."""
    from grader import html_report, report
    from grader.config import GraderConfig
    from grader.session import Learner

    class Grading:  # the parts of GradingSession the pages read, one learner's results unreadable
        cfg = GraderConfig(rootdir=ROOT, submission=None, submissions=tmp_path, stack="local",
                           submission_timeout=60, stack_timeout=60, lang="en", grade_json=None, gradebook=None,
                           shard=None, ports={}, debug=False)
        learners = [Learner("alice", tmp_path / "alice"), Learner("bob", tmp_path / "bob")]
        run_id, backend_name, backend_reason, started = "x", "local", "test", 0.0

        def tracking_uri(self):
            return None

        def restarts(self):
            return []

        def graded_outcome(self, learner, step):
            return None

        def has_result(self, learner, step):
            return learner.id == "bob" and step == "step1"

        def script_result(self, learner, step):
            raise OSError("results folder gone")

    results = [report.Result(name, "step1.server", "passed") for name in ("alice", "bob")]
    lines = html_report.write(Grading(), results, tmp_path / "html")
    assert any("bob" in line and "results folder gone" in line for line in lines), lines
    bob = (tmp_path / "html" / "bob.html").read_text(encoding="utf-8")
    assert 'data-broken="true"' in bob and "results folder gone" in bob
    assert 'data-broken' not in (tmp_path / "html" / "alice.html").read_text(encoding="utf-8")
    index = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    assert 'href="alice.html"' in index and 'href="bob.html"' in index


def test_report_folder_that_cannot_be_written_loses_no_other_report(grade_local, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the report folder should go")
    graded = grade_local("-k", "test_step1 and server", "--lang", "en", "--html-report", str(blocker),
                         submission=ROOT / "solutions")
    assert graded.statuses() == {"step1.server": "passed"}, graded.output[-3000:]  # results.json is written
    assert "could not be built" in graded.output and "not-a-folder" in graded.output, graded.output[-3000:]
    assert not GRADER_TRACEBACK.search(graded.output) and "INTERNALERROR" not in graded.output, graded.output


def test_no_stack_gives_a_page_of_errors_not_of_failures(tmp_path):
    """The stack never came up: every check is `!`, the page says so, and no script is run for the figures."""
    out = tmp_path / "html"
    graded = grade(tmp_path, "--stack", "external", "-k", "test_step2", "--lang", "en", "--html-report", str(out),
                   submission=ROOT / "solutions")
    assert set(graded.statuses().values()) == {"error"}, graded.output[-3000:]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "7 check(s) marked ! were not graded" in page
    assert page.count('data-status="error"') == 7 and 'data-status="failed"' not in page
    assert "this step&#39;s script was not run in this grading run" in page
    assert "<figure" not in page and "grading process down" not in page


def test_report_reads_expected_values_from_the_collected_checks_never_from_disk_again(tmp_path):
    """A check module changed on disk after collection (a hostile script writing into the checkout) is not
    executed by the report: it uses the module pytest imported, or draws nothing."""
    import importlib.util
    import sys

    from grader.html_report import _checks_module

    (tmp_path / "checks").mkdir()
    planted = tmp_path / "ran.txt"
    module_file = tmp_path / "checks" / "test_step2.py"
    module_file.write_text(f"RUN = 'SampleA'\nopen({str(planted)!r}, 'a').write('x')\n")
    assert _checks_module(tmp_path, "step2") is None
    assert not planted.exists(), "the report executed a check module from disk"
    # Loaded once when the run starts (as the controller does), then never again whatever the file becomes.
    from grader import html_report

    html_report.preload(tmp_path)
    try:
        first = _checks_module(tmp_path, "step2")
        assert first is not None and first.RUN == "SampleA" and planted.read_text() == "x"
        module_file.write_text(f"RUN = 'changed'\nopen({str(planted)!r}, 'a').write('z')\n")
        assert _checks_module(tmp_path, "step2") is first and planted.read_text() == "x"
    finally:
        html_report._PRELOADED.clear()
    planted.unlink()
    module_file.write_text(f"RUN = 'SampleA'\nopen({str(planted)!r}, 'a').write('x')\n")

    spec = importlib.util.spec_from_file_location("_collected_step2_for_test", module_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["_collected_step2_for_test"] = module
    try:
        module_file.write_text(f"RUN = 'changed'\nopen({str(planted)!r}, 'a').write('y')\n")
        assert _checks_module(tmp_path, "step2") is module
        assert planted.read_text() == "x" and module.RUN == "SampleA"
    finally:
        del sys.modules["_collected_step2_for_test"]
