"""Why a score is missing in every row: the instrument, its items and the likely cause.

:func:`srflow.scoring.score` raises when an instrument's score or E is missing in every
row of a cohort (nothing downstream could use it, and an all-missing column would pass
silently into SR scores and models); the messages come from here.
"""

from __future__ import annotations

import pandas as pd

from srflow.config import CohortConfig, Instrument


def missing_score_problems(
    scores: pd.DataFrame,
    validated: pd.DataFrame,
    cohort: CohortConfig,
    items: dict[str, list[str]],
) -> list[str]:
    """Each score (an instrument's, or E) that is missing in every row, with the likely cause.

    Parameters
    ----------
    scores
        The scores table of :func:`score`.
    validated
        The validated table it was scored from (sorted as ``scores``).
    cohort
        The cohort's config.
    items
        Instrument -> item columns.

    Returns
    -------
    list of str
        One message per all-missing score (none for a table without rows): the
        instrument, its items and why no row could be scored.

    Examples
    --------
    >>> import numpy as np
    >>> from srflow.config import Instrument
    >>> inst = Instrument("ghq", "problems", "prefix", "G", (0, 3), "sum", 0.8, (), "severity", ())
    >>> _why_missing(inst, pd.DataFrame({"G1": [1.0, 2.0], "G2": [np.nan, np.nan]}), ["G1", "G2"])
    'item(s) G2 answered in no row, and score: sum needs every item'
    """
    if not len(scores):
        return []
    problems = []
    for name, instrument in cohort.instruments.items():
        if scores[name].notna().any():
            continue
        columns = items[name]
        shown = ", ".join(columns[:15]) + (
            f", ... ({len(columns)} items)" if len(columns) > 15 else ""
        )
        problems.append(
            f"instruments.{name} ({instrument.role}; items {shown}): missing in all {len(scores)} "
            f"rows: {_why_missing(instrument, validated, columns)}"
        )
    if cohort.stressors and not scores["E"].notna().any():
        empty = [s.name for s in cohort.stressors if not scores[s.name].notna().any()]
        cause = (
            f"stressor instrument(s) {', '.join(empty)} are never scored"
            if empty
            else "no row has every stressor instrument scored"
            if cohort.exposure_combine == "sum"
            else _unscalable(scores, cohort)
        )
        problems.append(f"E (exposure): missing in all {len(scores)} rows: {cause}")
    return problems


def _unscalable(scores: pd.DataFrame, cohort: CohortConfig) -> str:
    """Why exposure.combine: zmean gave no E: the stressor instruments without spread."""
    flat = []
    for instrument in cohort.stressors:
        scored = scores[instrument.name].dropna()
        if len(scored) < 2 or scored.std(ddof=1) == 0:
            flat.append(
                f"'{instrument.name}' ({len(scored)} scored rows, all {scored.iloc[0]:g})"
                if len(scored)
                else f"'{instrument.name}'"
            )
    if flat:
        return (
            f"exposure.combine: zmean cannot z-score stressor instrument(s) without spread: "
            f"{', '.join(flat)}; use combine: sum or check the instrument's data"
        )
    return "no row has every stressor instrument scored"


def _why_missing(instrument: Instrument, validated: pd.DataFrame, columns: list[str]) -> str:
    """The likely reason why no row of an instrument could be scored."""
    answered = validated.loc[:, columns].notna()
    never = [c for c in columns if not answered[c].any()]
    if len(never) == len(columns):
        return (
            "no item is answered in any row (check the item selector, the missing codes and "
            "that these columns hold the answers)"
        )
    if instrument.score == "sum":
        return (
            f"item(s) {', '.join(never[:10])} answered in no row, and score: sum needs every item"
        )
    most = int(answered.sum(axis=1).max())
    return (
        f"at most {most} of {len(columns)} items are answered in a row, below min_answered "
        f"{instrument.min_answered:g} of score: {instrument.score}"
    )
