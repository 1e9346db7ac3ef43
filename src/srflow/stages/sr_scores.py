"""Stage of rule ``sr_scores``: the scores table -> one SR spec's table and normative line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from srflow.stages._common import cohort_config, say


def sr_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    spec_name: str,
    scores_in: str,
    table_out: str,
    line_out: str,
) -> None:
    """Compute one SR spec; a spec that cannot be computed is written as failed, with the reason."""
    from srflow import sr
    from srflow.config import sr_spec

    spec = sr_spec(spec_name, cohort_config(config_data, cohort_name).sr[spec_name])
    result = sr.safe_compute_sr(pd.read_parquet(scores_in), spec)
    if result.status != "ok":
        say(f"SR spec '{spec_name}' could not be computed: {result.reason}")
    result.write(table_out, line_out)
