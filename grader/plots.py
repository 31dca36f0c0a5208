"""The HTML report's figures, drawn with matplotlib and returned as SVG data URIs.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot: no global state, no GUI backend).
Text stays text in the SVG (``svg.fonttype: none``), so the browser renders labels with its own fonts
(Japanese included); axis titles and legend words go through ``grader.i18n.t`` (keys ``plot.*``), metric
and run names are shown as they are. Every plotted series carries an SVG id ``series-<n>`` so tests can
count what was drawn; step 5's val_rmse marks carry ``val-<n>`` (``val-<n>-best`` for the child tagged best).
"""

from __future__ import annotations

import base64
import io
import math
import warnings

import matplotlib
from matplotlib.figure import Figure

from grader.i18n import t
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
    with matplotlib.rc_context(_RC), warnings.catch_warnings():
        # Matplotlib measures Japanese labels with a font that lacks the glyphs and says so; the SVG keeps
        # them as text, and the browser draws them with its own CJK font.
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
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
                    label=t("plot.expected", key=key), gid=f"series-{n}")
            n += 1
            points = sorted(found.get(key, []))
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", color=color, label=_label(key), gid=f"series-{n}")
                n += 1
        ax.set_xlabel(t("plot.step"))
        ax.set_ylabel(t("plot.value"))
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
        ax.set_xlabel(t("plot.seconds"))
        return _render(fig, len(bars))


def sweep(children: list[dict]) -> Plot:
    """Step 5 in two panels. Left: each child's train_rmse per epoch, the child tagged best drawn thick.
    Right: val_rmse, one row per child, so close values never hide each other: a dot and the value
    written out, the child tagged best as a large black-edged star with its name in bold, and the lowest
    value marked as such (a best tag on another child shows at a glance)."""
    vals = {i: c["val"] for i, c in enumerate(children) if c["val"] is not None and not math.isnan(c["val"])}
    lowest = min(vals, key=vals.get) if vals else None
    names = [_label(c["label"]) for c in children]
    names = [n if len(n) <= 24 else n[:23] + "…" for n in names]
    width, height = 8.6, max(3.4, 0.42 * len(children) + 1.4)
    left_w, gap = 3.9, 0.35 + 0.075 * max((len(n) for n in names), default=4)
    bottom, top = 0.5 / height + 0.02, 1 - 0.35 / height
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width, height))
        ax = fig.add_axes((0.55 / width, bottom, left_w / width, top - bottom))
        x0 = (0.55 + left_w + gap) / width
        ax_val = fig.add_axes((x0, bottom, 1 - 0.15 / width - x0, top - bottom))
        n = 0
        for i, child in enumerate(children):
            color = COLORS[i % len(COLORS)]
            label = names[i] + (f"  [{t('plot.best')}]" if child["best"] else "")
            points = sorted(child["train"])
            xs, ys = zip(*points) if points else ((), ())
            ax.plot(xs, ys, marker=".", linewidth=3.2 if child["best"] else 1.4, color=color, label=label,
                    gid=f"series-{n}")
            n += 1
        ax.set_title(t("plot.train_title"))
        ax.set_xlabel(t("plot.epoch"))
        ax.set_ylabel("train_rmse")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="best")

        lo, hi = (min(vals.values()), max(vals.values())) if vals else (0.0, 1.0)
        span = (hi - lo) or max(abs(hi) * 0.05, 1e-3)
        ax_val.set_xlim(lo - 0.15 * span, hi + 2.4 * span)  # room on the right for the written values
        ax_val.xaxis.get_major_locator().set_params(nbins=3)
        digits = _digits(list(vals.values()))
        ax_val.set_ylim(len(children) - 0.5, -0.5)
        ax_val.set_yticks(range(len(children)), names)
        for i, child in enumerate(children):
            color = COLORS[i % len(COLORS)]
            tick = ax_val.get_yticklabels()[i]
            tick.set_color(color)
            if child["best"]:
                tick.set_fontweight("bold")
            if i not in vals:
                ax_val.text(lo, i, t("plot.no_val"), va="center", color=color, style="italic")
                continue
            best = child["best"]
            ax_val.plot([vals[i]], [i], linestyle="none", marker="*" if best else "o", markersize=16 if best else 8,
                        color=color, markeredgecolor="black" if best else color, markeredgewidth=1.2 if best else 1,
                        zorder=3, gid=f"val-{i}-best" if best else f"val-{i}")
            note = f"{vals[i]:.{digits}f}" + (f"  {t('plot.lowest')}" if i == lowest else "") + \
                (f"  [{t('plot.best')}]" if best else "")
            ax_val.annotate(note, (vals[i], i), xytext=(10, 0), textcoords="offset points", va="center",
                            color=color, fontweight="bold" if best else "normal")
        ax_val.set_title(t("plot.val_title"))
        ax_val.set_xlabel("val_rmse")
        ax_val.grid(axis="y", visible=False)
        return _render(fig, n)


def _digits(values: list[float]) -> int:
    """Decimals enough to tell every two different values apart (4 at least, 10 at most)."""
    for digits in range(4, 11):
        if len({f"{v:.{digits}f}" for v in values}) == len(set(values)):
            return digits
    return 10


def score_histogram(scores: list[float], top: float) -> Plot:
    """Class overview: how many learners got each total."""
    with matplotlib.rc_context(_RC):
        fig, ax = _figure(height=3.0)
        bins = [x - 0.5 for x in range(int(math.ceil(top)) + 2)]
        ax.hist(scores, bins=bins, color=COLORS[0], edgecolor="white", gid="series-0")
        ax.set_xlim(-0.5, top + 0.5)
        ax.set_xlabel(t("plot.points", top=f"{top:g}"))
        ax.set_ylabel(t("plot.learners"))
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
            ax.barh(ys, values, left=left, color=color, label=t(f"html.{key}"), height=0.7, gid=f"series-{n}")
            left = [a + b for a, b in zip(left, values)]
        ax.set_yticks(list(ys), [r["id"] for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel(t("plot.learners"))
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
        return _render(fig, 3)
