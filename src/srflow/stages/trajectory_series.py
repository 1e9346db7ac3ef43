"""Stage of rules ``trajectory_series`` and ``trajectory_series_anchored``: the series a spec models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from srflow import results
from srflow.config import SR_WAVE_LEVELS
from srflow.stages._common import say
from srflow.stages._trajectories import _fail
from srflow.tables import write_table
from srflow.trajectories.series import trajectory_series


def trajectory_series_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    spec_name: str,
    scores_in: str,
    series_out: str,
    sr_in: str | None = None,
    validated_in: str | None = None,
    anchors_out: str | None = None,
) -> None:
    """Write the series one trajectory spec models (and, anchored, the per-participant anchors).

    Parameters
    ----------
    config_data : mapping
        The config (validated here).
    cohort_name, spec_name : str
        Cohort and trajectory spec.
    scores_in : str
        ``scores.parquet``.
    series_out : str
        Parquet of the series (see :class:`TrajectorySeries`).
    sr_in : str, optional
        ``sr/{spec}.csv`` for ``variable: "sr:<spec>"``.
    validated_in : str, optional
        ``validated.parquet``, when the anchor column is an item.
    anchors_out : str, optional
        Given: align on the spec's anchor and write ``anchors.csv`` here.
    """
    from srflow.config import load_config

    cohort = load_config(config_data).cohort(cohort_name)
    spec = cohort.trajectories[spec_name]
    variable = str(spec["variable"])
    sr_table = None
    if variable.startswith("sr:"):
        sr_name = variable[3:]
        sr_spec = cohort.sr.get(sr_name)
        if sr_spec is None or sr_spec["level"] not in SR_WAVE_LEVELS:
            level = "not defined" if sr_spec is None else f"level {sr_spec['level']}"
            raise _fail(
                "ConfigError",
                f"trajectories.{spec_name}.variable '{variable}': SR spec '{sr_name}' is {level}; "
                f"a trajectory needs one SR score per wave (level {' or '.join(SR_WAVE_LEVELS)}).",
            )
        if sr_in is None:
            raise _fail(
                "ConfigError",
                f"trajectory spec '{spec_name}' needs the SR table {sr_name}.csv as input.",
            )
        sr_table = pd.read_csv(sr_in, dtype={"participant_id": "str"})
    scores = pd.read_parquet(scores_in)
    items = None
    anchor = spec.get("anchor") if anchors_out else None
    if anchors_out and not anchor:
        raise _fail(
            "ConfigError",
            f"trajectory spec '{spec_name}' has no anchor block; there is nothing to align on.",
        )
    if anchor and validated_in and anchor["column"] not in scores.columns:
        items = pd.read_parquet(validated_in, columns=["participant_id", "wave", anchor["column"]])
    series = trajectory_series(
        scores, spec, sr_table=sr_table, items=items, anchor=bool(anchors_out)
    )
    write_table(series.data, series_out)
    n = series.data["participant_id"].nunique()
    say(
        f"{spec_name}: {series.outcome} over {series.time}, {len(series.data)} rows of {n} participants"
    )
    if anchors_out:
        anchored = int(series.anchors["anchored"].sum())
        say(
            f"{spec_name}: {anchored} participants anchored on {anchor['column']} >= {anchor['threshold']}, "
            f"{len(series.anchors) - anchored} without an anchor"
        )
        results.ANCHORS_TABLE.write(series.anchors, anchors_out)
