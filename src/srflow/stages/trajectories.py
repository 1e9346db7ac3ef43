"""Trajectory stages: build the modelled series, fit one K per job, bootstrap one replicate per job, gather.

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

import numpy as np
import pandas as pd

from srflow.config import SR_WAVE_LEVELS
from srflow.stages._common import job_seed, say
from srflow.tables import write_json, write_table
from srflow.trajectories.series import TrajectorySeries, series_columns, trajectory_series

__all__ = [
    "TrajectorySeries",
    "series_columns",
    "spec_seed",
    "trajectory_bootstrap_stage",
    "trajectory_distal_stage",
    "trajectory_fit_stage",
    "trajectory_predictors_stage",
    "trajectory_select_stage",
    "trajectory_series",
    "trajectory_series_stage",
]


def spec_seed(config_seed: int, cohort_name: str, spec_name: str) -> int:
    """The seed of one trajectory spec in one cohort (the grid fit of K uses ``model_seed(it, K)``)."""
    return job_seed(config_seed, cohort_name, spec_name)


def _fail(kind: str, message: str):
    from srflow import errors

    return getattr(errors, kind)(message)


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
            raise _fail("ConfigError", f"trajectory spec '{spec_name}' needs the SR table {sr_name}.csv as input.")
        sr_table = pd.read_csv(sr_in, dtype={"participant_id": "str"})
    scores = pd.read_parquet(scores_in)
    items = None
    anchor = spec.get("anchor") if anchors_out else None
    if anchors_out and not anchor:
        raise _fail("ConfigError", f"trajectory spec '{spec_name}' has no anchor block; there is nothing to align on.")
    if anchor and validated_in and anchor["column"] not in scores.columns:
        items = pd.read_parquet(validated_in, columns=["participant_id", "wave", anchor["column"]])
    series = trajectory_series(scores, spec, sr_table=sr_table, items=items, anchor=bool(anchors_out))
    write_table(series.data, series_out)
    n = series.data["participant_id"].nunique()
    say(f"{spec_name}: {series.outcome} over {series.time}, {len(series.data)} rows of {n} participants")
    if anchors_out:
        anchored = int(series.anchors["anchored"].sum())
        say(f"{spec_name}: {anchored} participants anchored on {anchor['column']} >= {anchor['threshold']}, "
            f"{len(series.anchors) - anchored} without an anchor")
        write_table(series.anchors, anchors_out)


def model_settings(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The estimator settings of a trajectory spec, as keyword arguments of the grid fit."""
    settings = {"method": spec["method"], "degree": spec["degree"], "variance": spec["variance"],
                "n_init": spec["starts"]}
    if spec["method"] == "gmm":
        settings.update(random=tuple(spec["random"]), random_variance=spec["random_variance"])
    return settings


def _read_series(series_in: str, spec: Mapping[str, Any]) -> tuple[pd.DataFrame, str, str]:
    time, outcome = series_columns(spec)
    return pd.read_parquet(series_in, columns=["participant_id", time, outcome]), time, outcome


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
        row and curves (``orient="split"``).
    classes_out : str
        Parquet: ``participant_id, K, class, post_1 .. post_K`` (no rows when the fit failed).
    """
    from srflow import trajectories

    series, time, outcome = _read_series(series_in, spec)
    seed = spec_seed(config_seed, cohort_name, spec_name)
    record: dict[str, Any] = {"spec": spec_name, "K": n_classes, "status": "ok", "reason": None}
    classes = pd.DataFrame({"participant_id": pd.Series(dtype="str"), "K": pd.Series(dtype="int64"), "class": pd.Series(dtype="int64")})
    # a mixture's K job fits K - 1 too (the same fit as that job's), to certify K against it
    nested = spec["method"] != "kmeans" and n_classes >= 2
    grid = trajectories.fit_trajectory_grid(
        series, participant="participant_id", time=time, outcome=outcome,
        classes=[n_classes - 1, n_classes] if nested else [n_classes], random_state=seed,
        on_error="skip", **model_settings(spec),
    )
    selection, models = grid[0][grid[0]["K"] == n_classes].reset_index(drop=True), grid[1]
    if n_classes not in models:
        error = selection["error"].iloc[0]
        record.update(status="failed", reason=f"trajectory spec '{spec_name}' with K={n_classes}: {error}")
        say(record["reason"])
    else:
        model = models[n_classes]
        # column lists keep the tables' column order (the JSON's keys are sorted)
        record["selection"] = selection.to_dict(orient="split", index=False)
        curves = trajectories.curves_table({n_classes: model})
        record["curves"] = curves.to_dict(orient="split", index=False)
        classes = pd.DataFrame({"participant_id": model.participants_.astype("str"), "K": n_classes, "class": model.labels_})
        posterior = np.asarray(model.posterior_)
        for j in range(n_classes):
            classes[f"post_{j + 1}"] = posterior[:, j]
        if selection["certification"].iloc[0] if "certification" in selection else "":
            say(f"K={n_classes}: suspect: {selection['certification'].iloc[0]}")
        say(f"K={n_classes}: loglik {selection['loglik'].iloc[0]}")
    write_json(record, fit_out)
    write_table(classes, classes_out)


def trajectory_bootstrap_stage(
    spec: Mapping[str, Any],
    config_seed: int,
    cohort_name: str,
    spec_name: str,
    n_classes: int,
    replicate: int,
    series_in: str,
    replicate_out: str,
) -> None:
    """One parametric-bootstrap replicate of the LR test of K - 1 against K classes.

    The replicate simulates from the K - 1 class model the grid fitted (same data, same seed)
    and fits K - 1 and K classes to the simulated data, with the seed
    ``job_seed(config_seed, cohort, spec, "K<k>", "rep<r>")``. A replicate that cannot be
    fitted is recorded as failed, not raised.

    Parameters
    ----------
    spec, config_seed, cohort_name, spec_name, n_classes, series_in
        As in :func:`trajectory_fit_stage`; K >= 2.
    replicate : int
        Replicate index (0, 1, ...).
    replicate_out : str
        JSON: ``K, replicate, seed, status, reason, lr, loglik_null, loglik_alt,
        loglik_null_observed``.
    """
    from srflow import trajectories
    from srflow.errors import ModelError

    series, time, outcome = _read_series(series_in, spec)
    seed = job_seed(config_seed, cohort_name, spec_name, f"K{n_classes}", f"rep{replicate}")
    null_seed = trajectories.model_seed(spec_seed(config_seed, cohort_name, spec_name), n_classes - 1)
    record: dict[str, Any] = {"spec": spec_name, "K": n_classes, "replicate": replicate, "seed": seed, "status": "ok", "reason": None}
    try:
        result = trajectories.bootstrap_lrt_replicate(
            series, n_classes, replicate, random_state=seed, participant="participant_id", time=time,
            outcome=outcome, null_seed=null_seed, **model_settings(spec),
        )
    except ModelError as error:
        record.update(status="failed", reason=f"bootstrap replicate {replicate} of K={n_classes}: {error}")
        say(record["reason"])
    else:
        record.update(result)
        say(f"K={n_classes} replicate {replicate}: LR {result['lr']:.4f}")
    write_json(record, replicate_out)


def trajectory_select_stage(
    spec: Mapping[str, Any],
    spec_name: str,
    fits_in: list[str],
    classes_in: list[str],
    selection_out: str,
    classes_out: str,
    curves_out: str,
    bootstrap_in: list[str] | None = None,
    anchors_in: str | None = None,
    classification_out: str | None = None,
) -> None:
    """Gather the per-K fits of a spec into the selection, classes (with labels) and curves tables.

    Parameters
    ----------
    spec : mapping
        The trajectory spec (labels thresholds, anchor).
    spec_name : str
        Its name (messages).
    fits_in, classes_in : list of str
        The per-K outputs of :func:`trajectory_fit_stage`.
    selection_out, classes_out, curves_out : str
        CSV outputs (see :func:`srflow.trajectories.gather.gather_selection`): with a
        bootstrap also ``blrt_lr, blrt_p, blrt_replicates`` (K - 1 against K; ``p = (1 +
        #{LR_b >= LR}) / (B + 1)`` over the replicates that could be fitted); anchored, also
        ``n_anchored, n_unanchored``.
    bootstrap_in : list of str, optional
        Replicate JSONs of :func:`trajectory_bootstrap_stage`.
    anchors_in : str, optional
        ``anchors.csv`` of an anchored spec.
    classification_out : str, optional
        CSV of the mean posteriors by assigned class per K
        (:func:`srflow.trajectories.gather.classification_table`).
    """
    from srflow.trajectories import gather

    records = [_read_json(path) for path in fits_in]
    replicates = [_read_json(path) for path in bootstrap_in or []]
    for r in sorted(replicates, key=lambda r: (r["K"], r["replicate"])):
        if r["status"] != "ok":
            say(f"{spec_name}: {r['reason']}")
    anchors = pd.read_csv(anchors_in, dtype={"participant_id": "str"}) if anchors_in else None
    selection = gather.gather_selection(spec, records, replicates, anchors)
    curves = gather.gather_curves(records)
    classes, curves = gather.gather_classes(spec, curves, [pd.read_parquet(p) for p in classes_in])
    write_table(selection, selection_out)
    write_table(classes, classes_out)
    write_table(curves, curves_out)
    if classification_out:
        write_table(gather.classification_table(classes), classification_out)


def _read_json(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


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
    or constant predictors, a reference class beyond K) are printed; the table then holds the K
    that could be modelled (possibly none), and the other trajectory outputs are unaffected.

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
            series, participant="participant_id", time=time, outcome=outcome,
            classes=[k - 1, k], random_state=spec_seed(config_seed, cohort_name, spec_name),
            on_error="skip", **model_settings(spec),
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
    say(f"{spec_name}: class-membership effects ({method}) for K = "
        f"{', '.join(map(str, sorted(table['K'].unique()))) or 'none'}")
    write_table(table, predictors_out)


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
    write_table(table, distal_out)
