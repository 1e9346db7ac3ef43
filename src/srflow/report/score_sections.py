"""What the score stage says beside the scores: how P was formed, reliability, attrition.

The scores section gets how P and E were made (``scoring.json``) and the reliability table
(``reliability.csv``); the data overview gets the attrition model (``attrition.csv`` and
``attrition.json``). Each is read through its contract in :mod:`srflow.results.scoring`.
"""

from __future__ import annotations

import math

import pandas as pd

from srflow import results
from srflow.report.blocks import ReportContext, Section, Table, label, p_clause, scrub_counts
from srflow.report.formatting import DASH, format_number, format_p
from srflow.report.inputs import AttritionResults
from srflow.report.text import join_words

#: How each composite forms P from the instruments' z-scores, for the sentence about P.
_COMBINE_WORDS = {
    "zmean": "the mean of the z-scores of",
    "pca1": "the first principal component of the z-scores of",
}


def scoring_blocks(
    ctx: ReportContext,
    section: Section,
    scoring: results.ScoringSummary | None,
    reliability: pd.DataFrame | None,
) -> None:
    """How P and E were formed (with a composite's weights and loadings) and the reliability table."""
    section.add("h3", text="How P and E were formed", id="scores-formation")
    if scoring is None:
        section.add("p", text="The scoring summary (scoring.json) was not given to the report.")
    else:
        _formation(ctx, section, scoring)
    section.add("h3", text="Reliability", id="scores-reliability")
    if reliability is None:
        section.add(
            "p", text="The reliability table (reliability.csv) was not given to the report."
        )
    else:
        _reliability_table(ctx, section, reliability)


def _formation(ctx: ReportContext, section: Section, scoring: results.ScoringSummary) -> None:
    problems, exposure = scoring.P, scoring.E
    names = join_words(list(problems.instruments))
    if problems.combine == "single":
        text = f"P is the score of the one problems instrument, {names}."
    else:
        text = f"P is {_COMBINE_WORDS.get(problems.combine, problems.combine)} {names}"
        if problems.has("n_complete"):
            text += (
                f", each z-scored with its mean and SD over the {ctx.count(problems.n_complete)} "
                "rows with every instrument scored"
            )
        text += f" (problems.combine: {problems.combine})."
        if problems.has("explained_variance") and problems.explained_variance is not None:
            share = format_number(100 * problems.explained_variance, 1)
            text += f" The first component explains {share}% of the z-scores' variance"
            text += f"; P has {problems.scale}." if problems.has("scale") else "."
    section.add("p", text=text)
    if problems.status != "ok":
        section.add(
            "note",
            tone="warn",
            text=(
                f"The composite P is {problems.status}: {problems.reason or 'no reason given'}. "
                "Treat P, and every analysis of it, as provisional."
            ),
        )
    if problems.combine != "single" and problems.has("z_mean"):
        section.add("table", table=_composite_table(problems))
    section.add(
        "p",
        text=f"E combines {join_words(list(exposure.instruments))} (exposure.combine: {exposure.combine}).",
    )


def _composite_table(problems: results.ProblemsScore) -> Table:
    pca = problems.has("loadings")
    columns = ["instrument", "z mean", "z SD"] + (["weight", "loading"] if pca else [])
    rows = []
    for name in problems.instruments:
        row = [
            name,
            format_number(problems.z_mean.get(name)),
            format_number(problems.z_sd.get(name)),
        ]
        if pca:
            row += [
                format_number(problems.weights.get(name)),
                format_number(problems.loadings.get(name)),
            ]
        rows.append(row)
    caption = "The instruments of the composite P: the mean and SD their z-scores use"
    if pca:
        eigenvalues = ", ".join(format_number(v) for v in problems.eigenvalues)
        caption += (
            "; the weight of each z-score in P and its loading on the first component "
            f"(eigenvalues of the z-scores' correlation matrix: {eigenvalues})"
        )
    return Table(
        columns, rows, caption=caption + ".", numeric=[False] + [True] * (len(columns) - 1)
    )


def _reliability_table(ctx: ReportContext, section: Section, table: pd.DataFrame) -> None:
    if table.empty:
        section.add("p", text="No problems or covariate instrument has two or more items.")
        return
    rows = []
    for r in table.itertuples(index=False):
        hide = r.n < ctx.min_cell
        rows.append(
            [
                r.instrument,
                label(r.wave),
                ctx.count(r.n),
                format_number(r.n_items, 0),
                DASH if hide else format_number(r.alpha),
                DASH if hide else format_number(r.omega),
                scrub_counts(str(r.note), ctx.min_cell) if r.note else "",
            ]
        )
    section.add(
        "table",
        table=Table(
            ["instrument", "wave", "n", "items", "alpha", "omega", "note"],
            rows,
            caption=(
                "Internal consistency per instrument and wave, on the rows with every item answered: "
                "Cronbach's alpha and McDonald's omega total (one factor). The note says why a value "
                f"is missing; values are withheld where n < {ctx.min_cell}."
            ),
            numeric=[False, False, True, True, True, True, False],
        ),
    )


def attrition_blocks(
    ctx: ReportContext, section: Section, attrition: AttritionResults | None
) -> None:
    """The attrition model: its status in words, the odds-ratio table and the LR-test sentence."""
    section.add("h3", text="Attrition", id="overview-attrition")
    if attrition is None:
        section.add("p", text="The attrition model's files were not given to the report.")
        return
    fit = attrition.fit
    what = _attrition_outcome(fit)
    if fit.status == "failed" or attrition.coefficients.empty:
        section.add(
            "note",
            tone="warn",
            text=f"The attrition model ({what}) could not be fitted: {fit.reason or 'no reason given'}.",
        )
        return
    if fit.status != "ok":
        section.add(
            "note",
            tone="warn",
            text=(
                f"The attrition model ({what}) is {fit.status}: {fit.reason or 'no reason given'}; "
                "treat its odds ratios as provisional."
            ),
        )
    section.add("p", text=_lr_sentence(ctx, fit, what))
    section.add("table", table=_attrition_table(ctx, attrition.coefficients, fit))


def _attrition_outcome(fit: results.AttritionFit) -> str:
    return (
        f"logistic regression of P observed at wave {label(fit.last_wave)} on the covariates at wave "
        f"{label(fit.first_wave)}"
    )


def _lr_sentence(ctx: ReportContext, fit: results.AttritionFit, what: str) -> str:
    covariates = join_words(list(fit.covariates)) or "no covariate"
    counts = (
        f"{ctx.count(fit.n_retained)} of {ctx.count(fit.n_obs)} participants with complete "
        f"baseline covariates were still observed"
    )
    if fit.lr_statistic is None or fit.lr_p is None or math.isnan(fit.lr_p):
        return f"Attrition model ({what}): {counts}; no likelihood-ratio test is available."
    verdict = "predict" if fit.lr_p < 0.05 else "do not detectably predict"
    return (
        f"Attrition model ({what}): {counts}. Together, {covariates} {verdict} who stays, against "
        f"the intercept-only model (likelihood-ratio χ²({fit.lr_df}) = "
        f"{format_number(fit.lr_statistic, 2)}, p {p_clause(fit.lr_p)})."
    )


def _attrition_table(
    ctx: ReportContext, coefficients: pd.DataFrame, fit: results.AttritionFit
) -> Table:
    rows = [
        [
            r.term,
            format_number(r.estimate),
            format_number(r.se),
            format_number(r.odds_ratio),
            f"{format_number(r.or_ci_low)} to {format_number(r.or_ci_high)}",
            format_p(r.p),
        ]
        for r in coefficients.itertuples(index=False)
    ]
    return Table(
        ["term", "log-odds", "SE", "odds ratio", "95% CI", "p"],
        rows,
        caption=(
            "Attrition model: odds of still being observed at the last wave per unit of each baseline "
            f"covariate (Wald z tests and 95% Wald CIs; {ctx.count(fit.n_dropped_missing)} participants "
            "left out for a missing covariate)."
        ),
        numeric=[False, True, True, True, False, True],
    )
