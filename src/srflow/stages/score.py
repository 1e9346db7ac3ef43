"""Stage of rule ``score``: the validated table -> P, E and the instrument scores."""

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
) -> None:
    """Score the questionnaires of a validated table into P, E and one column per instrument."""
    from srflow import scoring

    cohort = cohort_config(config_data, cohort_name)
    scores = scoring.score(pd.read_parquet(validated_in), cohort)
    say(
        f"scored {len(scores)} rows; P missing in {int(scores['P'].isna().sum())}, E missing in {int(scores['E'].isna().sum())}"
    )
    results.SCORES_TABLE.write(scores, parquet_out)
    results.SCORES_TABLE.write(scores, csv_out)
