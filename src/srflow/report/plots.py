"""The individual plots of the report, each returning a matplotlib Figure (see srflow.report.figures)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from srflow.report.figure_style import PALETTE, STYLE, new_figure


def _draw_lines(ax: Any, lines: Any, xlabel: str, ylabel: str) -> None:
    """The normative lines over a scatter or density: a viridis ramp without legend past 8 lines."""
    many = len(lines) > 8
    for index, (label, line_x, line_y) in enumerate(lines):
        color = (
            matplotlib.colormaps["viridis"](index / max(len(lines) - 1, 1))
            if many
            else PALETTE[(index + 1) % len(PALETTE)]
        )
        ax.plot(line_x, line_y, color=color, linewidth=2.0, label=None if many else label)
    if not many and any(label for label, _, _ in lines):
        ax.legend(loc="upper left", ncols=2 if len(lines) > 4 else 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def participation_plot(
    waves: Sequence, series: dict[str, np.ndarray], retention: np.ndarray, min_cell: int
) -> Figure:
    """Counts per wave (left) and retention relative to wave 1 (right).

    Counts below ``min_cell`` are not drawn (they would disclose small cells).
    """
    fig, axes = new_figure(7.2, 2.9, ncols=2)
    left, right = axes[0]
    x = np.arange(len(waves))
    with matplotlib.rc_context(STYLE):
        for (label, values), marker in zip(series.items(), ["o", "s", "^", "D"], strict=False):
            shown = np.where(np.asarray(values, float) >= min_cell, values, np.nan)
            left.plot(x, shown, marker=marker, markersize=4, linewidth=1.4, label=label)
        left.set_xticks(x, [str(w) for w in waves])
        left.set_xlabel("wave")
        left.set_ylabel("count")
        left.set_ylim(bottom=0)
        left.legend(loc="lower left")
        left.set_title("Observed per wave")
        right.bar(x, 100 * np.asarray(retention, float), color=PALETTE[0], width=0.6)
        right.set_xticks(x, [str(w) for w in waves])
        right.set_xlabel("wave")
        right.set_ylabel("% of wave-1 participants")
        right.set_ylim(0, 105)
        right.set_title("Retention")
    return fig


def box_panels(
    panels: list[tuple[str, list[dict]]], ylabels: Sequence[str], xlabel: str = "wave"
) -> Figure:
    """Box plots from precomputed statistics (median, quartiles, 5th/95th percentile whiskers).

    ``panels`` holds (title, stats) pairs; each stats dict has the keys matplotlib's
    ``Axes.bxp`` expects (label, med, q1, q3, whislo, whishi, mean).
    """
    n = len(panels)
    fig, axes = new_figure(7.2 if n > 1 else 5.2, 3.0, ncols=n)
    with matplotlib.rc_context(STYLE):
        for ax, (title, stats), ylabel in zip(axes[0], panels, ylabels, strict=True):
            if stats:
                ax.bxp(
                    stats,
                    showfliers=False,
                    showmeans=True,
                    patch_artist=True,
                    boxprops={"facecolor": "#dbe7f1", "edgecolor": "#2f6f9f"},
                    medianprops={"color": "#1d4f75", "linewidth": 1.6},
                    meanprops={
                        "marker": "D",
                        "markersize": 3.5,
                        "markerfacecolor": "#c2562b",
                        "markeredgecolor": "none",
                    },
                    whiskerprops={"color": "#2f6f9f"},
                    capprops={"color": "#2f6f9f"},
                )
                if len(stats) > 12:  # keep tick labels legible for long series
                    step = int(np.ceil(len(stats) / 12))
                    for index, label in enumerate(ax.get_xticklabels()):
                        label.set_visible(index % step == 0)
            else:
                ax.text(
                    0.5,
                    0.5,
                    "no group large enough to show",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                )
            ax.set_title(title)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
    return fig


def scatter_with_lines(
    x: np.ndarray,
    y: np.ndarray,
    lines: list[tuple[str, np.ndarray, np.ndarray]],
    xlabel: str,
    ylabel: str,
) -> Figure:
    """Unlabelled E-P points with the normative line(s) drawn over them."""
    fig, axes = new_figure(6.4, 4.2)
    ax = axes[0][0]
    with matplotlib.rc_context(STYLE):
        alpha = float(np.clip(40.0 / np.sqrt(max(len(x), 1)), 0.08, 0.7))
        ax.scatter(x, y, s=6, color="#5b6770", alpha=alpha, linewidths=0, rasterized=False)
        _draw_lines(ax, lines, xlabel, ylabel)
    return fig


def qq_plot(sets: list[tuple[str, np.ndarray, np.ndarray]]) -> Figure:
    """Normal QQ plot of residual quantiles with a reference line through the quartiles."""
    fig, axes = new_figure(4.4, 3.6)
    ax = axes[0][0]
    with matplotlib.rc_context(STYLE):
        for index, (label, theoretical, sample) in enumerate(sets):
            ax.plot(
                theoretical,
                sample,
                "o",
                markersize=3,
                color=PALETTE[index % len(PALETTE)],
                label=label or None,
            )
        theoretical = np.concatenate([s[1] for s in sets])
        sample = np.concatenate([s[2] for s in sets])
        order = np.argsort(theoretical, kind="stable")
        t, s = theoretical[order], sample[order]
        q1, q3 = np.interp([0.25, 0.75], np.linspace(0, 1, len(t)), np.arange(len(t)))
        t_q = np.interp([q1, q3], np.arange(len(t)), t)
        s_q = np.interp([q1, q3], np.arange(len(s)), s)
        if t_q[1] != t_q[0]:
            slope = (s_q[1] - s_q[0]) / (t_q[1] - t_q[0])
            grid = np.array([t.min(), t.max()])
            ax.plot(
                grid, s_q[0] + slope * (grid - t_q[0]), color="#9ca3af", linewidth=1, linestyle="--"
            )
        if 1 < len(sets) <= 8:
            ax.legend(loc="upper left")
        ax.set_xlabel("normal quantile")
        ax.set_ylabel("residual quantile")
    return fig


def merge_small_bins(
    counts: np.ndarray, edges: np.ndarray, min_cell: int
) -> tuple[np.ndarray, np.ndarray]:
    """Merge every bin holding 1 .. min_cell - 1 units into its neighbour toward the centre.

    Repeats until each bin holds 0 or at least ``min_cell`` units (all of them in one bin if
    there are fewer than ``min_cell`` in total); the total count is kept.

    Examples
    --------
    >>> counts, edges = merge_small_bins(np.array([2, 10, 12, 1, 3]), np.arange(6.0), 5)
    >>> counts.tolist(), edges.tolist()
    ([12, 16], [0.0, 2.0, 5.0])
    """
    counts, edges = [int(c) for c in counts], [float(e) for e in edges]
    while len(counts) > 1:
        small = [i for i, c in enumerate(counts) if 0 < c < min_cell]
        if not small:
            break
        i = small[0]
        # toward the centre: the side holding more units beyond this bin
        left, right = sum(counts[:i]), sum(counts[i + 1 :])
        j = i - 1 if (i == len(counts) - 1 or (i > 0 and left > right)) else i + 1
        low, high = min(i, j), max(i, j)
        counts[low : high + 1] = [counts[low] + counts[high]]
        del edges[high]
    return np.asarray(counts, dtype=np.int64), np.asarray(edges, dtype=float)


def histogram(counts: np.ndarray, edges: np.ndarray, xlabel: str) -> Figure:
    """Bars of precomputed bin counts (bins may differ in width: merged small bins).

    Bar heights are counts per base bin width (the narrowest bin), so a merged bin is as
    tall as its units spread over the bins it replaced, and its area is its count.
    """
    fig, axes = new_figure(4.8, 3.4)
    ax = axes[0][0]
    widths = np.diff(edges)
    base = widths.min()
    with matplotlib.rc_context(STYLE):
        ax.bar(
            edges[:-1],
            counts * base / widths,
            width=widths,
            align="edge",
            color="#9cbcd6",
            edgecolor="#2f6f9f",
            linewidth=0.4,
        )
        ax.axvline(0, color="#6b7280", linewidth=1, linestyle=":")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"count per {base:.2g} of {xlabel}")
    return fig


def density_with_lines(
    x: np.ndarray,
    y: np.ndarray,
    lines: list[tuple[str, np.ndarray, np.ndarray]],
    xlabel: str,
    ylabel: str,
    min_cell: int,
) -> tuple[Figure, int]:
    """The E-P relation as a binned density (cells under ``min_cell`` left blank) with the normative line(s).

    The grid has k x k cells, k = sqrt(n / (2 min_cell)) clipped to 6 .. 30, so an average
    cell holds about twice ``min_cell`` units whatever the sample size. Returns the figure and k.
    """
    bins = int(np.clip(np.sqrt(len(x) / (2.0 * min_cell)), 6, 30))
    counts, x_edges, y_edges = np.histogram2d(x, y, bins=bins)
    shown = np.where(counts >= min_cell, counts, np.nan).T  # rows are y for pcolormesh
    fig, axes = new_figure(6.4, 4.2)
    ax = axes[0][0]
    with matplotlib.rc_context(STYLE):
        mesh = ax.pcolormesh(
            x_edges, y_edges, shown, cmap="Blues", vmin=0, shading="flat", rasterized=False
        )
        fig.colorbar(mesh, ax=ax, label=f"units per cell (cells < {min_cell} blank)")
        _draw_lines(ax, lines, xlabel, ylabel)
    return fig, bins


#: opacity of a confidence band: the class line and the other classes stay readable over it
BAND_ALPHA = 0.18


def _draw_band(ax: Any, cls: dict, color: str, gid: str) -> None:
    """The class's confidence band, shaded where both edges are finite."""
    band = cls.get("band")
    if band is None:
        return
    low, high = (np.asarray(edge, dtype=float) for edge in band)
    finite = np.isfinite(low) & np.isfinite(high)
    if finite.any():
        ax.fill_between(
            cls["time"],
            low,
            high,
            where=finite,
            color=color,
            alpha=BAND_ALPHA,
            linewidth=0,
            gid=gid,
        )


def _legend_headroom(ax, entries: int) -> None:
    """Raise the (shared) y limit so an upper-left legend of ``entries`` lines sits above the data.

    A legend line at 7 pt takes about 8% of a panel's height; "best" placement cannot avoid
    four or five crossing curves in a small panel, so the curves are kept below the legend.
    """
    bottom, top = ax.get_ylim()
    share = min(0.08 * entries + 0.04, 0.5)
    ax.set_ylim(bottom, top + (top - bottom) * share / (1 - share))


def trajectory_panels(panels: list[dict], time_label: str, y_label: str) -> Figure:
    """Class mean curves, one panel per number of classes; the chosen K is framed.

    Each panel dict has ``title``, ``chosen`` (bool) and ``classes``: a list of dicts
    with ``label``, ``time``, ``fitted`` and optional ``observed`` arrays and ``band`` (a
    pair of arrays, the lower and upper edge of a confidence band, shaded in the class
    colour where both are finite; each band is its own SVG group ``band-<panel>-<class>``).
    """
    n = len(panels)
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    most = max((len(panel["classes"]) for panel in panels), default=1)
    row_height = 2.5 + 0.12 * max(most - 2, 0)  # room for the legend above the curves
    fig, axes = new_figure(7.2, row_height * nrows + 0.3, ncols=ncols, nrows=nrows, sharey=True)
    flat = axes.ravel()
    with matplotlib.rc_context(STYLE):
        for number, (ax, panel) in enumerate(zip(flat, panels, strict=False)):  # spare axes
            for index, cls in enumerate(panel["classes"]):
                color = PALETTE[index % len(PALETTE)]
                _draw_band(ax, cls, color, f"band-{number}-{index}")
                ax.plot(cls["time"], cls["fitted"], color=color, linewidth=2.0, label=cls["label"])
                observed = cls.get("observed")
                if observed is not None and np.isfinite(observed).any():
                    ax.plot(
                        cls["time"],
                        observed,
                        "o",
                        color=color,
                        markersize=3.5,
                        markerfacecolor="white",
                    )
            ax.set_title(panel["title"], fontweight="bold" if panel["chosen"] else "normal")
            if panel["chosen"]:
                for spine in ax.spines.values():
                    spine.set_visible(True)
                    spine.set_color("#c2562b")
                    spine.set_linewidth(1.8)
            ax.set_xlabel(time_label)
            ax.legend(loc="upper left", fontsize=7)
        _legend_headroom(flat[0], most)
        for ax in flat[n:]:
            ax.set_visible(False)
        for row in axes:
            row[0].set_ylabel(y_label)
    return fig


def forest_plot(
    labels: Sequence[str], estimates: np.ndarray, lows: np.ndarray, highs: np.ndarray, xlabel: str
) -> Figure:
    """One horizontal 95% interval and point per effect, first effect on top, a line at zero.

    Each interval is its own SVG group (``gid`` ``interval-<i>``), so the figure can be
    checked for one interval per effect.
    """
    n = len(labels)
    fig, axes = new_figure(width=7.2, height=0.9 + 0.38 * n)
    ax = axes[0, 0]
    longest = max((len(str(t)) for t in labels), default=4)
    fig.subplots_adjust(left=min(0.5, (0.25 + 0.065 * longest) / 7.2))
    y = np.arange(n)[::-1].astype(float)
    for i in range(n):
        ax.plot(
            [lows[i], highs[i]], [y[i], y[i]], color=PALETTE[0], linewidth=1.8, gid=f"interval-{i}"
        )
    ax.plot(estimates, y, "o", color=PALETTE[0], markersize=5)
    ax.axvline(0.0, color="#6b7280", linestyle="--", linewidth=0.9)
    ax.set_yticks(y, [str(t) for t in labels])
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)
    return fig
