"""The report's figures (grader/plots.py), drawn without a stack: words in the reader's language, and step 5's
val_rmse drawn so that every child's value stays visible and the child tagged best cannot be mistaken."""

from __future__ import annotations

import base64
import re

import pytest

from grader import i18n, plots


def svg(plot: plots.Plot) -> str:
    return base64.b64decode(plot.uri.split(",", 1)[1]).decode("utf-8")


def texts(drawing: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", drawing)


@pytest.fixture(params=["en", "ja"])
def lang(request):
    i18n.set_lang(request.param)
    yield request.param
    i18n.set_lang("en")


def child(alpha, val, best=False, epochs=10):
    return {"label": f"alpha={alpha}", "train": [(e, 1.0 / (e + 1) + alpha) for e in range(epochs)], "val": val,
            "best": best}


# Three children whose val_rmse differ in the fifth decimal: drawn on one axis, their marks would cover each other.
CLOSE = [child(0.001, 0.41231), child(0.01, 0.41229, best=True), child(0.1, 0.41240)]


def val_marks(drawing: str) -> dict[str, float]:
    """id of each val_rmse mark -> the y of the marker it draws."""
    marks = {}
    for mark in re.finditer(r'<g id="(val-\d+(?:-best)?)">(.*?)</g>\s*</g>', drawing, flags=re.S):
        marks[mark.group(1)] = float(re.search(r'<use [^>]*\by="([-\d.]+)"', mark.group(2)).group(1))
    return marks


def test_every_child_has_its_own_visible_val_rmse_mark_and_the_best_one_stands_out():
    drawing = svg(plots.sweep(CLOSE))
    marks = val_marks(drawing)
    assert sorted(marks) == ["val-0", "val-1-best", "val-2"], marks
    assert len(set(marks.values())) == 3, f"marks share a row and hide each other: {marks}"
    words = texts(drawing)
    # each value is written out, with enough decimals to tell them apart, the lowest marked
    for value in ("0.41231", "0.41240"):
        assert any(w.startswith(value) for w in words), words
    assert any(w.startswith("0.41229") and "(lowest)" in w and "best = true" in w for w in words), words
    # the best child's name is bold on the val_rmse panel
    assert re.search(r'<text style="font-weight: 700;[^>]*>alpha=0\.01</text>', drawing), "best child not bold"


def test_val_rmse_is_not_drawn_on_the_epoch_axis():
    """val_rmse has a panel and an axis of its own, never a point at x = 10 on the train_rmse curve."""
    words = texts(svg(plots.sweep(CLOSE)))
    assert "val_rmse" in words and "train_rmse" in words
    assert not any("star" in w for w in words), words


def test_a_best_tag_on_the_wrong_child_shows():
    drawing = svg(plots.sweep([child(0.001, 0.5, best=True), child(0.01, 0.3), child(0.1, 0.9)]))
    words = texts(drawing)
    assert any(w.startswith("0.5000") and "best = true" in w and "lowest" not in w for w in words), words
    assert any(w.startswith("0.3000") and "(lowest)" in w for w in words), words
    assert sorted(val_marks(drawing)) == ["val-0-best", "val-1", "val-2"]


def test_a_child_without_val_rmse_says_so():
    drawing = svg(plots.sweep([child(0.001, 0.5, best=True), child(0.01, None, epochs=0)]))
    assert sorted(val_marks(drawing)) == ["val-0-best"]
    assert "no val_rmse" in texts(drawing)


JAPANESE_WORDS = {
    "histories": (lambda: plots.histories({"mse": [(0, 1.0)]}, {"mse": [(0, 1.0), (1, 2.0)]}), ["値", "mse（期待値）"]),
    "timeline": (lambda: plots.timeline([{"name": "ParentRun", "role": "parent", "inside": True, "start": 0, "end": 10}]),
                 ["最初の run の開始からの秒数"]),
    "sweep": (lambda: plots.sweep(CLOSE), ["エポックごとの train_rmse", "エポック（step）", "子 run ごとの val_rmse"]),
    "histogram": (lambda: plots.score_histogram([1, 2], 5), ["得点（満点 5）", "受講者数"]),
    "rates": (lambda: plots.check_rates([{"id": "step1.server", "passed": 1, "failed": 1, "error": 0}]),
              ["合格", "不合格", "受講者数"]),
}
ENGLISH_WORDS = ("value", "(expected)", "seconds since", "epoch", "points (of", "learners", "passed", "failed",
                 "[best = true]", "star")


@pytest.mark.parametrize("figure", sorted(JAPANESE_WORDS))
def test_axis_titles_and_legends_are_in_the_readers_language(figure, lang):
    draw, japanese = JAPANESE_WORDS[figure]
    words = texts(svg(draw()))
    if lang == "ja":
        for word in japanese:
            assert word in words, (word, words)
        assert not [w for w in words if any(e in w for e in ENGLISH_WORDS)], words
    else:
        assert not [w for w in words if re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", w)], words
