"""Tables of fitted trajectory models: class curves over time and per-participant classes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats as _stats

from srflow.trajectories.curve_se import curve_standard_errors
from srflow.trajectories.labels import LabelThresholds, label_classes
from srflow.trajectories.panel import PanelData

__all__ = ["CI_LEVEL", "MAX_CURVE_TIMES", "classes_table", "curves_table"]

#: at most this many distinct times are tabulated in curves; beyond it a grid is used
MAX_CURVE_TIMES = 60
#: level of the pointwise confidence band of the fitted curves
CI_LEVEL = 0.95


def _long_observations(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class, time, value) of every observation, with the participant's MAP class."""
    if hasattr(model, "panel_"):
        panel: PanelData = model.panel_
        rows, cols = np.nonzero(panel.mask)
        return model.labels_[rows], panel.time[rows, cols], panel.outcome[rows, cols]
    observed = np.isfinite(model.values_)
    rows, cols = np.nonzero(observed)
    return model.labels_[rows], model.times_[cols], model.values_[rows, cols]


def curves_table(models: Mapping[int, object]) -> pd.DataFrame:
    """Fitted and observed class means over time for every fitted K.

    Times are the distinct observed times (or, with more than 60 of them, 41
    evenly spaced points over the observed range, where observed statistics
    are missing).  Observed statistics use the participants' MAP classes.

    ``se`` is the standard error of the fitted mean from the observed information of the
    mixture (:mod:`srflow.trajectories.curve_se`), ``ci_low, ci_high`` the pointwise 95%
    normal band ``fitted -+ 1.96 se``; ``se_status`` is ``"ok"`` or why they are missing
    (k-means, a boundary estimate, a singular information matrix).

    Parameters
    ----------
    models : mapping K -> fitted model

    Returns
    -------
    pandas.DataFrame
        ``K, class, time, fitted, se, ci_low, ci_high, se_status, observed_mean,
        observed_sd, n_observed``.
    """
    z = float(_stats.norm.ppf(0.5 + CI_LEVEL / 2.0))
    frames = []
    for k in sorted(models):
        model = models[k]
        cls, times, values = _long_observations(model)
        distinct = np.unique(times)
        grid = (
            distinct
            if distinct.shape[0] <= MAX_CURVE_TIMES
            else np.linspace(distinct[0], distinct[-1], 41)
        )
        fitted = model.predict_curves(grid).reshape(-1)  # (K, len(grid)) flattened
        se, status = curve_standard_errors(model, grid)
        se = se.reshape(-1)
        frame = pd.DataFrame(
            {
                "K": k,
                "class": np.repeat(np.arange(1, k + 1), grid.shape[0]),
                "time": np.tile(grid, k),
                "fitted": fitted,
                "se": se,
                "ci_low": fitted - z * se,
                "ci_high": fitted + z * se,
                "se_status": status,
            }
        )
        observed = (
            pd.DataFrame({"class": cls, "time": times, "value": values})
            .groupby(["class", "time"], sort=True)["value"]
            .agg(observed_mean="mean", observed_sd="std", n_observed="size")
            .reset_index()
        )
        frame = frame.merge(observed, on=["class", "time"], how="left", sort=False)
        frame["n_observed"] = frame["n_observed"].fillna(0).astype(int)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def classes_table(
    models: Mapping[int, object],
    curves: pd.DataFrame | None = None,
    thresholds: LabelThresholds | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Per participant and K: MAP class, its label and the posterior probabilities.

    Parameters
    ----------
    models : mapping K -> fitted model
    curves : pandas.DataFrame, optional
        Output of :func:`curves_table` (computed if not given), used for labels.
    thresholds : LabelThresholds or mapping, optional
        Passed to :func:`srflow.trajectories.labels.label_classes`.

    Returns
    -------
    pandas.DataFrame
        ``participant_id, K, class, label, post_1 .. post_Kmax`` (posteriors
        beyond a solution's K are missing).
    """
    if curves is None:
        curves = curves_table(models)
    labels = label_classes(curves, thresholds)
    k_max = max(models)
    frames = []
    for k in sorted(models):
        model = models[k]
        frame = pd.DataFrame(
            {"participant_id": model.participants_, "K": k, "class": model.labels_}
        )
        names = labels.loc[labels["K"] == k].set_index("class")["label"]
        frame["label"] = names.reindex(frame["class"]).to_numpy()
        posterior = np.full((frame.shape[0], k_max), np.nan)
        posterior[:, :k] = model.posterior_
        for j in range(k_max):
            frame[f"post_{j + 1}"] = posterior[:, j]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
