"""The data sections: overview (participation per wave), validation, and score distributions."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from srflow.report import figures as fg
from srflow.report.blocks import FigureNumbers, ReportContext, Section, Table, group_stats, label
from srflow.report.formatting import DASH, format_number, format_share


@dataclasses.dataclass(frozen=True)
class OverviewFacts:
    """What the methods text cites from the overview (counts already suppressed)."""

    participants: str = DASH
    waves: str = DASH
    rows: str = DASH


def per_wave(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-row presence of P and E, and its per-wave counts and timing."""
    frame = pd.DataFrame(
        {
            "wave": scores["wave"],
            "has_p": pd.to_numeric(scores["P"], errors="coerce").notna(),
            "has_e": pd.to_numeric(scores["E"], errors="coerce").notna(),
            "time": pd.to_numeric(scores["time"], errors="coerce"),
        }
    )
    frame["has_any"] = frame["has_p"] | frame["has_e"]
    frame["has_both"] = frame["has_p"] & frame["has_e"]
    waves = frame.groupby("wave", sort=True).agg(
        rows=("has_any", "size"),
        observed=("has_any", "sum"),
        with_p=("has_p", "sum"),
        with_e=("has_e", "sum"),
        with_both=("has_both", "sum"),
        time_mean=("time", "mean"),
        time_sd=("time", "std"),
    )
    return frame, waves


def overview_section(ctx: ReportContext, figures: FigureNumbers) -> tuple[Section, OverviewFacts]:
    """Participants, waves, rows; completeness, retention and timing per wave, with a plot."""
    section = Section("overview", "Data overview")
    scores = ctx.scores
    if scores.empty:
        section.add("note", tone="warn", text="The scores table is empty; nothing to describe.")
        return section, OverviewFacts()
    frame, waves = per_wave(scores)
    first = waves["observed"].iloc[0]
    observed_total = int(scores.loc[frame["has_any"].to_numpy(), "participant_id"].nunique())
    section.add(
        "dl",
        items=[
            ("Participants", ctx.count(ctx.n_participants)),
            ("Participants with P or E at any wave", ctx.count(observed_total)),
            ("Waves", format_number(len(ctx.waves))),
            ("Scored rows (participant × wave)", ctx.count(len(scores))),
            ("Rows with P", ctx.count(int(frame["has_p"].sum()))),
            ("Rows with E", ctx.count(int(frame["has_e"].sum()))),
        ],
    )
    timed = ctx.has_time
    rows = [
        [
            label(wave),
            ctx.count(r["rows"]),
            ctx.count(r["observed"]),
            ctx.count(r["with_p"]),
            ctx.count(r["with_e"]),
            ctx.count(r["with_both"]),
            format_share(r["observed"], first, ctx.min_cell),
            format_number(r["time_mean"], 2) if timed and r["rows"] >= ctx.min_cell else DASH,
            format_number(r["time_sd"], 2) if timed and r["rows"] >= ctx.min_cell else DASH,
        ]
        for wave, r in waves.iterrows()
    ]
    timing = (
        "Time is in the units of the time column (days since first assessment for dates); withheld where a wave "
        f"has fewer than {ctx.min_cell} rows."
        if timed
        else "No assessment time was recorded."
    )
    section.add(
        "table",
        table=Table(
            [
                "wave",
                "rows",
                "observed (P or E)",
                "with P",
                "with E",
                "with P and E",
                "retention vs wave 1",
                "time mean",
                "time SD",
            ],
            rows,
            caption=(
                "Completeness, retention and assessment timing per wave. Observed = a row with P or E; retention = "
                "observed at this wave as a share of those observed at the first wave. " + timing
            ),
            numeric=[False] + [True] * 8,
        ),
    )
    section.add("figure", figure=figures.block(*overview_figure(ctx)))
    facts = OverviewFacts(
        participants=ctx.count(ctx.n_participants),
        waves=format_number(len(ctx.waves)),
        rows=ctx.count(len(scores)),
    )
    return section, facts


def overview_figure(ctx: ReportContext) -> tuple[Any, str, str]:
    """The participation figure: (matplotlib figure, alt text, caption)."""
    _, waves = per_wave(ctx.scores)
    first = waves["observed"].iloc[0]
    retention = (
        (waves["observed"] / first).to_numpy(dtype=float) if first > 0 else np.zeros(len(waves))
    )
    retention = np.where(waves["observed"].to_numpy() >= ctx.min_cell, retention, 0.0)
    fig = fg.participation_plot(
        waves.index.tolist(),
        {
            "observed": waves["observed"].to_numpy(),
            "with P": waves["with_p"].to_numpy(),
            "with E": waves["with_e"].to_numpy(),
        },
        retention,
        ctx.min_cell,
    )
    return (
        fig,
        "Line chart of participants observed, with P and with E per wave, and bar chart of retention relative to wave 1.",
        f"Participation per wave (left) and retention relative to the first wave (right). Counts below {ctx.min_cell} "
        "are not drawn.",
    )


def scores_figure(ctx: ReportContext) -> tuple[Any, str, str]:
    """The P and E box plots: (matplotlib figure, alt text, caption)."""
    panels = [
        (
            f"{c}{' (problems)' if c == 'P' else ' (exposure)'}",
            group_stats(ctx.scores, "wave", c, ctx.min_cell),
        )
        for c in ("P", "E")
    ]
    return (
        fg.box_panels(panels, [p[0] for p in panels]),
        "Box plots of P and E at each wave.",
        (
            "Distribution of P and E per wave: boxes span the quartiles, the line marks the median, the "
            "diamond the mean, whiskers the 5th and 95th percentiles. Waves with fewer than "
            f"{ctx.min_cell} scores are left out."
        ),
    )


def validation_section(
    ctx: ReportContext, ledger: pd.DataFrame, failures: pd.DataFrame
) -> tuple[Section, str]:
    """Policy, kept/excluded rows, exclusions by reason, careless-responding flags, failed checks.

    Returns the section and the number of excluded rows as shown (for the methods text).
    """
    section = Section("validation", "Validation")
    policy = ctx.cohort_config.on_invalid
    section.add(
        "p",
        text=(
            "Policy: stop on any failed check (on_invalid: fail)."
            if policy == "fail"
            else "Policy: rows failing a check are excluded and the analysis goes on (on_invalid: exclude)."
        ),
    )
    status = ledger["status"]
    kept, excluded = int((status == "kept").sum()), int((status == "excluded").sum())
    section.add(
        "dl",
        items=[
            ("Source rows", ctx.count(len(ledger))),
            ("Kept", ctx.count(kept)),
            ("Excluded", ctx.count(excluded)),
        ],
    )
    if excluded:
        reasons = ledger.loc[status == "excluded", "reason"].str.split(";").explode().str.strip()
        counts = reasons[reasons != ""].value_counts()
        counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
        section.add(
            "table",
            table=Table(
                ["reason", "rows excluded"],
                [[reason, ctx.count(n)] for reason, n in counts.items()],
                caption="Exclusions by reason (a row failing several checks counts under each).",
                numeric=[False, True],
            ),
        )
    _flags_table(ctx, section, ledger)
    _failures_table(ctx, section, failures)
    return section, ctx.count(excluded)


def _flags_table(ctx: ReportContext, section: Section, ledger: pd.DataFrame) -> None:
    raw_flags = ledger["flags"]
    flagged = (raw_flags.str.strip() != "").to_numpy()  # split only the few flagged rows
    flags = pd.DataFrame(
        {"flags": raw_flags[flagged].str.split(";"), "status": ledger["status"][flagged].to_numpy()}
    )
    flags = flags.explode("flags")
    flags["flags"] = flags["flags"].str.strip()
    flags = flags[flags["flags"] != ""]
    if flags.empty:
        section.add("p", text="No careless-responding flag was raised.")
        return
    table = flags.groupby(["flags", "status"], sort=True).size().unstack(fill_value=0)
    table = table.reindex(columns=["kept", "excluded"], fill_value=0)
    table["total"] = table["kept"] + table["excluded"]
    section.add(
        "table",
        table=Table(
            ["flag", "rows", "kept", "excluded"],
            [
                [flag, ctx.count(r["total"]), ctx.count(r["kept"]), ctx.count(r["excluded"])]
                for flag, r in table.iterrows()
            ],
            caption="Careless-responding flags (e.g. straightlining:instrument = every answered item identical).",
            numeric=[False, True, True, True],
        ),
    )


def _failures_table(ctx: ReportContext, section: Section, failures: pd.DataFrame) -> None:
    if failures.empty:
        section.add("p", text="No validation check failed.")
        return
    frame = pd.DataFrame(
        {
            "check": failures["check"].to_numpy(),
            "row": failures["source_row"].to_numpy(),
            "column": failures["column"].to_numpy(),
        }
    )
    grouped = frame.groupby("check", sort=True)
    summary = grouped.agg(failures=("row", "size"), rows=("row", "nunique"))
    columns = grouped["column"].agg(lambda s: ", ".join(sorted(c for c in pd.unique(s) if c)))
    section.add(
        "table",
        table=Table(
            ["check", "failures", "rows affected", "columns"],
            [
                [name, ctx.count(r["failures"]), ctx.count(r["rows"]), columns[name] or DASH]
                for name, r in summary.iterrows()
            ],
            caption=(
                "Failed checks. Offending values are not shown here (they are in validation/failures.csv, "
                "which stays with the data)."
            ),
            numeric=[False, True, True, False],
        ),
    )


def scores_section(ctx: ReportContext, figures: FigureNumbers) -> Section:
    """Box plots of P and E per wave and a per-wave summary table of every score."""
    section = Section("scores", "Scores")
    scores = ctx.scores
    columns = list(dict.fromkeys(["P", "E", *ctx.cohort_config.instruments]))
    if scores.empty:
        section.add("note", tone="warn", text="No score columns to describe.")
        return section
    section.add("figure", figure=figures.block(*scores_figure(ctx)))
    numeric = scores[["wave", *columns]].copy()
    for c in columns:
        numeric[c] = pd.to_numeric(numeric[c], errors="coerce")
    grouped = numeric.groupby("wave", sort=True)
    counts, means, sds = grouped.count(), grouped.mean(), grouped.std()
    quartiles = grouped.quantile([0.25, 0.5, 0.75])
    rows = []
    for c in columns:
        for wave in counts.index:
            n = counts.at[wave, c]
            hide = n < ctx.min_cell
            q = [quartiles.at[(wave, p), c] for p in (0.25, 0.5, 0.75)]
            rows.append(
                [c, label(wave), ctx.count(n)]
                + [
                    DASH if hide else format_number(v, 2)
                    for v in (means.at[wave, c], sds.at[wave, c], *q)
                ]
            )
    section.add(
        "table",
        table=Table(
            ["score", "wave", "n", "mean", "SD", "25th pct", "median", "75th pct"],
            rows,
            caption=f"Score summaries per wave (statistics withheld where n < {ctx.min_cell}).",
            numeric=[False, False] + [True] * 6,
        ),
    )
    return section
