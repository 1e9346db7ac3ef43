"""Name trajectory classes after Bonanno's prototypes by explicit rules.

Each class curve is summarised by its fitted value at the first and the last
time point (``start``, ``end``) and the change ``end - start``.  With a level
threshold ``high`` (outcome scale) and a change threshold ``change`` (> 0):

=============  ==========================================================
label          rule
=============  ==========================================================
resilient      start < high, end < high and |change| < change
chronic        start >= high, end >= high and |change| < change
recovery       start >= high and change <= -change   (high, then falling)
delayed        start < high and change >= change     (low, then rising)
=============  ==========================================================

Other curves (e.g. high and rising, low and falling) keep the neutral name
``"class k"``.  When several classes of one solution get the same prototype,
they are numbered in class order (``"resilient 1"``, ``"resilient 2"``).

Defaults, when a threshold is not given: ``high = pooled mean + 0.5 pooled SD``
and ``change = 0.5 pooled SD`` of the outcome, where the pooled mean and SD
are recovered exactly from the curves table's per-class observed means, SDs and
counts (``observed_mean``, ``observed_sd``, ``n_observed``).  On a cohort where
most participants are resilient this puts ``high`` above the bulk of the
low-symptom class; set explicit clinical cut-offs (e.g. a questionnaire's
caseness score) when they exist.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from srflow.errors import ConfigError

__all__ = ["LabelThresholds", "label_classes", "PROTOTYPES"]

PROTOTYPES = ("resilient", "recovery", "chronic", "delayed")


@dataclass(frozen=True)
class LabelThresholds:
    """Thresholds for :func:`label_classes`.

    Parameters
    ----------
    high : float or None
        Level at or above which a curve counts as high (outcome scale).
        None: ``pooled mean + high_sd * pooled SD``.
    change : float or None
        Minimum absolute change from first to last time for "rising" or
        "falling" (outcome units). None: ``change_sd * pooled SD``.
    high_sd, change_sd : float, default 0.5
        Multipliers used for the defaults.
    """

    high: float | None = None
    change: float | None = None
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


def label_classes(
    curves: pd.DataFrame,
    thresholds: LabelThresholds | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Label each class curve as a Bonanno prototype or ``"class k"``.

    Parameters
    ----------
    curves : pandas.DataFrame
        Columns ``class``, ``time``, ``fitted`` and optionally ``K`` (one
        solution per K), plus ``observed_mean``, ``observed_sd``,
        ``n_observed`` when thresholds are to be derived from the data.
    thresholds : LabelThresholds, mapping or None
        See :class:`LabelThresholds`; a mapping is passed as keyword arguments.

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
    """
    if thresholds is None:
        thresholds = LabelThresholds()
    elif isinstance(thresholds, Mapping):
        try:
            thresholds = LabelThresholds(**dict(thresholds))
        except TypeError as exc:
            raise ConfigError(
                f"unknown label threshold key in {dict(thresholds)}; allowed keys are "
                "high, change, high_sd, change_sd."
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
        high, change = thresholds.high, thresholds.change
        if high is None or change is None:
            mean, sd = _pooled_mean_sd(rows)
            high = mean + thresholds.high_sd * sd if high is None else high
            change = thresholds.change_sd * sd if change is None else change
        if not change > 0:
            raise ConfigError(f"label change threshold must be > 0, got {change}.")
        grouped = rows.groupby("class", sort=True)["fitted"]
        start = grouped.first()
        end = grouped.last()
        delta = end - start
        labels = np.full(start.shape[0], "", dtype=object)
        is_high_start = start.to_numpy() >= high
        is_high_end = end.to_numpy() >= high
        d = delta.to_numpy()
        stable = np.abs(d) < change
        labels[~is_high_start & ~is_high_end & stable] = "resilient"
        labels[is_high_start & is_high_end & stable] = "chronic"
        labels[is_high_start & (d <= -change)] = "recovery"
        labels[~is_high_start & (d >= change)] = "delayed"
        classes = start.index.to_numpy()
        for prototype in PROTOTYPES:
            hits = np.flatnonzero(labels == prototype)
            if hits.shape[0] > 1:
                for rank, idx in enumerate(hits, start=1):
                    labels[idx] = f"{prototype} {rank}"
        unmatched = labels == ""
        labels[unmatched] = [f"class {c}" for c in classes[unmatched]]
        out.append(
            pd.DataFrame(
                {
                    "K": k_value,
                    "class": classes,
                    "label": labels.astype(str),
                    "start": start.to_numpy(),
                    "end": end.to_numpy(),
                    "change": d,
                    "high_threshold": high,
                    "change_threshold": change,
                }
            )
        )
    return pd.concat(out, ignore_index=True)
