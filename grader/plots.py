"""The HTML report's figures, drawn with matplotlib and returned as SVG data URIs.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot: no global state, no GUI backend).
Text stays text in the SVG (``svg.fonttype: none``), so the browser renders labels with its own fonts;
labels are metric and run names, never translated prose (that goes in the HTML around the figure).
Every plotted series carries an SVG id ``series-<n>`` so tests can count what was drawn.
"""

from __future__ import annotations

import base64
import io
import math

import matplotlib
from matplotlib.figure import Figure

from grader.text import clean

_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "handson-report",  # stable ids: the same data draws the same SVG
    "text.parse_math": False,  # a run name with "$" in it is a name, not a formula
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
EXPECTED = "#7f7f7f"


class Plot:
    """A rendered figure: its data URI and how many series it holds."""

    def __init__(self, uri: str, series: int):
        self.uri = uri
        self.series = series


def _label(text: str) -> str:
    """A learner's run name as a label: control and bidi characters (not allowed in SVG, or misleading)
    written out (grader/text.py), long names cut,
    and a leading "_" kept visible (matplotlib hides legend entries whose label starts with it)."""
    text = clean(text, inline=True)
    text = text if len(text) <= 48 else text[:47] + "…"
    return " " + text if text.startswith("_") else text


def _render(fig: Figure, series: int) -> Plot:
    buf = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return Plot("data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), series)


def _figure(width: float = 6.4, height: float = 3.4, labels=(), top_legend: bool = False):
    """A figure with one axes. Margins are fixed from the longest y tick label instead of a layout
    engine: constrained layout draws every figure twice, and figures are most of a report's cost."""
    longest = max((len(str(x)) for x in labels), default=4)
    left = min(0.55, (0.55 + 0.068 * longest) / width)  # inches: axis label + tick labels at font size 9
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width, height))
        fig.subplots_adjust(left=left, right=0.97, bottom=0.5 / height + 0.02,
                            top=1 - (0.45 if top_legend else 0.15) / height)
        ax = fig.add_subplot()
    return fig, ax


def histories(found: dict[str, list[tuple[int, float]]], expected: dict[str, list[tuple[int, float]]]) -> Plot:
    """Step 2: each metric's history as logged (solid) over the expected one (dashed, grey)."""
    with matplotlib.rc_context(_RC):
        fig, ax = _figure()
        n = 0
        for i, key in enumerate(expected):
            color = COLORS[i % len(COLORS)]
            xs, ys = zip(*expected[key])
            ax.plot(xs, ys, linestyle="--", marker="o", markersize=7, markerfacecolor="none", color=EXPECTED,
                    label=f"{key} (expected)", gid=f"series-{n}")
            n += 1
            points = sorted(found.get(key, []))
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", color=color, label=_label(key), gid=f"series-{n}")
                n += 1
        ax.set_xlabel("step")
        ax.set_ylabel("value")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="best")
        return _render(fig, n)


def timeline(bars: list[dict]) -> Plot:
    """Step 4: one bar per run from its start to its end, in seconds from the earliest start. A run
    that never ended is drawn hatched up to the last moment known."""
    starts = [b["start"] for b in bars if b["start"] is not None]
    origin = min(starts) if starts else 0
    known = [t for b in bars for t in (b["start"], b["end"]) if t is not None]
    last = max(known) if known else origin
    with matplotlib.rc_context(_RC):
        fig, ax = _figure(height=0.55 * len(bars) + 1.0, labels=[b["name"] for b in bars])
        labels = []
        for n, bar in enumerate(bars):
            start = ((bar["start"] if bar["start"] is not None else origin) - origin) / 1000
            end = ((bar["end"] if bar["end"] is not None else last) - origin) / 1000
            width = max(end - start, 0.002)
            color = COLORS[0] if bar["role"] == "parent" else COLORS[2 if bar["inside"] else 1]
            ax.barh(n, width, left=start, height=0.6, color=color, alpha=0.85,
                    hatch="//" if bar["end"] is None else None, gid=f"series-{n}")
            labels.append(_label(bar["name"]))
        ax.set_yticks(range(len(bars)), labels)
        ax.invert_yaxis()
        ax.set_xlabel("seconds since the first start")
        return _render(fig, len(bars))


def sweep(children: list[dict]) -> Plot:
    """Step 5: each child's train_rmse per epoch, its val_rmse as a star after the last epoch; the
    child tagged best drawn thick."""
    with matplotlib.rc_context(_RC):
        fig, ax = _figure()
        n = 0
        for i, child in enumerate(children):
            color = COLORS[i % len(COLORS)]
            label = _label(child["label"]) + ("  [best]" if child["best"] else "")
            width = 3.2 if child["best"] else 1.4
            points = sorted(child["train"])
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker=".", linewidth=width, color=color, label=label, gid=f"series-{n}")
                x_val = xs[-1] + 1
            else:
                ax.plot([], [], color=color, label=label, gid=f"series-{n}")
                x_val = 0
            n += 1
            if child["val"] is not None and not math.isnan(child["val"]):
                ax.plot([x_val], [child["val"]], marker="*", markersize=14 if child["best"] else 10, color=color,
                        markeredgecolor="black" if child["best"] else color, linestyle="none")
        ax.set_xlabel("epoch (step); star = val_rmse")
        ax.set_ylabel("train_rmse")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="best")
        return _render(fig, n)


def score_histogram(scores: list[float], top: float) -> Plot:
    """Class overview: how many learners got each total."""
    with matplotlib.rc_context(_RC):
        fig, ax = _figure(height=3.0)
        bins = [x - 0.5 for x in range(int(math.ceil(top)) + 2)]
        ax.hist(scores, bins=bins, color=COLORS[0], edgecolor="white", gid="series-0")
        ax.set_xlim(-0.5, top + 0.5)
        ax.set_xlabel(f"points (of {top:g})")
        ax.set_ylabel("learners")
        ax.yaxis.get_major_locator().set_params(integer=True)
        return _render(fig, 1)


def check_rates(rows: list[dict]) -> Plot:
    """Class overview: per check, learners passed / failed / not graded (error), most failed on top."""
    with matplotlib.rc_context(_RC):
        fig, ax = _figure(height=0.22 * len(rows) + 1.3, labels=[r["id"] for r in rows], top_legend=True)
        ys = range(len(rows))
        left = [0] * len(rows)
        for n, (key, color) in enumerate((("passed", COLORS[2]), ("failed", COLORS[1]), ("error", "#bcbd22"))):
            values = [r[key] for r in rows]
            ax.barh(ys, values, left=left, color=color, label=key, height=0.7, gid=f"series-{n}")
            left = [a + b for a, b in zip(left, values)]
        ax.set_yticks(list(ys), [r["id"] for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel("learners")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
        return _render(fig, 3)
