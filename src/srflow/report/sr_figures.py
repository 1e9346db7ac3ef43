"""Figures of the SR section: E-P scatter with normative lines, residual QQ, SR distribution."""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import special

from srflow import results
from srflow.report import figures as fg
from srflow.report.blocks import (
    FigureNumbers,
    ReportContext,
    Section,
    finite,
    group_stats,
    is_number,
    label,
)


def qq_figure(
    ctx: ReportContext,
    figures: FigureNumbers,
    section: Section,
    name: str,
    table: pd.DataFrame,
    line: results.SRLine,
) -> None:
    qq = _qq_sets(line)
    source = "residual quantiles stored with the line"
    if not qq:
        values = finite(table["sr_z"])
        if values.size >= max(ctx.min_cell, 20):
            probs = np.linspace(0.005, 0.995, 100)
            qq = [("", special.ndtri(probs), np.quantile(values, probs))]
            source = "100 quantiles of sr_z computed for the report"
    if qq:
        section.add(
            "figure",
            figure=figures.block(
                fg.qq_plot(qq),
                alt=f"Normal QQ plot of the residuals of SR spec {name}.",
                caption=f"Residual QQ plot against the normal distribution ({source}); the dashed line passes through the "
                "quartiles.",
            ),
        )


def distribution_figures(
    ctx: ReportContext,
    figures: FigureNumbers,
    section: Section,
    name: str,
    table: pd.DataFrame,
    group: str | None,
) -> None:
    values = finite(table["sr_z"])
    if values.size >= ctx.min_cell:
        low, high = max(values.min(), -5.0), min(values.max(), 5.0)
        if high <= low:
            high = low + 1.0
        n_bins = int(np.clip(np.sqrt(values.size), 8, 40))
        counts, edges = np.histogram(
            np.clip(values, low, high), bins=np.linspace(low, high, n_bins + 1)
        )
        counts, edges = fg.merge_small_bins(counts, edges, ctx.min_cell)
        section.add(
            "figure",
            figure=figures.block(
                fg.histogram(counts, edges, "SR (z)"),
                alt=f"Histogram of SR scores of spec {name}.",
                caption=(
                    "Distribution of z-scored SR (values beyond ±5 gathered in the outer bins); a bin with fewer "
                    f"than {ctx.min_cell} units is merged with its neighbour toward the centre, so every unit is "
                    f"counted and every bar holds at least {ctx.min_cell}; bar areas are counts. Dotted line: SR = 0."
                ),
            ),
        )
    if group is None:
        section.add("p", text="One SR score per participant (no wave breakdown for this level).")
        return
    stats = group_stats(table, group, "sr_z", ctx.min_cell)
    if stats:
        what = "wave" if group == "wave" else "window (first wave)"
        section.add(
            "figure",
            figure=figures.block(
                fg.box_panels([(f"SR by {what}", stats)], ["SR (z)"], xlabel=what),
                alt=f"Box plots of SR of spec {name} per {what}.",
                caption=(
                    f"SR per {what}: quartile boxes, median line, mean diamond, whiskers at the 5th and 95th "
                    f"percentiles; groups with fewer than {ctx.min_cell} scores left out."
                ),
            ),
        )


def _qq_sets(line: results.SRLine) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, theoretical, sample) of every line whose residual quantiles were stored."""
    sets = []
    for entry in line.lines:
        qq = entry.residual_qq if entry.has("residual_qq") else None
        if qq is None or qq.sample is None or len(qq.sample) != len(qq.theoretical):
            continue
        t = np.asarray([np.nan if v is None else v for v in qq.theoretical], float)
        s = np.asarray([np.nan if v is None else v for v in qq.sample], float)
        keep = np.isfinite(t) & np.isfinite(s)
        if keep.sum() >= 3:
            sets.append((entry_label(entry), t[keep], s[keep]))
    return sets


def _normative_lines(
    ctx: ReportContext, table: pd.DataFrame, e: np.ndarray, group: str | None
) -> tuple[list, bool, bool]:
    """The lines to draw (label, grid, expected), whether some are not lines in E, whether some were too small."""
    expected = pd.to_numeric(table["P_expected"], errors="coerce").to_numpy(dtype=float)
    keys = table[group].to_numpy() if group else np.zeros(len(table))
    ok = np.isfinite(e) & np.isfinite(expected)
    lines, not_a_line, few_units = [], False, False
    for key in pd.unique(keys[ok]):
        mask = ok & (keys == key)
        if mask.sum() < ctx.min_cell:  # a line through a handful of people describes them
            few_units = True
            continue
        lx, ly = e[mask], expected[mask]
        order = np.argsort(lx, kind="stable")
        lx, ly = lx[order], ly[order]
        if lx.size > 200:
            pick = np.unique(np.linspace(0, lx.size - 1, 200).round().astype(int))
            lx, ly = lx[pick], ly[pick]
        if lx.size >= 2 and np.ptp(lx) > 0:
            fit = np.polyfit(lx, ly, 2)
            scale = max(np.ptp(ly), np.abs(ly).max(), 1e-12)
            if np.abs(np.polyval(fit, lx) - ly).max() > 1e-6 * scale:
                not_a_line = True
                continue
            # from the 0.5th to the 99.5th percentile: the ends would show single people's E
            low, high = np.quantile(e[mask], [0.005, 0.995])
            grid = np.linspace(low, high, 60)
            lines.append(
                (
                    (f"{group} {label(key)}" if group else "normative line"),
                    grid,
                    np.polyval(fit, grid),
                )
            )
    lines.sort(key=lambda item: item[0])
    if group:
        lines.sort(
            key=lambda item: (
                float(item[0].split(" ")[-1]) if is_number(item[0].split(" ")[-1]) else math.inf
            )
        )
    return lines, not_a_line, few_units


def scatter_figure(
    ctx: ReportContext,
    figures: FigureNumbers,
    section: Section,
    name: str,
    table: pd.DataFrame,
    group: str | None,
    exposure: str,
) -> None:
    e = pd.to_numeric(table["E"], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(table["P_expected"], errors="coerce").to_numpy(dtype=float) + pd.to_numeric(
        table["sr"], errors="coerce"
    ).to_numpy(dtype=float)
    valid = np.flatnonzero(np.isfinite(e) & np.isfinite(y))
    if valid.size < ctx.min_cell:
        section.add(
            "p", text=f"Too few scored units to draw the E–P scatter (fewer than {ctx.min_cell})."
        )
        return
    lines, not_a_line, few_units = _normative_lines(ctx, table, e, group)
    line_text = ""
    if lines:
        line_text += "Lines span the 0.5th to 99.5th percentile of E. "
    if few_units:
        line_text += f"Lines of groups with fewer than {ctx.min_cell} units are not drawn. "
    if not_a_line:
        line_text += "Expected values depend on more than E here (e.g. the previous P), so no line is drawn. "
    xlabel = "E (stressor exposure)" if exposure == "E" else f"{exposure} (exposure)"
    plural = "s" if len(lines) > 1 else ""
    per_group = f" (one per {group})" if group and len(lines) > 1 else ""
    if not ctx.individual_points:
        fig, k = fg.density_with_lines(
            e[valid], y[valid], lines, xlabel, "observed outcome (P)", ctx.min_cell
        )
        caption = (
            f"E–P relation of spec {name} as a binned density ({k} × {k} cells, shade = units per cell) with the "
            f"normative line{plural}{per_group}. Cells with fewer than {ctx.min_cell} units are left blank, so "
            f"no individual observation is shown. " + line_text
        ).rstrip()
        section.add(
            "figure",
            figure=figures.block(
                fig,
                alt=f"Binned density of E against P for SR spec {name} with the normative line.",
                caption=caption,
                kind="png",
            ),
        )
        return
    rng = np.random.default_rng([ctx.seed, zlib.crc32(name.encode("utf-8"))])
    shown = valid
    if valid.size > ctx.max_points:
        shown = np.sort(rng.choice(valid, size=ctx.max_points, replace=False))
    caption = f"E–P scatter of spec {name} with the normative line{plural}{per_group}. "
    if shown.size < valid.size:
        caption += (
            f"A random subset of {ctx.count(shown.size)} of {ctx.count(valid.size)} units is drawn "
            f"(seeded, seed {ctx.seed}); the lines use every unit. "
        )
    caption += (
        line_text
        + "Each point is one scored unit (report.individual_points: true); points are unlabelled."
    )
    fig = fg.scatter_with_lines(e[shown], y[shown], lines, xlabel, "observed outcome (P)")
    section.add(
        "figure",
        figure=figures.block(
            fig,
            alt=f"Scatter plot of E against P for SR spec {name} with the normative line.",
            caption=caption,
            kind="png",
        ),
    )


def entry_label(entry: results.LineFit) -> str:
    """A line's label: {"wave": 2} -> "wave 2"; "all" -> "all"."""
    if isinstance(entry.label, Mapping):
        return " ".join(f"{k} {label(v)}" for k, v in entry.label.items())
    return label(entry.label)
