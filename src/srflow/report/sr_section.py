"""The SR section: per spec, the normative line(s), the E-P scatter, residual QQ and SR distributions."""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import special

from srflow import results
from srflow.report import figures as fg
from srflow.report import text as tx
from srflow.report.blocks import (
    FigureNumbers,
    ReportContext,
    Section,
    Table,
    finite,
    fit_warning,
    format_value,
    group_stats,
    is_number,
    label,
    scalar_items,
    slug,
)
from srflow.report.formatting import DASH, format_number, humanize
from srflow.report.inputs import SRResults

#: Keys of a line entry the detail table leaves out (shown elsewhere or worded by the report).
_LINE_SKIP = {
    "coefficients",
    "coefficients_centered",
    "status",
    "reason",
    "residual_qq",
    "lines",
    "fits",
    "label",
    "cooks_note",
    "warnings",
}
#: Keys of the line file's top level left out of its fact list (the spec, described in words).
_LINE_TOP_SKIP = _LINE_SKIP | {
    "spec",
    "line_key",
    "level",
    "outcome",
    "exposure",
    "waves",
    "alpha",
    "form_requested",
    "reference",
}


#: How sr_z was standardised, as the line file says (``standardize``; absent in older files: nothing said).
STANDARDIZE_WORDS = {
    "line": "sr_z is standardised within each normative line (each wave or window on its own), as the authors' "
    "recipe does.",
    "pooled": "sr_z is standardised over all normative lines pooled (one mean and SD over every scored unit).",
}


def sr_section(ctx: ReportContext, figures: FigureNumbers, sr: dict[str, SRResults]) -> Section:
    """One subsection per configured SR spec: description, line tables, scatter, QQ, SR distribution, SR by wave."""
    section = Section("sr", "Stressor-reactivity (SR) scores")
    configured = dict(ctx.cohort_config.sr)
    if not configured:
        section.add(
            "note", tone="info", text="SR scores: not configured (add an sr block to the config)."
        )
        return section
    section.add(
        "p",
        text=(
            "SR = P minus the P expected from the normative E–P line (raw, in P's units) and its z-score over the "
            "scored units. Negative SR = fewer problems than expected for the stressors met = more resilient."
        ),
    )
    for name, spec in configured.items():
        section.add("h3", text=f"SR spec: {name}", id=f"sr-{slug(name)}")
        section.add("p", text=tx.describe_sr_spec(name, spec))
        result = sr.get(name)
        if result is None:
            section.add(
                "note",
                tone="warn",
                text=f"No results found for this spec (expected sr/{name}.csv and "
                f"sr/{name}.line.json).",
            )
            continue
        _sr_spec(ctx, figures, section, name, result)
    return section


def entry_label(entry: results.LineFit) -> str:
    """A line's label: {"wave": 2} -> "wave 2"; "all" -> "all"."""
    if isinstance(entry.label, Mapping):
        return " ".join(f"{k} {label(v)}" for k, v in entry.label.items())
    return label(entry.label)


def _sr_spec(
    ctx: ReportContext, figures: FigureNumbers, section: Section, name: str, result: SRResults
) -> None:
    line, table = result.line, result.table
    if line.failed:
        section.add(
            "note", tone="error", text=f"Could not be computed: {line.reason or 'no reason given'}"
        )
        return
    if table.empty:
        section.add("note", tone="warn", text="The SR table is empty.")
        _line_tables(ctx, section, line)
        return
    group = "wave" if "wave" in table else "window" if "window" in table else None
    scored = table["sr_z"].notna()
    items = [
        ("Scored units", ctx.count(int(scored.sum()))),
        (
            "Participants with an SR score",
            ctx.count(int(table.loc[scored, "participant_id"].nunique())),
        ),
    ]
    raw = finite(table["sr"])
    if raw.size >= ctx.min_cell:
        items += [
            ("Mean raw SR", format_number(raw.mean())),
            ("SD of raw SR", format_number(raw.std(ddof=1) if raw.size > 1 else np.nan)),
        ]
    section.add("dl", items=items)
    if line.has("standardize"):
        section.add(
            "p",
            text=STANDARDIZE_WORDS.get(line.standardize, f"sr_z standardised: {line.standardize}."),
        )
    _line_tables(ctx, section, line)
    line_group = line.line_key if line.line_key and line.line_key in table else None
    _scatter(ctx, figures, section, name, table, line_group, line.exposure)
    _qq_figure(ctx, figures, section, name, table, line)
    _distribution_figures(ctx, figures, section, name, table, group)


def _qq_figure(
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


def _distribution_figures(
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


def _line_tables(ctx: ReportContext, section: Section, line: results.SRLine) -> None:
    entries = [(entry_label(entry), entry) for entry in line.lines]
    grouped = len(entries) > 1
    facts = [
        (k, v)
        for k, v in scalar_items(line.to_json(), _LINE_TOP_SKIP)
        if v is not None and not k.endswith(".method") and k != "outliers.k"
    ]
    if facts:
        section.add("dl", items=[(humanize(k), format_value(k, v, ctx.min_cell)) for k, v in facts])
    coef_rows, detail_rows, detail_keys = [], [], []
    for name, entry in entries:
        for c in entry.coefficients:
            coef_rows.append(
                ([name] if grouped else [])
                + [
                    c.term,
                    format_number(c.estimate, 4),
                    format_number(c.se, 4),
                    format_number(c.ci_low, 4),
                    format_number(c.ci_high, 4),
                ]
            )
        items = scalar_items(entry.to_json(), _LINE_SKIP)
        detail_keys += [key for key, _ in items if key not in detail_keys]
        detail_rows.append((name, dict(items)))
    if coef_rows:
        section.add(
            "table",
            table=Table(
                (["line"] if grouped else [])
                + ["term", "estimate", "SE", "95% CI low", "95% CI high"],
                coef_rows,
                caption="Coefficients of the normative line(s) (P expected from E), on the raw scale: intercepts at E = 0.",
                numeric=([False] if grouped else []) + [False, True, True, True, True],
            ),
        )
    _fits_table(section, line)
    _line_warnings(section, entries, grouped)
    if detail_keys:
        rows = [
            ([name] if grouped else [])
            + [format_value(k, values.get(k), ctx.min_cell) for k in detail_keys]
            for name, values in detail_rows
        ]
        section.add(
            "table",
            table=Table(
                (["line"] if grouped else []) + [humanize(k) for k in detail_keys],
                rows,
                caption="Fit of the normative line(s): form, fit statistics, units used and excluded, tests as stored with "
                "the line. E center is the mean E of a line's fitting units; a multilevel line's random slope is "
                "centred there, so its random-effect SDs (intercept SD included) are at that E, not at E = 0.",
                numeric=([False] if grouped else []) + [True] * len(detail_keys),
            ),
        )


def _line_warnings(
    section: Section, entries: list[tuple[str, results.LineFit]], grouped: bool
) -> None:
    """Singular multilevel lines get the report's warning box; their fit warnings are listed."""
    for name, entry in entries:
        what = "The multilevel line" + (f" ({name})" if grouped else "")
        corr = entry.random_effects.corr if entry.has("random_effects") else None
        detail = f" (intercept–slope correlation {format_number(corr)})" if corr is not None else ""
        fit_warning(
            section, what, singular=entry.singular if entry.has("singular") else None, detail=detail
        )
        if entry.has("warnings") and entry.warnings:
            section.add(
                "list",
                title="Warnings" + (f" ({name})" if grouped else ""),
                items=list(entry.warnings),
            )


def _fits_table(section: Section, line: results.SRLine) -> None:
    """Form auto: both forms as fitted, beside the test that chose one."""
    if not line.has("fits") or len(line.fits) <= 1:
        return
    rows = []
    for form, fits in line.fits.items():
        if not fits:
            rows.append([str(form), DASH, "not fitted", DASH, DASH])
            continue
        for entry in (fits,) if isinstance(fits, results.LineFit) else fits:
            loglik = (
                entry.loglik_ml
                if entry.has("loglik_ml")
                else entry.loglik
                if entry.has("loglik")
                else None
            )
            rows.append(
                [
                    str(form),
                    entry_label(entry),
                    format_number(entry.r2),
                    format_number(entry.r2_adj),
                    format_number(loglik),
                ]
            )
    section.add(
        "table",
        table=Table(
            ["form", "line", "R²", "adjusted R²", "log-likelihood (ML)"],
            rows,
            caption="Both forms as fitted for the automatic choice (the form test above decides which is used).",
            numeric=[False, False, True, True, True],
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


def _scatter(
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
