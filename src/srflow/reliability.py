"""Internal consistency per instrument and wave: Cronbach's alpha and McDonald's omega total.

Both use the rows of one wave where every item of the instrument is answered (after
reverse scoring), all waves at once (per-wave sums by a sparse wave indicator, per-wave
eigen-decompositions as one batched call):

* alpha = k / (k - 1) * (1 - trace(C) / sum(C)) on the item covariance matrix C (ddof=1),
  psych's ``raw_alpha``;
* omega total from a one-factor model fitted by minres (unweighted least squares on the
  off-diagonal item correlations) to the item correlation matrix R, as ``psych::omega``
  does: omega = (sum(R) - sum(1 - lambda^2)) / sum(R). Minres is fitted by iterated
  principal axes from the squared multiple correlations (the fixed point of those
  iterations is the minres solution), and certified by the gradient of the minres
  criterion; a fit that does not converge, or a Heywood case (a loading above 1), gives
  no omega and says so in ``note``.

Stressor checklists are left out: a list of events is a formative index whose items need
not correlate, so its alpha says nothing about measurement quality.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from srflow.config import CohortConfig

__all__ = [
    "RELIABILITY_COLUMNS",
    "cohort_reliability",
    "cronbach_alpha",
    "one_factor_minres",
    "reliability_table",
    "wave_reliability",
]

RELIABILITY_COLUMNS = ("instrument", "wave", "n", "n_items", "alpha", "omega", "note")
# Iterated principal axes stop when no communality moves by more than this ...
_TOLERANCE = 1e-12
_MAX_ITERATIONS = 10_000
# ... and the fit counts as the minres optimum when the criterion's gradient is this small.
_GRADIENT_TOLERANCE = 1e-6
_MIN_ROWS = 3


def _wave_moments(values: np.ndarray, codes: np.ndarray, n_waves: int) -> tuple[np.ndarray, ...]:
    """Per-wave row counts, item means and item covariance matrices (ddof=1)."""
    n_rows, k = values.shape
    indicator = sparse.csr_matrix(
        (np.ones(n_rows), (np.arange(n_rows), codes)), shape=(n_rows, n_waves)
    ).T.tocsr()
    counts = np.asarray(indicator.sum(axis=1)).ravel()
    sums = indicator @ values
    # one item at a time keeps memory at rows x items (not rows x items^2)
    cross = np.stack([indicator @ (values * values[:, [i]]) for i in range(k)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
        covariance = (cross - counts[:, None, None] * means[:, :, None] * means[:, None, :]) / (
            counts[:, None, None] - 1
        )
    return counts, means, covariance


def cronbach_alpha(covariance: np.ndarray) -> np.ndarray:
    """Cronbach's alpha from item covariance matrices, shape (..., k, k).

    Examples
    --------
    >>> c = np.array([[1.0, 0.5], [0.5, 1.0]])
    >>> float(cronbach_alpha(c))  # 2 * (1 - 2 / 3)
    0.6666666666666667
    """
    k = covariance.shape[-1]
    total = covariance.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = k / (k - 1) * (1 - np.trace(covariance, axis1=-2, axis2=-1) / total)
    return np.where(total > 0, alpha, np.nan)


def one_factor_minres(correlation: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-factor minres loadings of correlation matrices, shape (..., k, k), all at once.

    Returns
    -------
    loadings : numpy.ndarray
        Shape (..., k), signed so that they sum above 0.
    converged : numpy.ndarray of bool
        Whether the iterations converged and the minres gradient is below 1e-6.
    iterations : numpy.ndarray of int
        Iterations used per matrix.
    """
    k = correlation.shape[-1]
    eye = np.eye(k, dtype=bool)
    # squared multiple correlations start the communalities, as psych's fa does
    communality = 1 - 1 / np.diagonal(np.linalg.pinv(correlation), axis1=-2, axis2=-1)
    loadings = np.zeros(correlation.shape[:-1])
    iterations = np.zeros(correlation.shape[:-2], dtype=np.int64)
    active = np.ones(correlation.shape[:-2], dtype=bool)
    for _ in range(_MAX_ITERATIONS):
        reduced = np.where(eye, communality[..., None] * eye, correlation)
        values, vectors = np.linalg.eigh(reduced)
        loadings = vectors[..., -1] * np.sqrt(np.clip(values[..., -1], 0, None))[..., None]
        updated = loadings**2
        moved = np.abs(updated - communality).max(axis=-1)
        communality = np.where(active[..., None], updated, communality)
        iterations += active
        active &= moved > _TOLERANCE
        if not active.any():
            break
    loadings = loadings * np.where(loadings.sum(axis=-1, keepdims=True) < 0, -1.0, 1.0)
    residual = np.where(eye, 0.0, correlation - loadings[..., :, None] * loadings[..., None, :])
    gradient = -4 * (residual * loadings[..., None, :]).sum(axis=-1)
    converged = ~active & (np.abs(gradient).max(axis=-1) < _GRADIENT_TOLERANCE)
    return loadings, converged, iterations


def wave_reliability(values: np.ndarray, waves: np.ndarray) -> pd.DataFrame:
    """Alpha and omega of one instrument's items for every wave.

    Parameters
    ----------
    values : numpy.ndarray
        Item values, shape (rows, items), NaN = not answered (already reverse scored).
    waves : numpy.ndarray
        The wave of each row.

    Returns
    -------
    pandas.DataFrame
        wave, n (rows with every item answered), n_items, alpha, omega, note (why a value
        is missing; empty when both are there), one row per wave in sorted order.

    Examples
    --------
    >>> x = np.array([[0, 1], [1, 1], [2, 3], [3, 3.0]])
    >>> table = wave_reliability(x, np.array([1, 1, 1, 1]))
    >>> round(float(table.alpha[0]), 12)  # 2 * (1 - (5/3 + 4/3) / (5/3 + 4/3 + 2 * 4/3))
    0.941176470588
    """
    values = np.asarray(values, dtype=np.float64)
    k = values.shape[1]
    all_waves, all_codes = np.unique(np.asarray(waves), return_inverse=True)
    complete = ~np.isnan(values).any(axis=1)
    counts, _, covariance = _wave_moments(values[complete], all_codes[complete], len(all_waves))
    enough = counts >= _MIN_ROWS
    alpha = np.where(enough, cronbach_alpha(np.nan_to_num(covariance)), np.nan)
    sd = np.sqrt(np.clip(np.diagonal(covariance, axis1=-2, axis2=-1), 0, None))
    spread = enough & (np.nan_to_num(sd) > 0).all(axis=-1)
    omega = np.full(len(all_waves), np.nan)
    notes = np.full(len(all_waves), "", dtype=object)
    notes[~enough] = f"fewer than {_MIN_ROWS} rows with every item answered"
    notes[enough & ~spread] = "an item has no variance in this wave"
    if spread.any():
        scale = sd[spread]
        correlation = covariance[spread] / (scale[:, :, None] * scale[:, None, :])
        loadings, converged, _ = one_factor_minres(correlation)
        total = correlation.sum(axis=(-2, -1))
        heywood = (loadings**2 > 1).any(axis=-1)
        fitted = (total - (1 - loadings**2).sum(axis=-1)) / total
        omega[spread] = np.where(converged & ~heywood, fitted, np.nan)
        why = np.where(
            heywood, "Heywood case (a loading above 1): no omega", "one-factor fit did not converge"
        )
        notes[spread] = np.where(converged & ~heywood, "", why)
    return pd.DataFrame(
        {
            "wave": all_waves.astype(np.int64),
            "n": counts.astype(np.int64),
            "n_items": np.full(len(all_waves), k, dtype=np.int64),
            "alpha": alpha,
            "omega": omega,
            "note": notes.astype(str),
        }
    )


def reliability_table(
    matrices: Mapping[str, np.ndarray], waves: np.ndarray, skip: Sequence[str] = ()
) -> pd.DataFrame:
    """Stack :func:`wave_reliability` of several instruments (config order).

    Parameters
    ----------
    matrices : mapping of str to numpy.ndarray
        Instrument -> item values (rows, items) on the same rows as ``waves``.
    waves : numpy.ndarray
        The wave of each row.
    skip : sequence of str
        Instruments to leave out (stressor checklists).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RELIABILITY_COLUMNS`; instruments with a single item are left out.
    """
    parts = [
        wave_reliability(values, waves).assign(instrument=name)
        for name, values in matrices.items()
        if name not in skip and values.shape[1] >= 2
    ]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in RELIABILITY_COLUMNS})
    return pd.concat(parts, ignore_index=True).loc[:, list(RELIABILITY_COLUMNS)]


def _dtype(column: str) -> str:
    return {"instrument": "str", "note": "str", "alpha": "float64", "omega": "float64"}.get(
        column, "int64"
    )


def cohort_reliability(validated: pd.DataFrame, cohort: CohortConfig) -> pd.DataFrame:
    """Alpha and omega of every instrument of role problems or covariate, per wave.

    Parameters
    ----------
    validated : pandas.DataFrame
        The validated table (as :func:`srflow.scoring.score` takes it).
    cohort : CohortConfig
        The cohort's config.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RELIABILITY_COLUMNS`, instruments in config order, waves sorted.
    """
    from srflow.scoring import _sorted, instrument_items, item_matrix

    table = _sorted(validated)
    items = instrument_items(list(table.columns), cohort)
    stressors = [i.name for i in cohort.stressors]
    matrices = {
        name: item_matrix(table, instrument, items[name])
        for name, instrument in cohort.instruments.items()
        if name not in stressors
    }
    return reliability_table(matrices, table["wave"].to_numpy())
