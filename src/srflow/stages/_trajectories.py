"""Helpers shared by the trajectory stages (seeds, spec settings, reading the series and fits).

Trajectory stages: build the modelled series, fit one K per job, bootstrap one replicate per job, gather.

The stages read and write files; the domain logic is in the library: the series in
:mod:`srflow.trajectories.series`, the fits in :mod:`srflow.trajectories.selection`, the
gathering into tables in :mod:`srflow.trajectories.gather`.

The workflow runs, per cohort and trajectory spec:

1. ``trajectory_series_stage`` (one job): the long series the spec models, from the scores
   table (``P``, ``E``, an instrument score or a covariate), from a wave-level SR table
   (``variable: "sr:<spec>"``), optionally aligned on a stressor event (``anchor``), written to
   ``trajectories/{name}/series.parquet`` (or ``series_anchored.parquet`` plus ``anchors.csv``).
2. ``trajectory_fit_stage`` (one job per K): fit indices, curves and posteriors of that K.
3. ``trajectory_bootstrap_stage`` (one job per K >= 2 and replicate, when ``bootstrap`` > 0):
   one parametric-bootstrap replicate of the likelihood-ratio test of K - 1 against K classes.
4. ``trajectory_select_stage`` (one job): ``selection.csv`` (with the bootstrap p-values),
   ``classes.csv`` (with Bonanno labels) and ``curves.csv``.

Fit, bootstrap and select jobs take the trajectory spec and the config seed as arguments, not
the whole config, so they neither read nor re-validate it. Seeds come from the config seed and
the job's identity only (``job_seed``), so outputs do not depend on which jobs ran, or in which
order: the grid fit of K uses ``model_seed(spec_seed, K)`` with
``spec_seed = job_seed(seed, cohort, spec)``, and bootstrap replicate r of K uses
``job_seed(seed, cohort, spec, "K<k>", "rep<r>")`` while simulating from the very K - 1 fit the
grid made (same seed, same data).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from srflow.stages._common import job_seed
from srflow.trajectories.series import series_columns


def spec_seed(config_seed: int, cohort_name: str, spec_name: str) -> int:
    """The seed of one trajectory spec in one cohort (the grid fit of K uses ``model_seed(it, K)``)."""
    return job_seed(config_seed, cohort_name, spec_name)


def _fail(kind: str, message: str):
    from srflow import errors

    return getattr(errors, kind)(message)


def model_settings(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The estimator settings of a trajectory spec, as keyword arguments of the grid fit."""
    settings = {
        "method": spec["method"],
        "degree": spec["degree"],
        "variance": spec["variance"],
        "n_init": spec["starts"],
    }
    if spec["method"] == "gmm":
        settings.update(random=tuple(spec["random"]), random_variance=spec["random_variance"])
    return settings


def _read_series(series_in: str, spec: Mapping[str, Any]) -> tuple[pd.DataFrame, str, str]:
    time, outcome = series_columns(spec)
    return pd.read_parquet(series_in, columns=["participant_id", time, outcome]), time, outcome


def _read_json(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
