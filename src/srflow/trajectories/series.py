"""The long series a trajectory spec models: a score, a covariate or wave-level SR, optionally
aligned on a stressor event (stressor lock)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from srflow.errors import ConfigError
from srflow.trajectories.anchoring import anchor_on_event

__all__ = ["TrajectorySeries", "series_columns", "trajectory_series"]


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
        raise ConfigError("anchored series requested but the trajectory spec has no anchor block.")
    time_col, outcome = series_columns(
        {**spec, "anchor": spec.get("anchor") if do_anchor else None}
    )
    keys = ["participant_id", "wave"]
    base_columns = keys + (["time"] if "time" in scores.columns else [])
    if axis == "time" and ("time" not in scores.columns or scores["time"].isna().all()):
        raise ConfigError(
            "trajectory spec uses 'time: time' but the scores table has no time values; "
            "set columns.time for the cohort or use 'time: wave'.",
        )
    table = scores[base_columns].copy()
    if variable.startswith("sr:"):
        if sr_table is None:
            raise ConfigError(
                f"trajectory variable '{variable}' needs the table of SR spec '{variable[3:]}'."
            )
        if (
            "wave" not in sr_table.columns
            or "sr" not in sr_table.columns
            or "wave_from" in sr_table.columns
        ):
            raise ConfigError(
                f"trajectory variable '{variable}': SR spec '{variable[3:]}' does not give one score per wave "
                f"(columns {', '.join(map(str, sr_table.columns))}); use an SR spec with level wave or multilevel.",
            )
        sr = sr_table[keys + ["sr"]].astype({"participant_id": "str", "wave": "int64"})
        table = table.merge(sr, on=keys, how="left", sort=False, validate="one_to_one")
    elif variable in scores.columns and variable not in base_columns:
        table[outcome] = pd.to_numeric(scores[variable])
    else:
        raise ConfigError(
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
    anchor = spec["anchor"]
    column = anchor["column"]
    keys = ["participant_id", "wave"]
    if column in scores.columns and column not in keys + ["time"]:
        event = scores[keys + [column]]
    elif items is not None and column in items.columns:
        event = items[keys + [column]]
    else:
        where = "scores table" + (" or the validated table" if items is not None else "")
        raise ConfigError(
            f"anchor column '{column}' is not in the {where}; name a stressor score (E, an instrument) "
            "or an item of the validated table.",
        )
    if not pd.api.types.is_numeric_dtype(event[column]):
        raise ConfigError(
            f"anchor column '{column}' must be numeric, it holds {event[column].dtype} values."
        )
    event = event.rename(columns={column: "_event"}).astype(
        {"participant_id": "str", "wave": "int64"}
    )
    merged = table.merge(event, on=keys, how="left", sort=False, validate="one_to_one")
    use_time = spec["time"] == "time"
    result = anchor_on_event(
        merged,
        "_event",
        float(anchor["threshold"]),
        participant="participant_id",
        wave="wave",
        time="time" if use_time else None,
        pre=int(anchor["pre"]),
        peri=int(anchor["peri"]),
        post=int(anchor["post"]),
    )
    rows = result.data
    rows["waves_from_anchor"] = rows["waves_from_anchor"].astype("float64")
    keep = rows["window"].notna() & rows[outcome].notna() & rows[time_col].notna()
    columns = (
        keys
        + (["time"] if "time" in rows.columns else [])
        + [
            "anchor_wave",
            "waves_from_anchor",
            *(["time_from_anchor"] if use_time else []),
            "window",
            outcome,
        ]
    )
    data = rows.loc[keep, columns].sort_values(keys, kind="mergesort").reset_index(drop=True)
    data["anchor_wave"] = data["anchor_wave"].astype("int64")
    data["window"] = data["window"].astype("str")
    counts = (
        pd.crosstab(data["participant_id"], data["window"])
        .reindex(columns=["pre", "peri", "post"], fill_value=0)
        .add_prefix("n_")
    )
    participants = pd.DataFrame(
        {"participant_id": np.sort(table["participant_id"].astype("str").unique())}
    )
    found = result.anchors.astype({"participant_id": "str"})
    anchors = participants.merge(found, on="participant_id", how="left", sort=False)
    anchors.insert(1, "anchored", anchors["anchor_wave"].notna())
    anchors["anchor_wave"] = anchors["anchor_wave"].astype("Int64")
    anchors = anchors.merge(counts.reset_index(), on="participant_id", how="left", sort=False)
    for name in ("n_pre", "n_peri", "n_post"):
        anchors[name] = anchors[name].fillna(0).astype("int64")
    return TrajectorySeries(data=data, time=time_col, outcome=outcome, anchors=anchors)
