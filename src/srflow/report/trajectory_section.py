"""The trajectory section: per spec, the model-selection table, class curves per K and class sizes."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from srflow.report import figures as fg
from srflow.report import text as tx
from srflow.report import trajectory_membership as tm
from srflow.report.blocks import (
    FigureNumbers,
    ReportContext,
    Section,
    Table,
    fit_warning,
    label,
    scrub_counts,
    slug,
)
from srflow.report.formatting import (
    DASH,
    format_number,
    format_share,
    is_suppressed,
)
from srflow.report.inputs import TrajectoryResults
from srflow.report.trajectory_selection import cell_text, selection_table


@dataclasses.dataclass(frozen=True)
class TrajectoryFacts:
    """What the GRoLTS checklist cites from the trajectory results."""

    trajectory_results: bool = False
    entropy: bool = False
    starts_share: bool = False
    classification: bool = False  # the chosen K's mean-posterior matrix is shown
    predictors: bool = False  # class-membership effects are shown
    distal: bool = False  # distal-outcome class means are shown

    def merge(self, other: TrajectoryFacts) -> TrajectoryFacts:
        pairs = zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
        return TrajectoryFacts(*(a or b for a, b in pairs))


@dataclasses.dataclass(frozen=True)
class _Classes:
    """Class sizes, totals per K, labels and mean posteriors of the assigned class."""

    sizes: pd.DataFrame
    totals: dict
    labels: dict
    avepp: dict


def trajectories_section(
    ctx: ReportContext, figures: FigureNumbers, trajectories: dict[str, TrajectoryResults]
) -> tuple[Section, TrajectoryFacts]:
    """One subsection per configured trajectory spec; also the facts the GRoLTS checklist cites."""
    section = Section("trajectories", "Trajectory models")
    configured = dict(ctx.cohort_config.trajectories)
    facts = TrajectoryFacts()
    if not configured:
        section.add(
            "note",
            tone="info",
            text="Trajectory models: not configured (add a trajectories block to the config).",
        )
        return section, facts
    for name, spec in configured.items():
        section.add("h3", text=f"Trajectories: {name}", id=f"traj-{slug(name)}")
        section.add("p", text=tx.describe_trajectory_spec(name, spec))
        result = trajectories.get(name)
        if result is None:
            section.add(
                "note",
                tone="warn",
                text=f"No results found for this spec (expected trajectories/{name}/"
                "selection.csv).",
            )
            continue
        facts = facts.merge(_trajectory(ctx, figures, section, name, result, spec))
    return section, facts


def _class_summary(classes: pd.DataFrame, curves: pd.DataFrame) -> _Classes:
    sizes = classes.groupby(["K", "class"], sort=True).size().rename("n").reset_index()
    totals = classes.groupby("K", sort=True).size().to_dict()
    labels = classes.groupby(["K", "class"], sort=True)["label"].first().astype("str").to_dict()
    avepp = {}
    for (k, c), part in classes.groupby(["K", "class"], sort=True):
        column = f"post_{label(c)}"
        if column in part:
            avepp[(k, c)] = float(pd.to_numeric(part[column], errors="coerce").mean())
    for key, name in (
        curves.groupby(["K", "class"], sort=True)["label"].first().astype("str").items()
    ):
        labels.setdefault(key, name)
    return _Classes(sizes=sizes, totals=totals, labels=labels, avepp=avepp)


def _trajectory(
    ctx: ReportContext,
    figures: FigureNumbers,
    section: Section,
    name: str,
    result: TrajectoryResults,
    spec: dict[str, Any],
) -> TrajectoryFacts:
    selection = result.selection
    summary = _class_summary(result.classes, result.curves)
    chosen = None
    if selection.empty:
        section.add("note", tone="warn", text="No model-selection table.")
    else:
        chosen = selection_table(ctx, section, selection, summary.totals)
        _suspect_warnings(section, name, selection, chosen)
    if chosen is not None:
        _chosen_words(ctx, section, selection, chosen)
    elif not selection.empty:
        section.add(
            "note",
            tone="warn",
            text="No K could be chosen: every solution is degenerate, failed, or lacks a BIC.",
        )
    if not result.curves.empty:
        _curves_figure(
            ctx,
            figures,
            section,
            name,
            result.curves,
            summary,
            chosen,
            spec,
            _suspect_ks(selection),
        )
    if not summary.sizes.empty:
        _sizes_table(ctx, section, summary, chosen)
    shown = {"classification": False, "predictors": False, "distal": False}
    if chosen is not None:
        provisional = (
            " Provisional: the chosen K's optimum could not be certified."
            if chosen in _suspect_ks(selection)
            else ""
        )
        shown["classification"] = tm.classification_block(
            ctx, section, result.classification, chosen
        )
        shown["predictors"] = tm.predictors_block(
            ctx, section, result.predictors, chosen, summary.labels, provisional
        )
        tm.distal_block(ctx, section, result.distal, chosen, summary.labels, provisional)
        shown["distal"] = result.distal is not None and bool((result.distal["K"] == chosen).any())
    return TrajectoryFacts(
        trajectory_results=True,
        entropy=not selection.empty and "entropy" in selection,
        starts_share=not selection.empty
        and any(
            "start" in c.lower() and ("share" in c.lower() or "best" in c.lower())
            for c in selection.columns
        ),
        **shown,
    )


def _suspect_ks(selection: pd.DataFrame) -> set:
    """The K whose optimum could not be certified."""
    if selection.empty or "status" not in selection:
        return set()
    return set(selection.loc[selection["status"] == "suspect", "K"].tolist())


def _suspect_warnings(section: Section, name: str, selection: pd.DataFrame, chosen: Any) -> None:
    """The warning box of every suspect K, with its certification reason."""
    for _, r in selection.sort_values("K", kind="stable").iterrows():
        if r["status"] != "suspect":
            continue
        k = label(r["K"])
        consequence = (
            " It is the chosen K: its BIC is at most what a better optimum would give, so the choice "
            "stands, but its curves, classes and effects are provisional."
            if r["K"] == chosen
            else " Its BIC may be too high (a better optimum would lower it), so it could still beat the "
            "chosen K; raise the starts and refit."
        )
        fit_warning(
            section,
            f"Trajectory spec '{name}', K = {k}",
            singular=None,
            status="suspect",
            reason=cell_text(r, "certification") or None,
            consequence=consequence,
        )


def _chosen_words(
    ctx: ReportContext, section: Section, selection: pd.DataFrame, chosen: Any
) -> None:
    """The chosen K in words: the rule, a BIC near-tie, small classes and the edge of the range."""
    section.add(
        "p",
        text=f"Chosen number of classes: K = {label(chosen)} (lowest BIC among solutions without a "
        "degenerate class).",
    )
    row = selection[selection["K"] == chosen].iloc[0]
    near = [k for k in cell_text(row, "bic_near").replace(",", ";").split(";") if k.strip()]
    if near:
        bic = pd.to_numeric(selection.set_index("K")["bic"], errors="coerce")
        others = tx.join_words(
            [f"K = {k.strip()} (BIC {format_number(bic.get(int(k), np.nan), 1)})" for k in near]
        )
        section.add(
            "note",
            tone="warn",
            text=(
                f"The BIC of the chosen K = {label(chosen)} ({format_number(bic.get(chosen, np.nan), 1)}) is within 2 of "
                f"that of {others}: a difference this small is not evidence for either "
                f"({tm.REFERENCES['raftery1995']['cite']}), so weigh the solutions on interpretability, class sizes "
                "and classification quality as well."
            ),
        )
    small = cell_text(row, "small_classes")
    if small:
        section.add(
            "note",
            tone="warn",
            text=(
                f"Small classes at the chosen K = {label(chosen)} (under 5% of the sample or 25 participants): "
                f"{scrub_counts(small, ctx.min_cell)}. Estimates for a class this small are imprecise and it may not "
                "replicate."
            ),
        )
    fitted = pd.to_numeric(selection["K"], errors="coerce").max()
    if len(selection) > 1 and chosen == fitted:
        section.add(
            "note",
            tone="warn",
            text=(
                f"K = {label(chosen)} is the largest number of classes fitted, so BIC may still fall with more "
                "classes: widen the spec's classes range before settling on it."
            ),
        )


def _curves_figure(
    ctx: ReportContext,
    figures: FigureNumbers,
    section: Section,
    name: str,
    curves: pd.DataFrame,
    summary: _Classes,
    chosen: Any,
    spec: dict[str, Any],
    suspect: set,
) -> None:
    panels = []
    size_lookup = {(r["K"], r["class"]): r["n"] for _, r in summary.sizes.iterrows()}
    for k, part in curves.groupby("K", sort=True):
        class_list = []
        for c, cpart in part.groupby("class", sort=True):
            cpart = cpart.sort_values("time", kind="stable")
            observed = pd.to_numeric(cpart["observed_mean"], errors="coerce").to_numpy(dtype=float)
            # a mean of a handful of people is not drawn
            few = (
                pd.to_numeric(cpart["n_observed"], errors="coerce").to_numpy(dtype=float)
                < ctx.min_cell
            )
            observed = np.where(few, np.nan, observed)
            n = size_lookup.get((k, c))
            share = (
                ""
                if n is None
                else (
                    f" (n {ctx.count(n)})"
                    if is_suppressed(n, ctx.min_cell)
                    else f" ({format_share(n, summary.totals.get(k, 0), ctx.min_cell, 0)})"
                )
            )
            name_ = summary.labels.get((k, c), "")
            class_list.append(
                {
                    "label": f"{label(c)}{': ' + name_ if name_ else ''}{share}",
                    "time": _numbers(cpart, "time"),
                    "fitted": _numbers(cpart, "fitted"),
                    "observed": observed,
                    "band": (_numbers(cpart, "ci_low"), _numbers(cpart, "ci_high")),
                }
            )
        is_chosen = chosen is not None and k == chosen
        marks = [m for m, on in (("chosen", is_chosen), ("suspect", k in suspect)) if on]
        panels.append(
            {
                "title": f"K = {label(k)}{' (' + ', '.join(marks) + ')' if marks else ''}",
                "chosen": is_chosen,
                "classes": class_list,
            }
        )
    fig = fg.trajectory_panels(
        panels,
        "wave" if spec.get("time", "wave") == "wave" else "time",
        str(spec.get("variable", "P")),
    )
    section.add(
        "figure",
        figure=figures.block(
            fig,
            alt=f"Estimated mean curves per class for each number of classes of trajectory spec {name}.",
            caption=(
                "Estimated class mean curves (lines) and observed class means (open circles; not drawn where fewer "
                f"than {ctx.min_cell} observations) for every K fitted; the chosen K is framed. Legends give each "
                "class's label and share of participants." + _band_caption(curves)
            ),
        ),
    )


def _numbers(part: pd.DataFrame, column: str) -> np.ndarray:
    """A curves column as floats (all NaN when the column is absent)."""
    if column not in part:
        return np.full(len(part), np.nan)
    return pd.to_numeric(part[column], errors="coerce").to_numpy(dtype=float)


def _band_caption(curves: pd.DataFrame) -> str:
    """What the shaded bands are, and the K drawn without one (with the reason)."""
    status = (
        curves["se_status"].fillna("").astype("str")
        if "se_status" in curves
        else pd.Series("", index=curves.index)
    )
    drawn = (status == "ok") & np.isfinite(_numbers(curves, "ci_low"))
    text = (
        " Shaded: 95% pointwise confidence band from the observed information."
        if drawn.any()
        else ""
    )
    # the K without a band, grouped by reason (k-means: every K for the same one)
    by_reason: dict[str, list[str]] = {}
    for k, part in status.groupby(curves["K"], sort=True):
        if drawn[part.index].any():
            continue
        reason = str(part.iloc[0]).removeprefix("not available: ") or "no standard errors"
        by_reason.setdefault(reason, []).append(label(k))
    missing = [f"K = {tx.join_words(ks)} ({reason})" for reason, ks in by_reason.items()]
    if missing:
        text += f" No band for {'; '.join(missing)}."
    return text


def _sizes_table(ctx: ReportContext, section: Section, summary: _Classes, chosen: Any) -> None:
    rows, classes_ = [], []
    for _, r in summary.sizes.iterrows():
        k, c, n = r["K"], r["class"], r["n"]
        rows.append(
            [
                label(k),
                label(c),
                summary.labels.get((k, c), DASH) or DASH,
                ctx.count(n),
                format_share(n, summary.totals.get(k, 0), ctx.min_cell),
                DASH
                if is_suppressed(n, ctx.min_cell)
                else format_number(summary.avepp.get((k, c), np.nan)),
            ]
        )
        classes_.append("chosen" if chosen is not None and k == chosen else "")
    section.add(
        "table",
        table=Table(
            ["K", "class", "label", "n", "share", "mean posterior (AvePP)"],
            rows,
            caption="Class sizes, labels and average posterior probability of the assigned class, for every K (chosen K "
            "highlighted).",
            numeric=[False, False, False, True, True, True],
            row_classes=classes_,
        ),
    )
