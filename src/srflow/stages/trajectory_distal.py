"""Stage of rule ``trajectory_distal``: distal outcomes by class (BCH)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from srflow import results
from srflow.stages._common import say


def trajectory_distal_stage(
    spec: Mapping[str, Any], spec_name: str, classes_in: str, scores_in: str, distal_out: str
) -> None:
    """BCH class means of the spec's distal outcomes for every fitted K >= 2 (``distal.csv``).

    Each participant's last observed value of an outcome (a score or a numeric covariate)
    enters; participants without one are left out of that outcome's means, and said so.

    Parameters
    ----------
    spec, spec_name
        The trajectory spec (``distal``) and its name.
    classes_in : str
        ``classes.csv`` of :func:`trajectory_select_stage`.
    scores_in : str
        ``scores.parquet``.
    distal_out : str
        CSV with :data:`srflow.trajectories.membership.DISTAL_COLUMNS`.
    """
    from srflow.errors import ModelError
    from srflow.trajectories import membership

    classes = pd.read_csv(classes_in, dtype={"participant_id": "str", "label": "str"})
    scores = pd.read_parquet(scores_in).astype({"participant_id": "str"})
    try:
        outcomes, notes = membership.last_values(scores, list(spec["distal"]))
        table = membership.distal_table(classes, outcomes)
    except ModelError as error:
        notes = [str(error)]
        table = pd.DataFrame({c: pd.Series(dtype="float64") for c in membership.DISTAL_COLUMNS})
    for note in notes:
        say(f"{spec_name} distal outcomes: {note}")
    results.DISTAL_TABLE.write(table, distal_out)
