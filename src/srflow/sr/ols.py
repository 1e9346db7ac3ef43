"""Ordinary least squares of many lines at once, from per-line sufficient statistics.

Each line (a wave, a window, or the whole sample) is fitted on centred cross-products
accumulated with ``bincount``, so the cost does not grow with a loop over lines or people.
"""

from __future__ import annotations

import dataclasses

import numpy as np

_COLLINEARITY_TOLERANCE = 1e-10


@dataclasses.dataclass
class OlsFit:
    """OLS fits of ``G`` lines on the design ``[1, X]`` (see :func:`ols_lines`)."""

    beta: np.ndarray  # (G, p) for design [1, X]
    cov: np.ndarray  # (G, p, p)
    n: np.ndarray  # (G,)
    ssr: np.ndarray
    sst: np.ndarray
    sigma: np.ndarray
    loglik: np.ndarray  # Gaussian maximum log-likelihood (sigma^2 = SSR / n)
    resid: np.ndarray  # (n_rows,) fitting residuals
    leverage: np.ndarray  # (n_rows,)
    df_resid: np.ndarray
    mean_x: np.ndarray  # (G, k) per-line means of X
    xtx_inv: np.ndarray  # (G, k, k) inverse of the centred cross-products of X


def per_line(line: np.ndarray, values: np.ndarray | None, n_lines: int) -> np.ndarray:
    """Sum of ``values`` (count when None) over the units of each line."""
    return np.bincount(line, weights=values, minlength=n_lines)


def ols_lines(y: np.ndarray, X: np.ndarray, line: np.ndarray, n_lines: int) -> OlsFit:
    """OLS of ``y`` on ``[1, X]`` separately per line, from centred per-line cross-products.

    Returns ``beta`` with ``beta[:, 0]`` the intercept at ``X = 0``. Raises a bare
    ``RankError`` (with the offending lines) if a design is rank deficient.
    """
    k = X.shape[1]
    n = per_line(line, None, n_lines)
    if (n <= k + 1).any():
        raise RankError(np.flatnonzero(n <= k + 1), too_few=True)
    mean_x = np.column_stack([per_line(line, X[:, j], n_lines) for j in range(k)]) / n[:, None]
    mean_y = per_line(line, y, n_lines) / n
    Xc = X - mean_x[line]
    yc = y - mean_y[line]
    xtx = np.empty((n_lines, k, k))
    for a in range(k):
        for b in range(a, k):
            xtx[:, a, b] = xtx[:, b, a] = per_line(line, Xc[:, a] * Xc[:, b], n_lines)
    xty = np.column_stack([per_line(line, Xc[:, j] * yc, n_lines) for j in range(k)])
    sst = per_line(line, yc * yc, n_lines)
    scale = np.sqrt(np.einsum("gjj->gj", xtx))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = xtx / (scale[:, :, None] * scale[:, None, :])
    bad = ~np.isfinite(corr).all(axis=(1, 2)) | (scale <= 0).any(axis=1)
    corr[bad] = np.eye(k)
    bad |= np.linalg.eigvalsh(corr)[:, 0] < _COLLINEARITY_TOLERANCE
    if bad.any():
        raise RankError(np.flatnonzero(bad))
    inv = np.linalg.inv(xtx)
    slopes = np.einsum("gab,gb->ga", inv, xty)
    resid = yc - np.einsum("nk,nk->n", Xc, slopes[line])
    ssr = per_line(line, resid * resid, n_lines)
    df_resid = n - k - 1
    sigma2 = ssr / df_resid
    # Intercept at the means is uncorrelated with the slopes; then shift to X = 0.
    p = k + 1
    cov_theta = np.zeros((n_lines, p, p))
    cov_theta[:, 0, 0] = sigma2 / n
    cov_theta[:, 1:, 1:] = sigma2[:, None, None] * inv
    A = np.zeros((n_lines, p, p))
    A[:, 0, 0] = 1.0
    A[:, 0, 1:] = -mean_x
    A[:, 1:, 1:] = np.eye(k)
    beta = np.column_stack([mean_y - (slopes * mean_x).sum(axis=1), slopes])
    cov = A @ cov_theta @ np.transpose(A, (0, 2, 1))
    quad = np.zeros(len(y))
    for a in range(k):
        for b in range(k):
            quad += Xc[:, a] * Xc[:, b] * inv[line, a, b]
    leverage = 1.0 / n[line] + quad
    with np.errstate(divide="ignore"):
        loglik = -0.5 * n * (np.log(2 * np.pi * ssr / n) + 1.0)
    # positional, in the order of the fields (each local is named like its field)
    return OlsFit(
        beta, cov, n, ssr, sst, np.sqrt(sigma2), loglik, resid, leverage, df_resid, mean_x, inv
    )


class RankError(Exception):
    """A line has too few units for its coefficients, or a rank-deficient design (``lines``)."""

    def __init__(self, lines: np.ndarray, too_few: bool = False):
        super().__init__("too few units" if too_few else "rank deficient")
        self.lines = lines
        self.too_few = too_few


#


def cluster_robust_cov(fit: OlsFit, X: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, int]:
    """CR1 cluster-robust covariance of a single-line OLS fit, for the design ``[1, X]``.

    The sandwich ``B M B`` with ``B = (D'D)^-1`` and ``M = sum_g D_g' u_g u_g' D_g``, times
    ``G/(G-1) * (n-1)/(n-p)`` (statsmodels' default ``cov_type="cluster"``). It is formed in
    the parameterisation with the intercept at the means of X, where ``D'D`` is block diagonal
    (the inverse is already known from the fit), then shifted to the intercept at ``X = 0``;
    the sandwich is equivariant under this linear reparameterisation, so nothing is lost.

    Returns the (1, p, p) covariance and the number of clusters.
    """
    n, k = X.shape
    p = k + 1
    codes = np.unique(clusters, return_inverse=True)[1].ravel()
    n_clusters = int(codes.max()) + 1
    resid = fit.resid
    scores = np.column_stack([resid, (X - fit.mean_x[0]) * resid[:, None]])
    # Per-cluster score sums: one bincount per coefficient, no loop over participants.
    sums = np.column_stack(
        [np.bincount(codes, weights=scores[:, j], minlength=n_clusters) for j in range(p)]
    )
    meat = np.einsum("ga,gb->ab", sums, sums)  # einsum, not BLAS: summation order fixed
    bread = np.zeros((p, p))
    bread[0, 0] = 1.0 / n
    bread[1:, 1:] = fit.xtx_inv[0]
    factor = n_clusters / (n_clusters - 1.0) * (n - 1.0) / (n - p)
    cov_theta = factor * (bread @ meat @ bread)
    shift = np.eye(p)
    shift[0, 1:] = -fit.mean_x[0]
    cov = shift @ cov_theta @ shift.T
    return ((cov + cov.T) / 2)[None], n_clusters


def line_order(line: np.ndarray, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
    """Row order grouping the lines (stable) and the start of each line's block."""
    small = line.astype(np.int16) if n_lines < 2**15 else line  # int16: numpy's radix sort
    order = np.argsort(small, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(line, minlength=n_lines))])
    return order, bounds
