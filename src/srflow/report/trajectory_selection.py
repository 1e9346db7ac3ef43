"""The trajectory class-selection table: which K is chosen and how each fitted K is shown."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from srflow.report.blocks import (
    ReportContext,
    Section,
    Table,
    is_missing,
    label,
    scrub_counts,
    yes_no,
)
from srflow.report.formatting import (
    DASH,
    format_number,
    format_p,
    format_share,
    humanize,
    is_count_name,
)

#: Selection columns in display order; any others follow in file order.
_PREFERRED = [
    "K",
    "loglik",
    "npm",
    "aic",
    "bic",
    "sabic",
    "caic",
    "icl",
    "entropy",
    "smallest_class_size",
    "smallest_class_share",
    "class_sizes",
    "appa_min",
    "occ_min",
    "converged",
    "degenerate",
    "degenerate_reason",
    "poorly_separated",
    "n_starts",
    "n_starts_at_best",
]


#: Selection columns said in the note column and in words, not shown as columns.
_WORDED = {"status", "error", "certification", "bic_near", "small_classes"}


def choose_k(selection: pd.DataFrame) -> tuple[Any, pd.Series, pd.Series]:
    """The K with the lowest BIC among fitted, non-degenerate solutions; with the ok and degenerate masks."""
    ok = (selection["status"] != "failed") & (selection["error"].str.strip() == "")
    degenerate = (
        selection["degenerate"].map(lambda v: v is True or v == 1)
        if "degenerate" in selection
        else pd.Series(False, index=selection.index)
    ).astype(bool)
    bic = (
        pd.to_numeric(selection["bic"], errors="coerce")
        if "bic" in selection
        else pd.Series(np.nan, selection.index)
    )
    candidates = selection[ok & ~degenerate & bic.notna()]
    chosen = None
    if not candidates.empty:
        chosen = (
            candidates.assign(_bic=bic[candidates.index])
            .sort_values(["_bic", "K"], kind="stable")["K"]
            .iloc[0]
        )
    return chosen, ok, degenerate


def _selection_cell(ctx: ReportContext, column: str, value: Any, total: Any) -> str:
    lowered = column.lower()
    if column == "K":
        return label(value)
    if lowered == "class_sizes" or (isinstance(value, str) and re.fullmatch(r"\d+(/\d+)+", value)):
        return "/".join(ctx.count(int(part)) for part in str(value).split("/"))
    if "share" in lowered or "prop" in lowered or "weight" in lowered:
        if is_missing(value):
            return DASH
        return format_share(float(value) * float(total), total, ctx.min_cell)
    if is_count_name(column) or lowered.endswith("size") or lowered.startswith("smallest_n"):
        return ctx.count(value) if not isinstance(value, str) else value
    if lowered == "p" or lowered.endswith("_p") or lowered.startswith("p_"):
        return format_p(value)
    if lowered.endswith("replicates"):  # bootstrap replicates fitted: a whole number, not people
        return DASH if is_missing(value) else str(int(value))
    if column in {"degenerate", "converged", "poorly_separated"}:
        return yes_no(None if is_missing(value) else bool(value))
    if isinstance(value, str):
        return scrub_counts(value, ctx.min_cell) or DASH
    return (
        format_number(value, 2) if isinstance(value, (float, np.floating)) else format_number(value)
    )


def selection_table(
    ctx: ReportContext, section: Section, selection: pd.DataFrame, totals: dict
) -> Any:
    selection = selection.sort_values("K", kind="stable").reset_index(drop=True)
    chosen, ok, degenerate = choose_k(selection)
    converged = (
        selection["converged"]
        if "converged" in selection
        else pd.Series(None, index=selection.index)
    )
    present = [c for c in selection.columns if c not in _WORDED]
    columns = [c for c in _PREFERRED if c in present] + [c for c in present if c not in _PREFERRED]
    rows, classes = [], []
    for index, r in selection.iterrows():
        k = r["K"]
        total = totals.get(k, ctx.n_participants)
        cells = [_selection_cell(ctx, c, r[c], total) for c in columns]
        notes = []
        if not ok[index]:
            why = r["error"]
            notes.append("failed" + (f": {scrub_counts(why, ctx.min_cell)}" if why else ""))
        if r["status"] == "suspect":
            notes.append("suspect: not certified")
        if degenerate[index]:
            notes.append("degenerate")
        if converged[index] is False or converged[index] is np.False_:
            notes.append("not converged")
        if chosen is not None and k == chosen:
            notes.append("chosen")
        if cell_text(r, "bic_near"):
            notes.append(f"BIC within 2 of K = {cell_text(r, 'bic_near').replace(';', ', ')}")
        cells.append("; ".join(notes) or DASH)
        rows.append(cells)
        classes.append(
            "chosen"
            if chosen is not None and k == chosen
            else "degenerate"
            if degenerate[index] or not ok[index]
            else "suspect"
            if r["status"] == "suspect"
            else ""
        )
    section.add(
        "table",
        table=Table(
            [humanize(c) if c != "K" else "K" for c in columns] + ["note"],
            rows,
            caption=(
                "Model selection: one row per number of classes K. Lower AIC/BIC/SABIC is better; entropy near 1 "
                "means clear classification. Degenerate solutions (a class too small or a collapsed variance) are "
                "flagged and never chosen; a suspect solution (optimum not certified) is marked and explained "
                "below the table."
            ),
            numeric=[True] * len(columns) + [False],
            row_classes=classes,
        ),
    )
    return chosen


def cell_text(row: pd.Series, column: str) -> str:
    value = row.get(column, "")
    return "" if is_missing(value) else str(value).strip()
