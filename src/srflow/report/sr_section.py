"""The SR section: per spec, the normative line(s), the E-P scatter, residual QQ and SR distributions."""

from __future__ import annotations

import numpy as np

from srflow import results
from srflow.report import text as tx
from srflow.report.blocks import (
    FigureNumbers,
    ReportContext,
    Section,
    Table,
    finite,
    fit_warning,
    format_value,
    scalar_items,
    slug,
)
from srflow.report.formatting import DASH, format_number, humanize
from srflow.report.inputs import SRResults
from srflow.report.sr_figures import distribution_figures, entry_label, qq_figure, scatter_figure

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
    scatter_figure(ctx, figures, section, name, table, line_group, line.exposure)
    qq_figure(ctx, figures, section, name, table, line)
    distribution_figures(ctx, figures, section, name, table, group)


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
