"""The chosen K's classes related to other things: classification matrix, predictors, distal outcomes.

Every block here shows one K (the chosen one) of a trajectory spec, read from
``classification.csv``, ``predictors.csv`` and ``distal.csv`` (contracts in
:mod:`srflow.results.trajectories`). Counts below ``report.min_cell`` are suppressed, and so
are the statistics of a class that small (they would describe a handful of people).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from srflow.report.blocks import ReportContext, Section, Table, label, p_clause
from srflow.report.formatting import DASH, format_number, format_p, is_suppressed
from srflow.report.references import REFERENCES

#: How each predictor method is said; the method column of predictors.csv starts with its key.
METHOD_WORDS = {
    "ml": (
        "the bias-adjusted three-step estimator (maximum likelihood with the classification error fixed, "
        f"{REFERENCES['vermunt2010']['cite']}), whose SEs account for the classification error"
    ),
    "bch": (
        "the bias-adjusted three-step estimator with BCH weights "
        f"({REFERENCES['bakk2013']['cite']}), with sandwich SEs"
    ),
    "one_step": (
        "a one-step model estimating the class curves and the membership logit jointly (SEs hold the "
        "class curves fixed)"
    ),
    "modal": (
        "the naive modal-class logit: each participant's most likely class is treated as known, which "
        "attenuates the effects towards zero and understates the SEs"
    ),
}


def method_key(method: Any) -> str:
    """The estimator's key ("ml", "bch", "one_step", "modal") from a method cell such as "ml: ..."."""
    return str(method).split(":", 1)[0].strip()


def class_name(k_class: Any, labels: Mapping[Any, str]) -> str:
    """ "class 2 ('chronic')", or "class 2" when the class has no label."""
    name = labels.get(k_class, "")
    return f"class {label(k_class[1])}" + (f" ('{name}')" if name else "")


def classification_block(
    ctx: ReportContext, section: Section, table: pd.DataFrame | None, chosen: Any
) -> bool:
    """The chosen K's mean-posterior matrix; whether one was shown."""
    if table is None or table.empty:
        return False
    part = table[table["K"] == chosen].sort_values("assigned_class", kind="stable")
    if part.empty:
        return False
    k = int(chosen)
    rows = []
    for _, r in part.iterrows():
        few = is_suppressed(r["n"], ctx.min_cell)  # the means of a handful of people are withheld
        cells = [
            DASH if few else format_number(r.get(f"mean_post_{j}", np.nan)) for j in range(1, k + 1)
        ]
        name = str(r["label"]) if isinstance(r["label"], str) and r["label"] else DASH
        rows.append([label(r["assigned_class"]), name, ctx.count(r["n"]), *cells])
    section.add(
        "table",
        table=Table(
            ["assigned class", "label", "n", *(f"class {j}" for j in range(1, k + 1))],
            rows,
            caption=(
                f"Classification at the chosen K = {k}: for the participants assigned to each class (their most "
                "likely class), the mean posterior probability of every class (columns class 1 to "
                f"class {k}). The diagonal is the average "
                "posterior probability of the assigned class (AvePP; above 0.7 is usually read as clear "
                "assignment); off-diagonal values are the classification uncertainty. Rows of classes with fewer "
                f"than {ctx.min_cell} participants are withheld."
            ),
            numeric=[False, False, True] + [True] * k,
        ),
    )
    return True


def _interval(low: Any, high: Any) -> str:
    return f"{format_number(math.exp(low))} to {format_number(math.exp(high))}"


def effect_sentence(row: pd.Series, labels: Mapping[Any, str]) -> str:
    """One plain-words sentence of a membership effect (the direction follows the estimate's sign).

    Parameters
    ----------
    row : pandas.Series
        A row of ``predictors.csv`` (``K, class, reference_class, term, estimate, ci_low, ci_high, p``).
    labels : Mapping
        ``(K, class)`` -> class label.

    Examples
    --------
    >>> row = pd.Series({"K": 2, "class": 2, "reference_class": 1, "term": "age", "estimate": 0.04,
    ...                  "ci_low": 0.01, "ci_high": 0.07, "p": 0.004})
    >>> effect_sentence(row, {(2, 1): "resilient", (2, 2): "chronic"})[:92]
    "Each one-unit increase in age raises the odds of being in class 2 ('chronic') rather than cl"
    """
    k = row["K"]
    target, reference = (
        class_name((k, row["class"]), labels),
        class_name((k, row["reference_class"]), labels),
    )
    estimate = float(row["estimate"])
    term = str(row["term"])
    if "[" in term and term.endswith("]"):
        name, level = term[:-1].split("[", 1)
        subject = f"Having {name} = '{level}' (rather than its first level)"
    else:
        subject = f"Each one-unit increase in {term}"
    verb = "raises" if estimate > 0 else "lowers" if estimate < 0 else "leaves unchanged"
    sentence = (
        f"{subject} {verb} the odds of being in {target} rather than {reference}: they are multiplied by "
        f"{format_number(math.exp(estimate))} (95% CI {_interval(row['ci_low'], row['ci_high'])}, "
        f"p {p_clause(row['p'])})"
    )
    if float(row["ci_low"]) <= 0.0 <= float(row["ci_high"]):
        sentence += "; the interval includes 1, so no effect is also compatible with the data"
    return sentence + "."


def certification_note(part: pd.DataFrame, chosen: Any, words: str) -> str | None:
    """Words for a chosen K whose membership model failed or is suspect (None when ok).

    Examples
    --------
    >>> part = pd.DataFrame({"status": ["failed"], "reason": ["a predictor separates the classes"]})
    >>> certification_note(part, 3, "ML")[-80:]
    'could not be estimated: a predictor separates the classes. No effects are shown.'
    """
    status = set(part["status"].astype(str))
    reason = "; ".join(dict.fromkeys(str(r) for r in part["reason"] if isinstance(r, str) and r))
    if "failed" in status:
        return (
            f"The class-membership model at the chosen K = {label(chosen)} ({words}) could not be "
            f"estimated: {reason}. No effects are shown."
        )
    if "suspect" in status:
        return (
            f"The optimum of the class-membership model at the chosen K = {label(chosen)} could not "
            f"be certified: {reason}. Read its effects with caution."
        )
    return None


def predictors_block(
    ctx: ReportContext,
    section: Section,
    table: pd.DataFrame | None,
    chosen: Any,
    labels: Mapping[Any, str],
    provisional: str,
) -> bool:
    """The chosen K's odds ratios of class membership, the estimator in words and one sentence per effect.

    Returns whether an effects table was shown (not for a K whose membership model failed).
    """
    if table is None:
        return False
    part = table[table["K"] == chosen].sort_values(["class", "term"], kind="stable")
    if part.empty:
        section.add(
            "note",
            tone="warn",
            text=(
                f"No class-membership effects for the chosen K = {label(chosen)} (the predictors rule's log says "
                "why: e.g. a predictor that is not a column of the scores table)."
            ),
        )
        return False
    key = method_key(part["method"].iloc[0])
    words = METHOD_WORDS.get(key, f"method '{key}'")
    status = certification_note(part, chosen, words)
    if status is not None:
        section.add("note", tone="warn", text=status)
    if (part["status"] == "failed").all():
        return False
    if key == "modal":
        section.add(
            "note",
            tone="warn",
            text=(
                "The class-membership effects below are naive (modal class, predictor_method: modal): they are "
                "attenuated towards zero and their SEs are too small; they are shown for comparison only. Use ml or "
                "bch for inference."
            ),
        )
    rows = []
    for _, r in part.iterrows():
        rows.append(
            [
                class_name((chosen, r["class"]), labels),
                class_name((chosen, r["reference_class"]), labels),
                str(r["term"]),
                format_number(r["estimate"]),
                format_number(r["se"]),
                format_number(math.exp(float(r["estimate"]))),
                _interval(r["ci_low"], r["ci_high"]),
                format_p(r["p"]),
            ]
        )
    section.add(
        "table",
        table=Table(
            [
                "class",
                "against",
                "term",
                "log-odds",
                "SE",
                "odds ratio",
                "95% CI of the odds ratio",
                "p",
            ],
            rows,
            caption=(
                f"Predictors of class membership at the chosen K = {label(chosen)}: baseline values in a "
                f"multinomial logit of the class against the reference class, estimated by {words}. An odds ratio "
                "above 1 means higher values make the class more likely than the reference class."
                + provisional
            ),
            numeric=[False, False, False, True, True, True, True, True],
        ),
    )
    effects = part[part["term"] != "(intercept)"]
    if not effects.empty:
        section.add("p", text="Class-membership effects in words:")
        section.add("bullets", items=[effect_sentence(r, labels) for _, r in effects.iterrows()])
    return True


def distal_block(
    ctx: ReportContext,
    section: Section,
    table: pd.DataFrame | None,
    chosen: Any,
    labels: Mapping[Any, str],
    provisional: str,
) -> None:
    """The chosen K's BCH class means of each distal outcome, with the Wald test of equal means."""
    if table is None:
        return
    part = table[table["K"] == chosen].sort_values(["outcome", "class"], kind="stable")
    if part.empty:
        section.add(
            "note", tone="warn", text=f"No distal-outcome means for the chosen K = {label(chosen)}."
        )
        return
    rows, tests = [], []
    for outcome, rows_of in part.groupby("outcome", sort=False):
        for _, r in rows_of.iterrows():
            few = is_suppressed(r["n"], ctx.min_cell)
            stats = (
                [DASH] * 3
                if few
                else [
                    format_number(r["mean"]),
                    format_number(r["se"]),
                    f"{format_number(r['ci_low'])} to {format_number(r['ci_high'])}",
                ]
            )
            rows.append(
                [str(outcome), class_name((chosen, r["class"]), labels), ctx.count(r["n"]), *stats]
            )
        first = rows_of.iloc[0]
        if np.isfinite(float(first["wald_chi2"])):
            tests.append(
                f"{outcome}: Wald chi-square({label(first['wald_df'])}) = "
                f"{format_number(first['wald_chi2'], 2)}, p {p_clause(first['wald_p'])}"
            )
    section.add(
        "table",
        table=Table(
            ["outcome", "class", "n (modal)", "mean", "SE", "95% CI"],
            rows,
            caption=(
                f"Distal outcomes at the chosen K = {label(chosen)}: each participant's last observed value, "
                f"class means with BCH weights ({REFERENCES['bakk2013']['cite']}) that correct for the "
                "classification error, sandwich SEs. n is the number assigned to the class (modal); the means of "
                f"classes with fewer than {ctx.min_cell} are withheld." + provisional
            ),
            numeric=[False, False, True, True, True, True],
        ),
    )
    if tests:
        section.add("p", text="Test of equal means across classes: " + "; ".join(tests) + ".")
