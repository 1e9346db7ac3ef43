"""Composite scores: instrument scores z-scored and combined (E zmean, and a composite P).

``exposure: {combine: zmean}`` and ``problems: {combine: zmean}`` share one z-scoring
(:func:`zscore_columns`: each instrument over its own scored rows, ddof=1) and one mean.
``problems: {combine: pca1}`` takes the first principal component of those z-scores over
the rows where every instrument is scored:

* the component is the eigenvector of the largest eigenvalue of the z-scores' covariance
  (ddof=1) over the complete rows, the scores centred on their complete-row means;
* its sign is fixed so that its weights sum above 0: every instrument has role problems,
  so higher = more problems;
* P is the centred z-scores times the weights, divided by the square root of the
  eigenvalue, so P has mean 0 and variance 1 (ddof=1) over the complete rows.

The weights, the loadings (each instrument's correlation with P over the complete rows),
the eigenvalues and the share of variance the component explains go to
``results/<cohort>/scoring.json`` (:class:`srflow.results.ScoringSummary`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from srflow.config import CohortConfig
from srflow.errors import ConfigError, DataWarning

__all__ = [
    "COMBINE_PROBLEMS",
    "CompositeP",
    "combine_problems",
    "composite_p",
    "scoring_summary",
    "zscore_columns",
]

#: The values of ``problems.combine``.
COMBINE_PROBLEMS = ("zmean", "pca1")
# Relative gap between the first two eigenvalues below which the first component is not
# identified (any rotation of the top two is as good): such a P is suspect.
_EIGEN_GAP = 1e-8


def zscore_columns(
    scores: Mapping[str, np.ndarray], kind: str, target: str, remedy: str
) -> tuple[np.ndarray, dict[str, float | None], dict[str, float | None]]:
    """Z-score each instrument's scores over its own scored rows (mean and SD with ddof=1).

    Parameters
    ----------
    scores : mapping of str to numpy.ndarray
        Instrument name -> score per row (float64, NaN = missing), at least one.
    kind, target, remedy : str
        Words for the warning about an instrument that cannot be z-scored: which kind of
        instrument ("stressor"), what goes missing ("E (exposure combine: zmean)") and
        what to do.

    Returns
    -------
    z : numpy.ndarray
        Shape (rows, instruments), in the mapping's order; NaN where the score is NaN.
        An instrument with fewer than two scored rows or no spread is all-NaN, with a
        :class:`srflow.errors.DataWarning`.
    means, sds : dict of str to float or None
        The mean and SD used per instrument (None where it could not be z-scored).

    Examples
    --------
    >>> z, means, sds = zscore_columns({"a": np.array([1.0, 2.0, 3.0])}, "x", "y", "z")
    >>> z[:, 0].tolist(), means, sds
    ([-1.0, 0.0, 1.0], {'a': 2.0}, {'a': 1.0})
    """
    stacked = np.column_stack([np.asarray(s, dtype=np.float64) for s in scores.values()])
    z = np.empty_like(stacked)
    means: dict[str, float | None] = {}
    sds: dict[str, float | None] = {}
    for k, name in enumerate(scores):
        column = stacked[:, k]
        scored = column[~np.isnan(column)]
        sd = scored.std(ddof=1) if scored.size >= 2 else np.nan
        if not np.isfinite(sd) or sd == 0:
            warnings.warn(
                f"{kind} instrument '{name}' has {scored.size} scored rows and SD {sd}: it cannot be "
                f"z-scored, so {target} is missing for every row; {remedy}",
                DataWarning,
                stacklevel=3,
            )
            z[:, k] = np.nan
            means[name], sds[name] = None, None
        else:
            z[:, k] = (column - scored.mean()) / sd
            means[name], sds[name] = float(scored.mean()), float(sd)
    return z, means, sds


@dataclass(frozen=True)
class CompositeP:
    """A composite P and how it was made (the ``P`` part of ``scoring.json``).

    Attributes
    ----------
    values : numpy.ndarray
        P per row; NaN where any instrument's score is missing.
    summary : dict
        combine, instruments, n_complete, z_mean, z_sd; for pca1 also weights, loadings,
        eigenvalues, explained_variance and scale; status (ok or suspect) and reason.
    """

    values: np.ndarray
    summary: dict = field(default_factory=dict)


def combine_problems(scores: Mapping[str, np.ndarray], combine: str) -> CompositeP:
    """Combine several problems instruments' scores into P.

    Parameters
    ----------
    scores : mapping of str to numpy.ndarray
        Instrument name -> score per row (float64, NaN = missing), config order, two or more.
    combine : {"zmean", "pca1"}
        zmean: mean of the z-scores. pca1: first principal component of the z-scores over
        the complete rows, signed (weights sum above 0) and scaled to unit variance.

    Returns
    -------
    CompositeP
        P per row and its summary. Status ``suspect`` (never an error) when the first
        component is not identified (equal top eigenvalues), when an instrument loads
        negatively (a reverse-keyed instrument?), or when fewer than three rows are complete.

    Examples
    --------
    >>> a = np.array([1.0, 2.0, 3.0, 4.0])
    >>> b = np.array([2.0, 1.0, 4.0, 3.0])
    >>> p = combine_problems({"a": a, "b": b}, "pca1")
    >>> round(float(p.values.std(ddof=1)), 12), p.summary["weights"]["a"] > 0
    (1.0, True)
    >>> round(p.summary["explained_variance"], 12)  # (1 + r) / 2 with r = 0.6
    0.8
    """
    if combine not in COMBINE_PROBLEMS:
        raise ConfigError(f"problems.combine: unknown value '{combine}'; allowed: zmean, pca1")
    if len(scores) < 2:
        raise ConfigError(
            f"problems.instruments: a composite P needs at least two instruments, got {list(scores)}"
        )
    z, means, sds = zscore_columns(
        scores, "problems", f"P (problems combine: {combine})", "check the instrument's data"
    )
    complete = ~np.isnan(z).any(axis=1)
    summary: dict = {
        "combine": combine,
        "instruments": list(scores),
        "n_complete": int(complete.sum()),
        "z_mean": means,
        "z_sd": sds,
    }
    if combine == "zmean":
        return CompositeP(z.mean(axis=1), {**summary, "status": "ok", "reason": None})
    values, pca = _first_component(z, complete, list(scores))
    return CompositeP(values, {**summary, **pca})


def _first_component(
    z: np.ndarray, complete: np.ndarray, names: list[str]
) -> tuple[np.ndarray, dict]:
    """P and the pca1 part of the summary from the z-scores and the complete-row mask."""
    values = np.full(z.shape[0], np.nan)
    empty = {
        "weights": dict.fromkeys(names),
        "loadings": dict.fromkeys(names),
        "eigenvalues": [None] * len(names),
        "explained_variance": None,
        "scale": "unit variance over the complete rows",
    }
    rows = z[complete]
    if rows.shape[0] < 3:
        reason = f"{rows.shape[0]} rows have every instrument scored; a component needs at least 3"
        return values, {**empty, "status": "suspect", "reason": reason}
    centred = rows - rows.mean(axis=0)
    covariance = centred.T @ centred / (rows.shape[0] - 1)
    eigenvalues, vectors = np.linalg.eigh(covariance)  # ascending
    eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
    weights = vectors[:, 0] * (1.0 if vectors[:, 0].sum() >= 0 else -1.0)
    if eigenvalues[0] <= 0:
        return values, {**empty, "status": "suspect", "reason": "the z-scores have no variance"}
    component = centred @ weights / np.sqrt(eigenvalues[0])
    values[complete] = component
    # correlation of each instrument's score with P over the complete rows
    loadings = weights * np.sqrt(eigenvalues[0]) / np.sqrt(np.diag(covariance))
    reasons = []
    if len(names) > 1 and eigenvalues[0] - eigenvalues[1] <= _EIGEN_GAP * eigenvalues[0]:
        reasons.append(
            "the two largest eigenvalues are equal, so the first component is not identified"
        )
    negative = [n for n, w in zip(names, loadings, strict=True) if w < 0]
    if negative:
        reasons.append(
            f"instrument(s) {', '.join(negative)} load negatively on P (reverse-keyed? check their "
            "range and reverse items)"
        )
    return values, {
        "weights": dict(zip(names, weights.tolist(), strict=True)),
        "loadings": dict(zip(names, loadings.tolist(), strict=True)),
        "eigenvalues": eigenvalues.tolist(),
        "explained_variance": float(eigenvalues[0] / eigenvalues.sum()),
        "scale": "unit variance over the complete rows",
        "status": "suspect" if reasons else "ok",
        "reason": "; ".join(reasons) or None,
    }


def composite_p(scores: pd.DataFrame, cohort: CohortConfig) -> CompositeP:
    """P from the problems instrument score(s) of a scores table, and how it was made.

    Parameters
    ----------
    scores : pandas.DataFrame
        A table with one column per instrument (as :func:`score` writes).
    cohort : CohortConfig
        The cohort's config: one problems instrument, or a composite (``problems`` key).

    Returns
    -------
    CompositeP
        P per row and its summary (see :func:`srflow.composite.combine_problems`); for a
        single instrument, its score unchanged with ``combine: single``.
    """
    parts = {i.name: scores[i.name].to_numpy(dtype=np.float64) for i in cohort.problems_parts}
    if cohort.problems_combine is None:
        ((name, values),) = parts.items()
        return CompositeP(
            values, {"combine": "single", "instruments": [name], "status": "ok", "reason": None}
        )
    return combine_problems(parts, cohort.problems_combine)


def scoring_summary(scores: pd.DataFrame, cohort: CohortConfig) -> dict:
    """How P and E of a scores table were made (the mapping of ``scoring.json``).

    Parameters
    ----------
    scores : pandas.DataFrame
        The scores table of :func:`score`.
    cohort : CohortConfig
        The cohort's config.

    Returns
    -------
    dict
        cohort; P: the summary of :func:`composite_p` (recomputed from the instrument
        columns, so it is that of the table's P); E: combine and the stressor instruments.
    """
    with warnings.catch_warnings():  # score() has already reported an unscalable instrument
        warnings.simplefilter("ignore", DataWarning)
        problems = composite_p(scores, cohort).summary
    exposure = {
        "combine": cohort.exposure_combine,
        "instruments": [s.name for s in cohort.stressors],
    }
    return {"cohort": cohort.name, "P": problems, "E": exposure}
