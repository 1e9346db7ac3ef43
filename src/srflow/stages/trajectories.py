"""Trajectory stages: build the modelled series, fit one K per job, bootstrap one replicate per job, gather.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srflow import results
from srflow.config import SR_WAVE_LEVELS
from srflow.stages._common import job_seed, say
from srflow.tables import write_json, write_table

__all__ = [
    "TrajectorySeries",
    "series_columns",
    "spec_seed",
    "trajectory_bootstrap_stage",
    "trajectory_fit_stage",
    "trajectory_select_stage",
    "trajectory_series",
    "trajectory_series_stage",
]

CURVE_COLUMNS = ["K", "class", "time", "fitted", "observed_mean", "observed_sd", "n_observed"]


@dataclass(frozen=True)
class TrajectorySeries:
    """The long series a trajectory spec models.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per modelled (participant, wave): ``participant_id, wave, [time,]`` the time
        axis column and the outcome column (names in ``time`` and ``outcome``), and for an
        anchored spec ``anchor_wave, waves_from_anchor, window``. Rows with a missing outcome
        or time are left out.
    time, outcome : str
        Column names of the time axis and the outcome in ``data``.
    anchors : pandas.DataFrame or None
        Anchored specs: one row per participant of the input (``participant_id, anchored,
        anchor_wave, [anchor_time,] n_pre, n_peri, n_post``; the counts are modelled rows
        per window). None otherwise.
    """

    data: pd.DataFrame
    time: str
    outcome: str
    anchors: pd.DataFrame | None = None


def series_columns(spec: Mapping[str, Any]) -> tuple[str, str]:
    """(time axis column, outcome column) of a spec's series table.

    The outcome keeps the variable's name (``sr`` for ``"sr:<spec>"``); the time axis is
    ``wave`` or ``time``, or with an anchor ``waves_from_anchor`` / ``time_from_anchor``.
    """
    variable = str(spec["variable"])
    outcome = "sr" if variable.startswith("sr:") else variable
    if spec.get("anchor"):
        time = "waves_from_anchor" if spec["time"] == "wave" else "time_from_anchor"
    else:
        time = spec["time"]
    return time, outcome


def spec_seed(config_seed: int, cohort_name: str, spec_name: str) -> int:
    """The seed of one trajectory spec in one cohort (the grid fit of K uses ``model_seed(it, K)``)."""
    return job_seed(config_seed, cohort_name, spec_name)


def _fail(kind: str, message: str):
    from srflow import errors

    return getattr(errors, kind)(message)


def trajectory_series(
    scores: pd.DataFrame,
    spec: Mapping[str, Any],
    sr_table: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    anchor: bool | None = None,
) -> TrajectorySeries:
    """The long series a trajectory spec models.

    Parameters
    ----------
    scores : pandas.DataFrame
        The scores table: ``participant_id, wave, time, P, E``, instrument scores, covariates.
    spec : mapping
        A trajectory spec with defaults filled (``variable``, ``time``, optional ``anchor``).
    sr_table : pandas.DataFrame, optional
        For ``variable: "sr:<spec>"``: that SR spec's table (``participant_id, wave, sr``; a
        wave-level or multilevel spec).
    items : pandas.DataFrame, optional
        The validated table (``participant_id, wave`` and item columns), needed when the
        anchor column is an item rather than a score.
    anchor : bool, optional
        Align on the spec's anchor (default: when the spec has one). False gives the
        unaligned series of an anchored spec.

    Returns
    -------
    TrajectorySeries

    Raises
    ------
    ConfigError
        The variable, the time axis or the anchor column does not exist, or an SR table
        without one score per wave is given.

    Notes
    -----
    Anchoring (stressor lock) keeps anchored participants' rows from ``pre`` waves before
    the anchor wave to ``post`` waves after the peri window (``peri`` waves from the anchor
    wave on, default 1: the anchor wave alone; see :func:`srflow.trajectories.anchor_on_event`),
    and the time axis becomes the time from the anchor: waves (``time: wave``) or the time
    column's units (``time: time``); 0 is the anchor wave. Participants without an anchor
    drop out of the model and are counted in ``anchors``.
    """
    variable = str(spec["variable"])
    axis = spec["time"]
    do_anchor = bool(spec.get("anchor")) if anchor is None else bool(anchor)
    if do_anchor and not spec.get("anchor"):
        raise _fail("ConfigError", "anchored series requested but the trajectory spec has no anchor block.")
    time_col, outcome = series_columns({**spec, "anchor": spec.get("anchor") if do_anchor else None})
    keys = ["participant_id", "wave"]
    base_columns = keys + (["time"] if "time" in scores.columns else [])
    if axis == "time" and ("time" not in scores.columns or scores["time"].isna().all()):
        raise _fail(
            "ConfigError",
            "trajectory spec uses 'time: time' but the scores table has no time values; "
            "set columns.time for the cohort or use 'time: wave'.",
        )
    table = scores[base_columns].copy()
    if variable.startswith("sr:"):
        if sr_table is None:
            raise _fail("ConfigError", f"trajectory variable '{variable}' needs the table of SR spec '{variable[3:]}'.")
        if "wave" not in sr_table.columns or "sr" not in sr_table.columns or "wave_from" in sr_table.columns:
            raise _fail(
                "ConfigError",
                f"trajectory variable '{variable}': SR spec '{variable[3:]}' does not give one score per wave "
                f"(columns {', '.join(map(str, sr_table.columns))}); use an SR spec with level wave or multilevel.",
            )
        sr = sr_table[keys + ["sr"]].astype({"participant_id": "str", "wave": "int64"})
        table = table.merge(sr, on=keys, how="left", sort=False, validate="one_to_one")
    elif variable in scores.columns and variable not in base_columns:
        table[outcome] = pd.to_numeric(scores[variable])
    else:
        raise _fail(
            "ConfigError",
            f"trajectory variable '{variable}' is not a column of the scores table "
            f"({', '.join(c for c in scores.columns if c not in base_columns)}); use P, E, an instrument, "
            "a numeric covariate or 'sr:<spec>'.",
        )
    if axis == "wave" and not do_anchor:
        table = table.drop(columns="time", errors="ignore")
    if not do_anchor:
        data = table.dropna(subset=[time_col, outcome])
        data = data.sort_values(keys, kind="mergesort").reset_index(drop=True)
        return TrajectorySeries(data=data, time=time_col, outcome=outcome)
    return _anchored_series(table, scores, items, spec, outcome, time_col)


def _anchored_series(
    table: pd.DataFrame,
    scores: pd.DataFrame,
    items: pd.DataFrame | None,
    spec: Mapping[str, Any],
    outcome: str,
    time_col: str,
) -> TrajectorySeries:
    from srflow.trajectories import anchor_on_event

    anchor = spec["anchor"]
    column = anchor["column"]
    keys = ["participant_id", "wave"]
    if column in scores.columns and column not in keys + ["time"]:
        event = scores[keys + [column]]
    elif items is not None and column in items.columns:
        event = items[keys + [column]]
    else:
        where = "scores table" + (" or the validated table" if items is not None else "")
        raise _fail(
            "ConfigError",
            f"anchor column '{column}' is not in the {where}; name a stressor score (E, an instrument) "
            "or an item of the validated table.",
        )
    if not pd.api.types.is_numeric_dtype(event[column]):
        raise _fail("ConfigError", f"anchor column '{column}' must be numeric, it holds {event[column].dtype} values.")
    event = event.rename(columns={column: "_event"}).astype({"participant_id": "str", "wave": "int64"})
    merged = table.merge(event, on=keys, how="left", sort=False, validate="one_to_one")
    use_time = spec["time"] == "time"
    result = anchor_on_event(
        merged, "_event", float(anchor["threshold"]), participant="participant_id", wave="wave",
        time="time" if use_time else None, pre=int(anchor["pre"]), peri=int(anchor["peri"]), post=int(anchor["post"]),
    )
    rows = result.data
    rows["waves_from_anchor"] = rows["waves_from_anchor"].astype("float64")
    keep = rows["window"].notna() & rows[outcome].notna() & rows[time_col].notna()
    columns = keys + (["time"] if "time" in rows.columns else []) + [
        "anchor_wave", "waves_from_anchor", *(["time_from_anchor"] if use_time else []), "window", outcome,
    ]
    data = rows.loc[keep, columns].sort_values(keys, kind="mergesort").reset_index(drop=True)
    data["anchor_wave"] = data["anchor_wave"].astype("int64")
    data["window"] = data["window"].astype("str")
    counts = (
        pd.crosstab(data["participant_id"], data["window"])
        .reindex(columns=["pre", "peri", "post"], fill_value=0)
        .add_prefix("n_")
    )
    participants = pd.DataFrame({"participant_id": np.sort(table["participant_id"].astype("str").unique())})
    found = result.anchors.astype({"participant_id": "str"})
    anchors = participants.merge(found, on="participant_id", how="left", sort=False)
    anchors.insert(1, "anchored", anchors["anchor_wave"].notna())
    anchors["anchor_wave"] = anchors["anchor_wave"].astype("Int64")
    anchors = anchors.merge(counts.reset_index(), on="participant_id", how="left", sort=False)
    for name in ("n_pre", "n_peri", "n_post"):
        anchors[name] = anchors[name].fillna(0).astype("int64")
    return TrajectorySeries(data=data, time=time_col, outcome=outcome, anchors=anchors)


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
        results.ANCHORS_TABLE.write(series.anchors, anchors_out)


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
    from srflow.errors import ModelError

    series, time, outcome = _read_series(series_in, spec)
    seed = spec_seed(config_seed, cohort_name, spec_name)
    record: dict[str, Any] = {"spec": spec_name, "K": n_classes, "status": "ok", "reason": None}
    classes = pd.DataFrame({"participant_id": pd.Series(dtype="str"), "K": pd.Series(dtype="int64"), "class": pd.Series(dtype="int64")})
    try:
        selection, models = trajectories.fit_trajectory_grid(
            series, participant="participant_id", time=time, outcome=outcome, classes=[n_classes],
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
        classes = pd.DataFrame({"participant_id": model.participants_.astype("str"), "K": n_classes, "class": model.classes_})
        posterior = np.asarray(model.posterior_)
        for j in range(n_classes):
            classes[f"post_{j + 1}"] = posterior[:, j]
        say(f"K={n_classes}: loglik {selection['loglik'].iloc[0]}")
    results.TrajectoryFit.from_json(record, fit_out).write(fit_out)
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
            series, n_classes, replicate, seed=seed, participant="participant_id", time=time, outcome=outcome,
            method=spec["method"], degree=spec["degree"], variance=spec["variance"], starts=spec["starts"],
            null_seed=null_seed,
        )
    except ModelError as error:
        record.update(status="failed", reason=f"bootstrap replicate {replicate} of K={n_classes}: {error}")
        say(record["reason"])
    else:
        record.update(result)
        say(f"K={n_classes} replicate {replicate}: LR {result['lr']:.4f}")
    write_json(record, replicate_out)


def _frame(split: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(split["data"], columns=split["columns"])


def _bootstrap_columns(selection: pd.DataFrame, replicates: list[Mapping[str, Any]], k_values: Iterable[int]) -> pd.DataFrame:
    """blrt_lr, blrt_p, blrt_replicates per K (K - 1 against K), from the replicate records."""
    from srflow.trajectories import bootstrap_lrt_pvalue

    ok = selection["status"] == "ok"
    fitted = selection.loc[ok, ["K", "loglik"]] if "loglik" in selection.columns else selection.loc[[], ["K"]].assign(loglik=0.0)
    loglik = dict(zip(fitted["K"].astype(int), fitted["loglik"].astype(float)))
    rows = []
    for k in k_values:
        done = [r for r in replicates if r["K"] == k and r["status"] == "ok"]
        row = {"K": k, "blrt_lr": np.nan, "blrt_p": np.nan, "blrt_replicates": len(done) if k >= 2 else pd.NA}
        null = loglik.get(k - 1, done[0]["loglik_null_observed"] if done else None)
        if k >= 2 and done and k in loglik and null is not None:
            test = bootstrap_lrt_pvalue(null, loglik[k], done)
            row.update(blrt_lr=test["lr_observed"], blrt_p=test["p_value"])
        rows.append(row)
    table = pd.DataFrame(rows)
    table["blrt_replicates"] = table["blrt_replicates"].astype("Int64")
    return table


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
        CSV outputs. ``selection.csv`` has one row per K with the fit indices, ``status``
        (``ok`` or ``failed``) and ``error`` (why it failed); with a bootstrap also
        ``blrt_lr, blrt_p, blrt_replicates`` (K - 1 against K; ``p = (1 + #{LR_b >= LR}) /
        (B + 1)`` over the replicates that could be fitted); anchored, also ``n_anchored,
        n_unanchored``.
    bootstrap_in : list of str, optional
        Replicate JSONs of :func:`trajectory_bootstrap_stage`.
    anchors_in : str, optional
        ``anchors.csv`` of an anchored spec.

    Notes
    -----
    For an anchored spec the Bonanno labels are given from the class curves at and after
    the anchor (time >= 0): the prototypes describe the course from the event on, and the
    pre-event waves are the baseline.
    """
    from srflow import trajectories

    records = sorted((json.loads(Path(path).read_text(encoding="utf-8")) for path in fits_in), key=lambda r: r["K"])
    fitted = [r for r in records if r["status"] == "ok"]
    failed = [
        {"method": spec["method"], "degree": spec["degree"], "K": r["K"], "status": "failed", "error": r["reason"]}
        for r in records if r["status"] != "ok"
    ]
    parts = [_frame(r["selection"]).assign(status="ok") for r in fitted]
    selection = pd.concat(parts + ([pd.DataFrame(failed)] if failed else []), ignore_index=True)
    selection = selection.sort_values("K", kind="stable").reset_index(drop=True)
    if "error" not in selection.columns:
        selection["error"] = ""
    selection["error"] = selection["error"].fillna("").astype("str")
    if bootstrap_in:
        replicates = sorted(
            (json.loads(Path(path).read_text(encoding="utf-8")) for path in bootstrap_in),
            key=lambda r: (r["K"], r["replicate"]),
        )
        for r in replicates:
            if r["status"] != "ok":
                say(f"{spec_name}: {r['reason']}")
        blrt = _bootstrap_columns(selection, replicates, selection["K"].astype(int).tolist())
        selection = selection.merge(blrt, on="K", how="left", sort=False)
    if anchors_in:
        anchors = pd.read_csv(anchors_in, dtype={"participant_id": "str"})
        anchored = int(anchors["anchored"].astype(bool).sum())
        selection["n_anchored"] = anchored
        selection["n_unanchored"] = int(len(anchors) - anchored)
    # status and error last, so the fit indices come first whatever failed
    selection = selection[[c for c in selection.columns if c not in ("status", "error")] + ["status", "error"]]

    curves = (
        pd.concat([_frame(r["curves"]) for r in fitted], ignore_index=True)
        if fitted else pd.DataFrame({c: pd.Series(dtype="float64") for c in CURVE_COLUMNS})
    )
    frames = [frame for frame in (pd.read_parquet(path) for path in classes_in) if len(frame)]
    classes = (
        pd.concat(frames, ignore_index=True) if frames
        else pd.DataFrame({"participant_id": pd.Series(dtype="str"), "K": pd.Series(dtype="int64"), "class": pd.Series(dtype="int64")})
    )
    if fitted:
        thresholds = {key: value for key, value in (spec.get("labels") or {}).items() if value is not None}
        course = curves
        if spec.get("anchor"):
            course = curves[curves["time"] >= 0] if (curves["time"] >= 0).any() else curves
        labels = trajectories.label_classes(course, thresholds)[["K", "class", "label"]]
        classes = classes.merge(labels, on=["K", "class"], how="left", sort=False)
        curves = curves.merge(labels, on=["K", "class"], how="left", sort=False)
    else:
        classes["label"] = pd.Series(dtype="str")
        curves["label"] = pd.Series(dtype="str")
    posterior = sorted((c for c in classes.columns if c.startswith("post_")), key=lambda c: int(c.split("_")[1]))
    classes = classes[["participant_id", "K", "class", "label", *posterior]].sort_values(["K", "participant_id"], kind="stable")
    results.SELECTION_TABLE.write(selection, selection_out)
    results.CLASSES_TABLE.write(classes, classes_out)
    results.CURVES_TABLE.write(curves, curves_out)
