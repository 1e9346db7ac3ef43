"""Stage of rule ``score``: the validated table -> P, E and the instrument scores.

Beside the scores table it writes how P and E were made (``scoring.json``), the
reliability of each instrument per wave (``reliability.csv``) and the attrition model
(``attrition.csv``, ``attrition.json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from srflow import results
from srflow.stages._common import cohort_config, say


def score_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    validated_in: str,
    parquet_out: str,
    csv_out: str,
    scoring_out: str | None = None,
    reliability_out: str | None = None,
    attrition_csv_out: str | None = None,
    attrition_json_out: str | None = None,
) -> None:
    """Score the questionnaires of a validated table into P, E and one column per instrument."""
    from srflow import attrition, reliability, scoring

    cohort = cohort_config(config_data, cohort_name)
    validated = pd.read_parquet(validated_in)
    scores = scoring.score(validated, cohort)
    say(
        f"scored {len(scores)} rows; P missing in {int(scores['P'].isna().sum())}, E missing in {int(scores['E'].isna().sum())}"
    )
    results.SCORES_TABLE.write(scores, parquet_out)
    results.SCORES_TABLE.write(scores, csv_out)
    if scoring_out:
        summary = results.ScoringSummary.from_json(scoring.scoring_summary(scores, cohort))
        say(f"P: {summary.P.combine} of {', '.join(summary.P.instruments)} ({summary.P.status})")
        summary.write(scoring_out)
    if reliability_out:
        table = reliability.cohort_reliability(validated, cohort)
        say(f"reliability: {len(table)} instrument-wave rows")
        results.RELIABILITY_TABLE.write(table, reliability_out)
    if attrition_csv_out and attrition_json_out:
        model = attrition.fit_attrition(scores, cohort.columns.covariates)
        fit = results.AttritionFit.from_json(model.fit)
        say(f"attrition: {fit.status}" + (f" ({fit.reason})" if fit.reason else ""))
        results.ATTRITION_TABLE.write(model.coefficients, attrition_csv_out)
        fit.write(attrition_json_out)
