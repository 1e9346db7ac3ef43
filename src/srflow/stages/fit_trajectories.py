"""Stage of rule ``fit_trajectories``: one K of a trajectory spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from srflow import results
from srflow.stages._common import say
from srflow.stages._trajectories import _read_series, model_settings, spec_seed
from srflow.tables import write_table


def trajectory_fit_stage(
    spec: Mapping[str, Any],
    config_seed: int,
    cohort_name: str,
    spec_name: str,
    n_classes: int,
    series_in: str,
    fit_out: str,
    classes_out: str,
) -> None:
    """Fit one trajectory spec with K classes; a fit that is impossible is recorded, not raised.

    Parameters
    ----------
    spec : mapping
        The trajectory spec (defaults filled).
    config_seed : int
        The config's seed.
    cohort_name, spec_name : str
        Identity of the job (seeds).
    n_classes : int
        K.
    series_in : str
        The series parquet of :func:`trajectory_series_stage`.
    fit_out : str
        JSON: ``spec, K, status ("ok" or "failed"), reason``, and for a fit the selection
        row and curves (``orient="split"``) and the fitted ``parameters`` (see
        :class:`srflow.trajectories.classify.TrajectoryClassifier`).
    classes_out : str
        Parquet: ``participant_id, K, class, post_1 .. post_K`` (no rows when the fit failed).
    """
    from srflow import trajectories
    from srflow.trajectories.classify import fit_parameters
    from srflow.trajectories.gather import class_labels

    series, time, outcome = _read_series(series_in, spec)
    seed = spec_seed(config_seed, cohort_name, spec_name)
    record: dict[str, Any] = {"spec": spec_name, "K": n_classes, "status": "ok", "reason": None}
    classes = pd.DataFrame(
        {
            "participant_id": pd.Series(dtype="str"),
            "K": pd.Series(dtype="int64"),
            "class": pd.Series(dtype="int64"),
        }
    )
    # a mixture's K job fits K - 1 too (the same fit as that job's), to certify K against it
    nested = spec["method"] != "kmeans" and n_classes >= 2
    grid = trajectories.fit_trajectory_grid(
        series,
        participant="participant_id",
        time=time,
        outcome=outcome,
        classes=[n_classes - 1, n_classes] if nested else [n_classes],
        random_state=seed,
        on_error="skip",
        **model_settings(spec),
    )
    selection, models = grid[0][grid[0]["K"] == n_classes].reset_index(drop=True), grid[1]
    if n_classes not in models:
        error = selection["error"].iloc[0]
        record.update(
            status="failed", reason=f"trajectory spec '{spec_name}' with K={n_classes}: {error}"
        )
        say(record["reason"])
    else:
        model = models[n_classes]
        # column lists keep the tables' column order (the JSON's keys are sorted)
        record["selection"] = selection.to_dict(orient="split", index=False)
        curves = trajectories.curves_table({n_classes: model})
        record["curves"] = curves.to_dict(orient="split", index=False)
        # what `srflow classify` needs to score new participants, labels as classes.csv has them
        labels = class_labels(spec, curves).sort_values("class")["label"].tolist()
        record["parameters"] = fit_parameters(model, spec, time, outcome, labels)
        classes = pd.DataFrame(
            {
                "participant_id": model.participants_.astype("str"),
                "K": n_classes,
                "class": model.labels_,
            }
        )
        posterior = np.asarray(model.posterior_)
        for j in range(n_classes):
            classes[f"post_{j + 1}"] = posterior[:, j]
        if selection["certification"].iloc[0] if "certification" in selection else "":
            say(f"K={n_classes}: suspect: {selection['certification'].iloc[0]}")
        say(f"K={n_classes}: loglik {selection['loglik'].iloc[0]}")
    results.TrajectoryFit.from_json(record, fit_out).write(fit_out)
    write_table(classes, classes_out)
