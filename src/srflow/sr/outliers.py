"""Outlier rules for the fitting sample of a normative line.

The line is fitted on the cleaned sample and then applied to everyone's unaltered values,
so no score is censored. Every rule works per line (per wave, per window).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special  # not scipy.stats: its import costs ~0.5 s in every SR job

from srflow.sr.ols import per_line

if TYPE_CHECKING:
    from srflow.config import SRSpec

#: Upper-tail chi-square probability at or below which a point is a Mahalanobis outlier.
MAHALANOBIS_P = 0.001


def line_mean_sd(
    values: np.ndarray, line: np.ndarray, n_lines: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD (ddof 1) of ``values`` per line."""
    n = per_line(line, None, n_lines)
    mean = per_line(line, values, n_lines) / n
    dev = values - mean[line]
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(per_line(line, dev * dev, n_lines) / (n - 1))
    return mean, sd


def clean(
    variables: dict[str, np.ndarray], line: np.ndarray, n_lines: int, method: str, k: float
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Apply the outlier rule to the fitting sample.

    Returns the mask of kept units, the (possibly clipped) variables of the kept units,
    and a JSON-ready description (per line).
    """
    keep = np.ones(len(line), bool)
    info: dict[str, Any] = {}
    if method == "winsorize":
        clipped = {}
        info = {"bounds": {}, "n_winsorized": {}}
        for var, values in variables.items():
            mean, sd = line_mean_sd(values, line, n_lines)
            low, high = mean - k * sd, mean + k * sd
            clipped[var] = np.clip(values, low[line], high[line])
            info["bounds"][var] = [[float(a), float(b)] for a, b in zip(low, high, strict=True)]
            info["n_winsorized"][var] = [
                int(c) for c in per_line(line, (clipped[var] != values) * 1.0, n_lines)
            ]
        return keep, clipped, info
    if method == "exclude":
        for values in variables.values():
            mean, sd = line_mean_sd(values, line, n_lines)
            with np.errstate(invalid="ignore", divide="ignore"):
                z = np.abs(values - mean[line]) / sd[line]
            keep &= ~(z >= k)  # a constant variable (sd 0) excludes nobody
    elif method == "mahalanobis":
        names = list(variables)
        d = len(names)
        data = np.column_stack([variables[v] for v in names])
        n = per_line(line, None, n_lines)
        mean = np.column_stack([per_line(line, data[:, j], n_lines) for j in range(d)]) / n[:, None]
        dev = data - mean[line]
        cov = np.empty((n_lines, d, d))
        for a in range(d):
            for b in range(a, d):
                cov[:, a, b] = cov[:, b, a] = per_line(line, dev[:, a] * dev[:, b], n_lines) / (
                    n - 1
                )
        inv = np.linalg.pinv(cov, hermitian=True)
        d2 = np.einsum("na,nab,nb->n", dev, inv[line], dev)
        keep = special.chdtrc(d, d2) > MAHALANOBIS_P
        info = {
            "variables": names,
            "df": d,
            "p_threshold": MAHALANOBIS_P,
            "d2_threshold": float(special.chdtri(d, MAHALANOBIS_P)),
        }
    info["n_excluded"] = [int(c) for c in per_line(line, (~keep) * 1.0, n_lines)]
    return keep, {v: values[keep] for v, values in variables.items()}, info


def rename_outlier_vars(info: dict[str, Any], spec: SRSpec) -> dict[str, Any]:
    """Name the internal variables (y, E, covariate) of an outlier description as in the spec."""
    y_name = f"{spec.outcome}_change" if spec.level == "change" else spec.outcome
    mapping = {"y": y_name, "E": spec.exposure, "covariate": f"{spec.outcome}_previous"}
    out = {}
    for key, value in info.items():
        if isinstance(value, dict):
            out[key] = {mapping.get(k, k): v for k, v in value.items()}
        elif key == "variables":
            out[key] = [mapping.get(v, v) for v in value]
        else:
            out[key] = value
    return out
