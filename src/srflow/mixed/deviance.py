"""Profiled (RE)ML deviance of a one-factor linear mixed model and its analytic gradient.

Model, per group ``i``::

    y_i = X_i beta + Z_i b_i + e_i,   b_i ~ N(0, sigma^2 Lambda Lambda'),   e_i ~ N(0, sigma^2 I)

``Lambda`` is the lower-triangular *relative* Cholesky factor of the random-effects
covariance, stored column by column in ``theta`` exactly as lme4 does. ``beta`` and
``sigma^2`` are profiled out in closed form, leaving a function of ``theta`` only. The
deviance depends on ``theta`` through ``Lambda Lambda'`` alone, so it is defined (and
smooth) for any real ``theta``, including negative diagonal elements.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from srflow.mixed.statistics import (
    GroupStatistics,
    batched_cholesky,
    batched_forward_solve,
    left_multiply,
    sum_crossprod,
)

_LOG_2PI = math.log(2.0 * math.pi)


def theta_layout(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of ``theta`` in ``Lambda``: lower triangle, column by column (lme4 order)."""
    rows, cols = [], []
    for j in range(q):
        for i in range(j, q):
            rows.append(i)
            cols.append(j)
    return np.array(rows, dtype=int), np.array(cols, dtype=int)


def theta_to_lambda(theta: np.ndarray, q: int) -> np.ndarray:
    """Relative Cholesky factor ``Lambda`` (q, q) from ``theta``."""
    rows, cols = theta_layout(q)
    lam = np.zeros((q, q))
    lam[rows, cols] = theta
    return lam


# --------------------------------------------------------------------------------------
# Profiled deviance
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Evaluation:
    deviance: float
    gradient: np.ndarray | None
    beta: np.ndarray
    xtvx: np.ndarray  # X' H^{-1} X, with V = sigma^2 H
    pwrss: float  # penalised weighted residual sum of squares
    chol_m: np.ndarray  # per-group Cholesky factors of I + Lambda' Z'Z Lambda, (q, q, G)
    u: np.ndarray | None  # per group Z_i' H_i^{-1} (y_i - X_i beta), (q, G)


def evaluate(theta: np.ndarray, s: GroupStatistics, reml: bool, want_gradient: bool) -> Evaluation:
    """Profiled deviance (-2 log-likelihood, or the REML criterion) at ``theta``.

    Uses ``M_i = I + Lambda' Z_i'Z_i Lambda`` so that, by the Woodbury identity,
    ``H_i^{-1} = I - Z_i Lambda M_i^{-1} Lambda' Z_i'`` and ``log|H_i| = log|M_i|``
    (``V_i = sigma^2 H_i``). The gradient follows from
    ``d dev = tr(G dD)``, ``D = Lambda Lambda'``, with
    ``G = sum_i Z_i'H_i^{-1}Z_i - (N / pwrss) sum_i u_i u_i' [- sum_i C_i P C_i' for REML]``,
    ``u_i = Z_i'H_i^{-1}(y_i - X_i beta)``, ``C_i = Z_i'H_i^{-1}X_i``, ``P = (X'H^{-1}X)^{-1}``;
    beta is at its optimum, so its own derivative drops out.
    """
    q = s.ztz.shape[0]
    p = s.xtx.shape[0]
    n = s.n_obs
    lam = theta_to_lambda(theta, q)
    lam_t_ztz = left_multiply(lam, s.ztz)  # Lambda' Z'Z        (q, q, G)
    m = left_multiply(lam, lam_t_ztz.transpose(1, 0, 2).copy())  # Lambda' Z'Z Lambda (symmetric)
    for j in range(q):
        m[j, j] += 1.0
    chol_m = batched_cholesky(m)
    logdet_m = 2.0 * sum(np.log(chol_m[j, j]).sum() for j in range(q))

    solved = batched_forward_solve(chol_m, left_multiply(lam, s.ztxy))  # L^{-1} Lambda' Z'[X y]
    cross = sum_crossprod(solved, solved)  # (p+1, p+1)
    xtvx = s.xtx - cross[:p, :p]
    xtvy = s.xty - cross[:p, p]
    ytvy = s.yty - cross[p, p]
    try:
        chol_x = np.linalg.cholesky(xtvx)
    except np.linalg.LinAlgError:
        return Evaluation(np.inf, None, np.full(p, np.nan), xtvx, np.nan, chol_m, None)
    beta = np.linalg.solve(chol_x.T, np.linalg.solve(chol_x, xtvy))
    pwrss = float(ytvy - beta @ xtvy)
    if not np.isfinite(pwrss) or pwrss <= 0.0:
        return Evaluation(np.inf, None, beta, xtvx, pwrss, chol_m, None)
    dof = n - p if reml else n
    deviance = logdet_m + dof * (1.0 + _LOG_2PI + math.log(pwrss / dof))
    if reml:
        deviance += 2.0 * np.log(np.diag(chol_x)).sum()

    gradient = None
    u = None
    if want_gradient:
        # K = L^{-1} Lambda' Z'Z, so Z'H^{-1}Z = Z'Z - K'K and Z'H^{-1}[X y] = Z'[X y] - K' W.
        k = batched_forward_solve(chol_m, lam_t_ztz)
        zhz = s.ztz.sum(axis=2) - sum_crossprod(k, k)
        zhxy = s.ztxy.copy()
        for i in range(q):
            for j in range(q):
                zhxy[i] -= k[j, i] * solved[j]
        zhx = zhxy[:, :p]
        u = zhxy[:, p] - np.einsum("ipg,p->ig", zhx, beta)
        g_d = zhz - (dof / pwrss) * (u @ u.T)
        if reml:
            xtvx_inv = np.linalg.inv(xtvx)
            flat = zhx.reshape(q * p, -1)
            # sum_g C_g P C_g' with C_g = zhx[:, :, g] (q, p)
            g_d -= np.einsum("apbr,pr->ab", (flat @ flat.T).reshape(q, p, q, p), xtvx_inv)
        g_lambda = 2.0 * g_d @ lam
        rows, cols = theta_layout(q)
        gradient = g_lambda[rows, cols]
    return Evaluation(float(deviance), gradient, beta, xtvx, pwrss, chol_m, u)


def profiled_deviance(theta: np.ndarray, s: GroupStatistics, reml: bool = True) -> float:
    """Profiled deviance at ``theta``: -2 log-likelihood (ML) or the REML criterion.

    Parameters
    ----------
    theta : ndarray
        Relative Cholesky factor, lower triangle column by column.
    s : GroupStatistics
        Output of :func:`group_statistics`.
    reml : bool
        REML criterion (True) or ML deviance (False).

    Returns
    -------
    float
    """
    return evaluate(np.asarray(theta, dtype=float), s, reml, False).deviance


def hessian(theta: np.ndarray, gradient: np.ndarray, s: GroupStatistics, reml: bool) -> np.ndarray:
    """Symmetrised forward-difference Hessian of the deviance from the analytic gradient.

    Parameters
    ----------
    theta : ndarray
        Point of evaluation (any real values).
    gradient : ndarray
        Analytic gradient at ``theta``.
    s : GroupStatistics
    reml : bool

    Returns
    -------
    ndarray
        (k, k); all NaN where a moved point could not be evaluated.
    """
    k = theta.size
    hess = np.empty((k, k))
    for j in range(k):
        step = 1e-6 * max(1.0, abs(theta[j]))
        moved = theta.copy()
        moved[j] += step
        g_moved = evaluate(moved, s, reml, True).gradient
        if g_moved is None:
            return np.full((k, k), np.nan)
        hess[:, j] = (g_moved - gradient) / step
    return 0.5 * (hess + hess.T)
