"""Longitudinal k-means in the style of R's ``kml``.

Each participant's series is laid on a common grid of time points (a
participants x times matrix with missing cells).  Distances use only the cells
observed in both the series and the centre and are rescaled to the full grid,
as kml's ``distanceWithMissing`` does:

    d(x, c) = sqrt( W / W_obs * sum_{observed cells} (x_t - c_t)^2 ),

with ``W`` grid points and ``W_obs`` of them observed.  Centres are the
per-cell means of the observed values of their members.  Several redraws start
from k-means++ seeds (first centre a random participant, the next ones drawn
with probability proportional to the squared distance to the nearest chosen
centre); the redraw with the smallest within-cluster sum of squared distances
(``inertia_``) is kept.

Quality criteria (kml reports the same three) are computed on the series with
missing cells imputed by their cluster centre's value (so imputed cells add no
within-cluster spread):

* Calinski-Harabasz: ``[B / (K - 1)] / [W / (n - K)]`` (larger is better),
* Ray-Turi: ``(W / n) / min_{k<l} ||c_k - c_l||^2`` (smaller is better),
* Davies-Bouldin: mean over clusters of ``max_{l != k} (s_k + s_l) / ||c_k - c_l||``
  with ``s_k`` the mean distance of members to their centre (smaller is better),

where ``B`` and ``W`` are the between- and within-cluster sums of squares.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from srflow.errors import InputError, ModelError

__all__ = ["LongitudinalKMeans", "pivot_series", "calinski_harabasz", "ray_turi", "davies_bouldin"]


def pivot_series(
    data: pd.DataFrame,
    participant: str = "participant_id",
    time: str = "wave",
    outcome: str = "P",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lay long data on a participants x time-points grid.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table; rows with a missing outcome are dropped.
    participant, time, outcome : str
        Column names.

    Returns
    -------
    values : ndarray (n_participants, n_times)
        Outcome with NaN for missing cells (duplicate cells are averaged).
    participants : ndarray
        Sorted participant labels (rows).
    times : ndarray
        Sorted distinct time points (columns).
    """
    missing = [c for c in (participant, time, outcome) if c not in data.columns]
    if missing:
        raise InputError(
            f"k-means input lacks column(s) {missing}; available: {list(data.columns)}."
        )
    y = pd.to_numeric(data[outcome]).to_numpy(dtype=float, na_value=np.nan)
    t = pd.to_numeric(data[time]).to_numpy(dtype=float, na_value=np.nan)
    keep = np.isfinite(y) & np.isfinite(t)
    if not keep.any():
        raise ModelError(f"no rows with {outcome!r} and {time!r} observed.")
    rows, participants = pd.factorize(pd.Series(data[participant].to_numpy()[keep]), sort=True)
    cols, times = pd.factorize(pd.Series(t[keep]), sort=True)
    shape = (participants.shape[0], times.shape[0])
    flat = rows * shape[1] + cols
    total = np.bincount(flat, weights=y[keep], minlength=shape[0] * shape[1])
    count = np.bincount(flat, minlength=shape[0] * shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(count > 0, total / np.maximum(count, 1), np.nan).reshape(shape)
    return values, np.asarray(participants), np.asarray(times, dtype=float)


def _squared_distances(values: np.ndarray, observed: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """kml-style squared distances (n, K) with missing cells, rescaled to the full grid."""
    centre_ok = np.isfinite(centres)
    filled = np.where(centre_ok, centres, 0.0)
    both = observed[:, None, :] & centre_ok[None, :, :]  # (n, K, W)
    diff = np.where(both, values[:, None, :] - filled[None, :, :], 0.0)
    n_both = both.sum(axis=2)
    width = values.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.where(n_both > 0, (diff * diff).sum(axis=2) * width / n_both, np.inf)
    return dist


def _centres(
    values: np.ndarray, observed: np.ndarray, labels: np.ndarray, k: int, previous: np.ndarray
) -> np.ndarray:
    """Per-cell mean of members' observed values; cells with no data keep the old centre."""
    one_hot = np.zeros((labels.shape[0], k))
    one_hot[np.arange(labels.shape[0]), labels] = 1.0
    sums = one_hot.T @ np.where(observed, values, 0.0)
    counts = one_hot.T @ observed.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        centres = np.where(counts > 0, sums / np.maximum(counts, 1.0), previous)
    return centres


def calinski_harabasz(values: np.ndarray, labels: np.ndarray) -> float:
    """Calinski-Harabasz index of complete data ``values`` (n, W) and 0-based labels."""
    k = int(labels.max()) + 1
    n = values.shape[0]
    if k < 2 or n <= k:
        return float("nan")
    grand = values.mean(axis=0)
    within = 0.0
    between = 0.0
    for cluster in range(k):  # loop over clusters, not participants
        members = values[labels == cluster]
        if members.shape[0] == 0:
            continue
        centre = members.mean(axis=0)
        within += float(((members - centre) ** 2).sum())
        between += members.shape[0] * float(((centre - grand) ** 2).sum())
    if within == 0.0:
        return float("inf")
    return (between / (k - 1)) / (within / (n - k))


def ray_turi(values: np.ndarray, labels: np.ndarray) -> float:
    """Ray-Turi index: mean within-cluster squared distance over the smallest squared centre gap."""
    k = int(labels.max()) + 1
    if k < 2:
        return float("nan")
    centres = np.stack([values[labels == c].mean(axis=0) for c in range(k)])
    within = float(((values - centres[labels]) ** 2).sum()) / values.shape[0]
    gaps = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    gaps = gaps[np.triu_indices(k, 1)]
    return within / float(gaps.min()) if gaps.min() > 0 else float("inf")


def davies_bouldin(values: np.ndarray, labels: np.ndarray) -> float:
    """Davies-Bouldin index (Euclidean), as in ``sklearn.metrics.davies_bouldin_score``."""
    k = int(labels.max()) + 1
    if k < 2:
        return float("nan")
    centres = np.stack([values[labels == c].mean(axis=0) for c in range(k)])
    spread = np.sqrt(((values - centres[labels]) ** 2).sum(axis=1))
    scatter = np.bincount(labels, weights=spread, minlength=k) / np.bincount(labels, minlength=k)
    gaps = np.sqrt(((centres[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (scatter[:, None] + scatter[None, :]) / gaps
    np.fill_diagonal(ratio, -np.inf)
    return float(ratio.max(axis=1).mean())


class LongitudinalKMeans:
    """k-means for longitudinal series with missing cells (like R ``kml``).

    Parameters
    ----------
    n_classes : int
        Number of clusters K.
    n_init : int, default 20
        Independent k-means++ starts; the one with the smallest inertia is kept.
    max_iter : int, default 100
        Maximum assignment/update rounds per redraw.
    random_state : int or None
        Seed of ``numpy.random.default_rng``.

    Attributes
    ----------
    cluster_centers_ : ndarray (K, n_times)
        Centre trajectories on ``times_`` (canonical order: mean level, then slope).
    labels_ : ndarray (n_participants,)
        1-based cluster per participant.
    participants_, times_ : ndarray
        Row and column labels of the series matrix.
    posterior_ : ndarray (n_participants, K)
        One-hot memberships (for tables shared with the mixture models); also
        returned by :meth:`predict_proba`.
    weights_ : ndarray (K,)
        Cluster shares.
    inertia_ : float
        Sum over participants of the squared kml distance to their centre.
    calinski_harabasz_, ray_turi_, davies_bouldin_ : float
        Quality criteria (see module docstring); NaN for K = 1.
    n_iter_ : int
        Rounds used by the kept redraw.
    converged_ : bool
        Whether the kept redraw stopped because assignments no longer changed.
    """

    def __init__(
        self,
        n_classes: int,
        n_init: int = 20,
        max_iter: int = 100,
        random_state: int | None = None,
    ):
        self.n_classes = n_classes
        self.n_init = n_init
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(
        self,
        data: pd.DataFrame,
        participant: str = "participant_id",
        time: str = "time",
        outcome: str = "P",
    ) -> LongitudinalKMeans:
        """Cluster the participants' series.

        Parameters
        ----------
        data : pandas.DataFrame
            Long table.
        participant, time, outcome : str
            Column names; ``time`` values define the grid.

        Returns
        -------
        self

        Raises
        ------
        ModelError
            Fewer participants than clusters, or all series identical.
        """
        values, participants, times = pivot_series(data, participant, time, outcome)
        k = int(self.n_classes)
        n = values.shape[0]
        if k < 1:
            raise ModelError(f"n_classes must be >= 1, got {k}.")
        if n < 2 * k:
            raise ModelError(
                f"{n} participant(s) are too few for {k} clusters (need at least {2 * k}); "
                "lower the maximum number of clusters."
            )
        observed = np.isfinite(values)
        if k > 1:
            column_range = np.nanmax(values, axis=0) - np.nanmin(values, axis=0)
            if np.all(column_range == 0):
                raise ModelError(
                    f"all series are identical, so {k} clusters cannot be told apart; fit K = 1."
                )
        rng = np.random.default_rng(self.random_state)
        column_mean = np.nanmean(values, axis=0)
        best = None
        for _ in range(max(1, int(self.n_init)) if k > 1 else 1):
            result = self._one_run(values, observed, column_mean, k, rng)
            if best is None or result[0] < best[0]:
                best = result
        inertia, labels, centres, n_iter, converged = best
        level = np.nanmean(centres, axis=1)
        span = times[-1] - times[0] if times.shape[0] > 1 else 1.0
        slope = (centres[:, -1] - centres[:, 0]) / span
        order = np.lexsort((np.round(slope, 12), np.round(level, 10)))
        rank = np.empty(k, dtype=int)
        rank[order] = np.arange(k)
        labels = rank[labels]
        centres = centres[order]
        imputed = np.where(observed, values, centres[labels])
        self.cluster_centers_ = centres
        self.labels_ = labels + 1
        self.participants_ = participants
        self.times_ = times
        self.posterior_ = np.eye(k)[labels]
        self.weights_ = np.bincount(labels, minlength=k) / n
        self.inertia_ = float(inertia)
        self.calinski_harabasz_ = calinski_harabasz(imputed, labels)
        self.ray_turi_ = ray_turi(imputed, labels)
        self.davies_bouldin_ = davies_bouldin(imputed, labels)
        self.n_iter_ = int(n_iter)
        self.converged_ = bool(converged)
        self.values_ = values
        return self

    def _one_run(self, values, observed, column_mean, k, rng):
        n = values.shape[0]
        first = int(rng.integers(n))
        centres = np.where(observed[first], values[first], column_mean)[None, :]
        for _ in range(1, k):
            dist = _squared_distances(values, observed, centres).min(axis=1)
            dist = np.where(np.isfinite(dist), dist, 0.0)
            total = dist.sum()
            pick = int(rng.integers(n)) if total <= 0 else int(rng.choice(n, p=dist / total))
            new = np.where(observed[pick], values[pick], column_mean)
            centres = np.vstack([centres, new])
        labels = np.full(n, -1)
        converged = False
        n_iter = 0
        for n_iter in range(1, int(self.max_iter) + 1):  # noqa: B007 (n_iter is read after the loop)
            dist = _squared_distances(values, observed, centres)
            new_labels = dist.argmin(axis=1)
            if np.array_equal(new_labels, labels):
                converged = True
                break
            labels = new_labels
            centres = _centres(values, observed, labels, k, centres)
        dist = _squared_distances(values, observed, centres)
        inertia = float(dist[np.arange(n), labels].sum())
        return inertia, labels, centres, n_iter, converged

    def predict_proba(self, data: pd.DataFrame | None = None) -> np.ndarray:
        """One-hot memberships of the fitted participants (k-means has no probabilities).

        Parameters
        ----------
        data : None
            Only the fitted participants are supported; pass None.

        Returns
        -------
        numpy.ndarray
            ``posterior_``, shape ``(n_participants, K)``.
        """
        if data is not None:
            raise ModelError(
                "LongitudinalKMeans.predict_proba only covers the fitted participants."
            )
        return self.posterior_

    def predict_curves(self, times: np.ndarray) -> np.ndarray:
        """Centre trajectories at ``times`` by linear interpolation, shape (K, len(times))."""
        times = np.asarray(times, dtype=float)
        return np.stack([np.interp(times, self.times_, c) for c in self.cluster_centers_])

    @property
    def summary(self) -> pd.DataFrame:
        """One row per cluster: share, size and the centre at each grid time."""
        counts = np.bincount(self.labels_ - 1, minlength=self.n_classes)
        table = pd.DataFrame(
            {"class": np.arange(1, self.n_classes + 1), "weight": self.weights_, "n_map": counts}
        )
        for j, t in enumerate(self.times_):
            table[f"centre_t{t:g}"] = self.cluster_centers_[:, j]
        return table
