"""Stages that fit trajectory models (one job per K) and gather them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from srflow.config import load_config
from srflow.stages._common import job_seed, say
from srflow.tables import write_json, write_table




def trajectory_series(scores: pd.DataFrame, spec: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """The long series a trajectory spec models: (table, outcome column name)."""
    from srflow.errors import ModelError

    variable = spec["variable"]
    if variable not in scores.columns:
        raise ModelError(f"trajectory variable '{variable}' is not a column of the scores table ({', '.join(scores.columns)})")
    return scores[["participant_id", spec["time"], variable]].dropna(), variable


def trajectory_fit_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    spec_name: str,
    n_classes: int,
    scores_in: str,
    fit_out: str,
    classes_out: str,
) -> None:
    """Fit one trajectory spec with K classes; a fit that is impossible is recorded, not raised."""
    from srflow import trajectories
    from srflow.errors import ModelError

    config = load_config(config_data)
    spec = config.cohort(cohort_name).trajectories[spec_name]
    series, outcome = trajectory_series(pd.read_parquet(scores_in), spec)
    seed = job_seed(config.seed, cohort_name, spec_name)
    record: dict[str, Any] = {"spec": spec_name, "K": n_classes, "status": "ok", "reason": None}
    classes = pd.DataFrame({"participant_id": pd.Series(dtype="str"), "K": pd.Series(dtype="int64"), "class": pd.Series(dtype="int64")})
    try:
        selection, models = trajectories.fit_trajectory_grid(
            series, participant="participant_id", time=spec["time"], outcome=outcome, classes=[n_classes],
            method=spec["method"], degree=spec["degree"], variance=spec["variance"], starts=spec["starts"], seed=seed,
        )
    except ModelError as error:
        record.update(status="failed", reason=f"trajectory spec '{spec_name}' with K={n_classes}: {error}")
        say(record["reason"])
    else:
        model = models[n_classes]
        # column lists keep the tables' column order (the JSON's keys are sorted)
        record["selection"] = selection.to_dict(orient="split", index=False)
        record["curves"] = trajectories.curves_table(models).to_dict(orient="split", index=False)
        classes = pd.DataFrame({"participant_id": model.participants_, "K": n_classes, "class": model.classes_})
        for j in range(n_classes):
            classes[f"post_{j + 1}"] = np.asarray(model.posterior_)[:, j]
        say(f"K={n_classes}: loglik {selection['loglik'].iloc[0]}")
    write_json(record, fit_out)
    write_table(classes, classes_out)


def trajectory_select_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    spec_name: str,
    fits_in: list[str],
    classes_in: list[str],
    selection_out: str,
    classes_out: str,
    curves_out: str,
) -> None:
    """Gather the per-K fits of a spec into the selection, classes (with labels) and curves tables."""
    from srflow import trajectories

    spec = load_config(config_data).cohort(cohort_name).trajectories[spec_name]
    records = [json.loads(Path(path).read_text(encoding="utf-8")) for path in fits_in]
    records.sort(key=lambda r: r["K"])

    def frame(split: Mapping[str, Any]) -> pd.DataFrame:
        return pd.DataFrame(split["data"], columns=split["columns"])

    fitted = [r for r in records if r["status"] == "ok"]
    failed = [{"K": r["K"], "error": r["reason"]} for r in records if r["status"] != "ok"]
    selection = pd.concat([frame(r["selection"]) for r in fitted] + [pd.DataFrame(failed)], ignore_index=True)
    selection = selection.sort_values("K", kind="stable").reset_index(drop=True)
    curves = pd.concat([frame(r["curves"]) for r in fitted], ignore_index=True) if fitted else pd.DataFrame(
        columns=["K", "class", "time", "fitted", "observed_mean", "observed_sd", "n_observed"]
    )
    classes = pd.concat([pd.read_parquet(path) for path in classes_in], ignore_index=True)
    if fitted:
        thresholds = {key: value for key, value in spec["labels"].items() if value is not None}
        labels = trajectories.label_classes(curves, thresholds)
        classes = classes.merge(labels[["K", "class", "label"]], on=["K", "class"], how="left", sort=False)
        curves = curves.merge(labels[["K", "class", "label"]], on=["K", "class"], how="left", sort=False)
    else:
        classes["label"] = pd.Series(dtype="str")
    posterior = sorted((c for c in classes.columns if c.startswith("post_")), key=lambda c: int(c.split("_")[1]))
    classes = classes[["participant_id", "K", "class", "label", *posterior]].sort_values(["K", "participant_id"], kind="stable")
    write_table(selection, selection_out)
    write_table(classes, classes_out)
    write_table(curves, curves_out)
