"""Name trajectory classes by explicit rules: Bonanno's prototypes only where they fit.

Each class curve is summarised by its fitted value at the first and the last time point
(``start``, ``end``) and the change ``end - start``. A level is *high* at or above ``high``,
*low* below ``low`` and *moderate* in between; a change of at least ``change`` in size is
*rising* or *falling*, a smaller one *stable*:

=============  ==========================================================
label          rule
=============  ==========================================================
resilient      low at start and end, stable
chronic        high at start and end, stable
recovery       high at start, falling
delayed        not high at start, rising, high at the end
=============  ==========================================================

Any other curve gets a descriptive name from its starting level and its direction ("moderate
stable", "moderate falling", "high rising"), never a prototype. A one-class solution
describes the whole sample, so it gets the descriptive name only. When several classes of one
solution get the same name they are numbered in class order ("low stable 1", ...).

SR series (``kind="sr"``: residuals of P given E, near 0 meaning "as expected") get SR names
from the mean fitted level: "worse than expected" at or above ``+high_sr``, "better than
expected" at or below ``-high_sr``, else "as expected"; with ", rising" or ", falling" for a
change beyond ``change``. Bonanno's prototypes are never used for SR.

Defaults, when a threshold is not given (pooled mean and SD recovered exactly from the curves
table's per-class observed means, SDs and counts): ``high = mean + 0.5 SD``, ``low = mean``
(a low class lies below the sample mean; without observed statistics ``low = high``),
``change = 0.5 SD`` (``low`` at most ``high``); for SR ``high_sr = 0.5 SD`` (``high`` if given). Set explicit clinical
cut-offs (e.g. a questionnaire's caseness score) when they exist.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from srflow.errors import ConfigError

__all__ = ["LabelThresholds", "label_classes", "PROTOTYPES", "SR_NAMES"]

PROTOTYPES = ("resilient", "recovery", "chronic", "delayed")
SR_NAMES = ("better than expected", "as expected", "worse than expected")


@dataclass(frozen=True)
class LabelThresholds:
    """Thresholds for :func:`label_classes`.

    Parameters
    ----------
    high : float or None
        Level at or above which a curve counts as high (outcome scale).
        None: ``pooled mean + high_sd * pooled SD``.
    low : float or None
        Level below which a curve counts as low. None: the pooled mean (``high`` when
        there are no observed statistics).
    change : float or None
        Minimum absolute change from first to last time for "rising" or
        "falling" (outcome units). None: ``change_sd * pooled SD``.
    high_sd, change_sd : float, default 0.5
        Multipliers used for the defaults.
    """

    high: float | None = None
    change: float | None = None
    low: float | None = None
    high_sd: float = 0.5
    change_sd: float = 0.5


def _pooled_mean_sd(rows: pd.DataFrame) -> tuple[float, float]:
    """Mean and SD of all observations from per-group means, SDs (ddof=1) and counts."""
    needed = {"observed_mean", "observed_sd", "n_observed"}
    if not needed <= set(rows.columns):
        raise ConfigError(
            "label thresholds 'high' and 'change' were not given and the curves table lacks "
            f"{sorted(needed - set(rows.columns))} to derive them; pass thresholds explicitly."
        )
    n = rows["n_observed"].to_numpy(dtype=float)
    mean = rows["observed_mean"].to_numpy(dtype=float)
    sd = rows["observed_sd"].to_numpy(dtype=float)
    ok = n > 0
    n, mean, sd = n[ok], mean[ok], np.where(n[ok] > 1, np.nan_to_num(sd[ok]), 0.0)
    total = n.sum()
    if total < 2:
        raise ConfigError("too few observations in the curves table to derive label thresholds.")
    grand = float((n * mean).sum() / total)
    sum_sq = float(((n - 1) * sd**2).sum() + (n * (mean - grand) ** 2).sum())
    return grand, math.sqrt(sum_sq / (total - 1))


def _thresholds(
    rows: pd.DataFrame, given: LabelThresholds, kind: str
) -> tuple[float, float, float]:
    """(high, low, change) for one solution, from the given values or the pooled statistics."""
    high, low, change = given.high, given.low, given.change
    have_stats = {"observed_mean", "observed_sd", "n_observed"} <= set(rows.columns)
    # without observed statistics only high and change are needed (low then equals high)
    if high is None or change is None or (low is None and kind != "sr" and have_stats):
        mean, sd = _pooled_mean_sd(rows)  # raises a ConfigError without the statistics
        centre = 0.0 if kind == "sr" else mean
        high = centre + given.high_sd * sd if high is None else high
        low = min(mean, high) if low is None and kind != "sr" else low
        change = given.change_sd * sd if change is None else change
    low = high if low is None else low
    if not change > 0:
        raise ConfigError(f"label change threshold must be > 0, got {change}.")
    if kind != "sr" and low > high:
        raise ConfigError(f"label threshold low ({low}) is above high ({high}).")
    return float(high), float(low), float(change)


def _bonanno_names(start, end, high, low, change, single: bool) -> np.ndarray:
    level_start = np.where(start >= high, "high", np.where(start < low, "low", "moderate"))
    level_end = np.where(end >= high, "high", np.where(end < low, "low", "moderate"))
    delta = end - start
    direction = np.where(delta >= change, "rising", np.where(delta <= -change, "falling", "stable"))
    names = np.char.add(np.char.add(level_start.astype(str), " "), direction.astype(str)).astype(
        object
    )
    if single:
        return names
    stable = direction == "stable"
    names[(level_start == "low") & (level_end == "low") & stable] = "resilient"
    names[(level_start == "high") & (level_end == "high") & stable] = "chronic"
    names[(level_start == "high") & (direction == "falling")] = "recovery"
    names[(level_start != "high") & (direction == "rising") & (level_end == "high")] = "delayed"
    return names


def _sr_names(mean_level, delta, high, change) -> np.ndarray:
    level = np.where(
        mean_level >= high,
        "worse than expected",
        np.where(mean_level <= -high, "better than expected", "as expected"),
    )
    suffix = np.where(delta >= change, ", rising", np.where(delta <= -change, ", falling", ""))
    return np.char.add(level.astype(str), suffix.astype(str)).astype(object)


def _number_duplicates(names: np.ndarray) -> np.ndarray:
    names = names.copy()
    for name in dict.fromkeys(names):
        hits = np.flatnonzero(names == name)
        if hits.shape[0] > 1:
            for rank, idx in enumerate(hits, start=1):
                names[idx] = f"{name} {rank}"
    return names


def label_classes(
    curves: pd.DataFrame,
    thresholds: LabelThresholds | Mapping[str, float] | None = None,
    kind: str = "symptoms",
) -> pd.DataFrame:
    """Name each class curve (see the module docstring for the rules).

    Parameters
    ----------
    curves : pandas.DataFrame
        Columns ``class``, ``time``, ``fitted`` and optionally ``K`` (one
        solution per K), plus ``observed_mean``, ``observed_sd``,
        ``n_observed`` when thresholds are to be derived from the data.
    thresholds : LabelThresholds, mapping or None
        See :class:`LabelThresholds`; a mapping is passed as keyword arguments.
    kind : {"symptoms", "sr"}
        Symptom-like series (Bonanno's prototypes) or SR scores (SR names).

    Returns
    -------
    pandas.DataFrame
        One row per (K, class): ``K, class, label, start, end, change,
        high_threshold, change_threshold``.

    Raises
    ------
    ConfigError
        Unknown threshold keys, a non-positive change threshold, or missing
        columns.

    Examples
    --------
    >>> curves = pd.DataFrame({"K": 2, "class": [1, 1, 2, 2], "time": [0, 1, 0, 1],
    ...                        "fitted": [4.0, 4.5, 20.0, 11.0]})
    >>> label_classes(curves, {"high": 15, "low": 8, "change": 3})["label"].tolist()
    ['resilient', 'recovery']
    >>> label_classes(curves.assign(K=1, **{"class": 1}).iloc[:2], {"high": 15, "change": 3})["label"].tolist()
    ['low stable']
    """
    if thresholds is None:
        thresholds = LabelThresholds()
    elif isinstance(thresholds, Mapping):
        try:
            thresholds = LabelThresholds(**dict(thresholds))
        except TypeError as exc:
            raise ConfigError(
                f"unknown label threshold key in {dict(thresholds)}; allowed keys are "
                "high, low, change, high_sd, change_sd."
            ) from exc
    required = {"class", "time", "fitted"}
    if not required <= set(curves.columns):
        raise ConfigError(
            f"curves table needs columns {sorted(required)}, has {list(curves.columns)}."
        )
    table = curves if "K" in curves.columns else curves.assign(K=curves["class"].max())
    table = table.sort_values(["K", "class", "time"], kind="mergesort")
    out = []
    for k_value, rows in table.groupby("K", sort=True):  # loop over solutions, not participants
        high, low, change = _thresholds(rows, thresholds, kind)
        grouped = rows.groupby("class", sort=True)["fitted"]
        start, end = grouped.first().to_numpy(), grouped.last().to_numpy()
        classes = grouped.first().index.to_numpy()
        if kind == "sr":
            names = _sr_names(grouped.mean().to_numpy(), end - start, high, change)
        else:
            names = _bonanno_names(start, end, high, low, change, single=classes.shape[0] == 1)
        out.append(
            pd.DataFrame(
                {
                    "K": k_value,
                    "class": classes,
                    "label": _number_duplicates(names).astype(str),
                    "start": start,
                    "end": end,
                    "change": end - start,
                    "high_threshold": high,
                    "change_threshold": change,
                }
            )
        )
    return pd.concat(out, ignore_index=True)
