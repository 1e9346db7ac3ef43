"""Stage of rule ``trajectory_predictors``: predictors of class membership."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from srflow import results
from srflow.stages._common import say
from srflow.stages._trajectories import _read_series, model_settings, spec_seed


def trajectory_predictors_stage(
    spec: Mapping[str, Any],
    config_seed: int,
    cohort_name: str,
    spec_name: str,
    classes_in: str,
    scores_in: str,
    series_in: str,
    predictors_out: str,
) -> None:
    """Predictors of class membership for every fitted K >= 2 of a spec (``predictors.csv``).

    Baseline (first-wave) values of the spec's ``predictors`` enter a multinomial logit of the
    class by ``predictor_method`` against ``reference_class``. Problems with the data (missing
    or constant predictors, a reference class beyond K, a predictor separating the classes) are
    printed; a K that cannot be modelled keeps its rows with NaN estimates, ``status`` "failed"
    and the ``reason``, an uncertified optimum is "suspect"; an unknown predictor column gives
    an empty table. The other trajectory outputs are unaffected.

    Parameters
    ----------
    spec, config_seed, cohort_name, spec_name
        As in :func:`trajectory_fit_stage` (one_step refits the K model with the same seed).
    classes_in : str
        ``classes.csv`` of :func:`trajectory_select_stage`.
    scores_in : str
        ``scores.parquet`` (the covariates).
    series_in : str
        The series parquet (one_step).
    predictors_out : str
        CSV with :data:`srflow.trajectories.membership.PREDICTOR_COLUMNS`.
    """
    from srflow import trajectories
    from srflow.errors import ModelError
    from srflow.trajectories import membership, predictors

    classes = pd.read_csv(classes_in, dtype={"participant_id": "str", "label": "str"})
    scores = pd.read_parquet(scores_in).astype({"participant_id": "str"})
    method, reference = spec["predictor_method"], int(spec["reference_class"])

    def density_for(k: int):
        series, time, outcome = _read_series(series_in, spec)
        _, models = trajectories.fit_trajectory_grid(
            series,
            participant="participant_id",
            time=time,
            outcome=outcome,
            classes=[k - 1, k],
            random_state=spec_seed(config_seed, cohort_name, spec_name),
            on_error="skip",
            **model_settings(spec),
        )
        return predictors.one_step_density(models[k])

    try:
        baseline, notes = membership.baseline_predictors(scores, list(spec["predictors"]))
        table, more = membership.predictor_table(classes, baseline, method, reference, density_for)
        notes += more
    except ModelError as error:
        notes = [str(error)]
        table = pd.DataFrame({c: pd.Series(dtype="float64") for c in membership.PREDICTOR_COLUMNS})
    for note in notes:
        say(f"{spec_name} predictors: {note}")
    for status in ("ok", "suspect", "failed"):
        ks = sorted(table.loc[table["status"] == status, "K"].unique())
        if ks or status == "ok":
            say(
                f"{spec_name}: class-membership effects ({method}) {status} for K = "
                f"{', '.join(map(str, ks)) or 'none'}"
            )
    results.PREDICTORS_TABLE.write(table, predictors_out)
