"""Design matrices, coefficient tables and residual summaries shared by every SR fit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import special  # not scipy.stats: its import costs ~0.5 s in every SR job

if TYPE_CHECKING:
    from srflow.config import SRSpec

#: Number of points of the residual QQ summary.
QQ_POINTS = 21


def design(E_centered: np.ndarray, covariate: np.ndarray | None, quadratic: bool) -> np.ndarray:
    """The predictors of a line without the intercept: ``E - c``, ``(E - c)^2``, covariate."""
    cols = [E_centered]
    if quadratic:
        cols.append(E_centered**2)
    if covariate is not None:
        cols.append(covariate)
    return np.column_stack(cols)


def term_names(spec: SRSpec, quadratic: bool) -> list[str]:
    """Coefficient names of the line's design ``[1, E, (E^2), (P_previous)]``."""
    names = ["Intercept", spec.exposure]
    if quadratic:
        names.append(f"{spec.exposure}^2")
    if spec.level == "change" and spec.adjust_previous:
        names.append(f"{spec.outcome}_previous")
    return names


def to_raw_scale(
    beta: np.ndarray, cov: np.ndarray, center: np.ndarray, quadratic: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients on (E - c) [and (E - c)^2] -> coefficients on raw E [and E^2]."""
    G, p = beta.shape
    A = np.tile(np.eye(p), (G, 1, 1))
    A[:, 0, 1] = -center
    if quadratic:
        A[:, 0, 2] = center**2
        A[:, 1, 2] = -2 * center
    raw = np.einsum("gab,gb->ga", A, beta)
    return raw, A @ cov @ np.transpose(A, (0, 2, 1))


def coefficient_table(
    names: list[str],
    est: np.ndarray,
    se: np.ndarray,
    crit: float,
    se_naive: np.ndarray | None = None,
) -> list[dict]:
    """One JSON row per coefficient: estimate, SE and the CI ``estimate -/+ crit * SE``."""
    rows = [
        {
            "term": t,
            "estimate": float(b),
            "se": float(e),
            "ci_low": float(b - crit * e),
            "ci_high": float(b + crit * e),
        }
        for t, b, e in zip(names, est, se, strict=True)
    ]
    if se_naive is not None:
        for row, e in zip(rows, se_naive, strict=True):
            row["se_naive"] = float(e)
    return rows


def qq_summary(std_resid: np.ndarray) -> dict[str, list[float]]:
    """Normal QQ summary of standardised residuals at :data:`QQ_POINTS` probabilities."""
    probs = (np.arange(1, QQ_POINTS + 1) - 0.5) / QQ_POINTS
    return {
        "probabilities": probs.tolist(),
        "theoretical": special.ndtri(probs).tolist(),
        "sample": np.quantile(std_resid, probs).tolist() if len(std_resid) else None,
    }
