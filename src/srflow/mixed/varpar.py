"""The mixed-model likelihood in the variance parameters ``(theta, sigma)``, unprofiled in sigma.

Satterthwaite's degrees of freedom (as lmerTest computes them) and the profile-likelihood
intervals (as lme4's ``profile``) both need the deviance as a function of the relative
Cholesky factor ``theta`` *and* the residual SD ``sigma`` separately, with only ``beta``
profiled out, plus the covariance of the fixed effects as a function of the same
parameters. Everything here is computed from the per-group cross-products of
:class:`srflow.mixed.engine.GroupStatistics`, vectorised over groups: no loop over groups.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from srflow.mixed.engine import GroupStatistics, theta_to_lambda
from srflow.mixed.statistics import batched_cholesky, batched_forward_solve, left_multiply

_LOG_2PI = math.log(2.0 * math.pi)


@dataclasses.dataclass(frozen=True)
class ThetaPieces:
    """What the likelihood needs at one ``theta``.

    Attributes
    ----------
    logdet_m : float
        ``sum_i log|I + Lambda' Z_i'Z_i Lambda|`` (= ``sum_i log|H_i|``, ``V_i = sigma^2 H_i``).
    xtvx : ndarray
        ``X' H^{-1} X`` (p, p).
    pwrss : float
        Penalised residual sum of squares at the conditional optimum of ``beta``.
    beta : ndarray
        That optimum (p,).
    """

    logdet_m: float
    xtvx: np.ndarray
    pwrss: float
    beta: np.ndarray


def group_major(s: GroupStatistics) -> tuple[np.ndarray, np.ndarray]:
    """``Z_i'Z_i`` as (G, q, q) and ``Z_i'[X_i y_i]`` as (G, q, p + 1): numpy's batched layout."""
    return np.ascontiguousarray(s.ztz.transpose(2, 0, 1)), np.ascontiguousarray(
        s.ztxy.transpose(2, 0, 1)
    )


def theta_pieces(theta: np.ndarray, s: GroupStatistics) -> ThetaPieces | None:
    """Evaluate :class:`ThetaPieces` at ``theta`` (None where ``X'H^{-1}X`` is not positive definite).

    Uses the group-last layout of :class:`GroupStatistics`: every step is a loop over the
    q random effects with vector operations across groups.
    """
    q, p = s.ztz.shape[0], s.xtx.shape[0]
    lam = theta_to_lambda(np.asarray(theta, dtype=float), q)
    lam_t_ztz = left_multiply(lam, s.ztz)  # Lambda' Z'Z
    m = left_multiply(lam, lam_t_ztz.transpose(1, 0, 2).copy())  # Lambda' Z'Z Lambda
    for j in range(q):
        m[j, j] += 1.0
    chol = batched_cholesky(m)
    logdet_m = 2.0 * float(sum(np.log(chol[j, j]).sum() for j in range(q)))
    solved = batched_forward_solve(chol, left_multiply(lam, s.ztxy))  # L^{-1} Lambda' Z'[X y]
    cross = sum(solved[k] @ solved[k].T for k in range(q))
    xtvx = s.xtx - cross[:p, :p]
    xtvy = s.xty - cross[:p, p]
    ytvy = s.yty - cross[p, p]
    try:
        chol_x = np.linalg.cholesky(xtvx)
    except np.linalg.LinAlgError:
        return None
    beta = np.linalg.solve(chol_x.T, np.linalg.solve(chol_x, xtvy))
    return ThetaPieces(logdet_m, xtvx, float(ytvy - beta @ xtvy), beta)


def varpar_deviance(varpar: np.ndarray, s: GroupStatistics, reml: bool) -> float:
    """Deviance at ``varpar = (theta, sigma)`` with ``beta`` profiled out (lmerTest's ``devfun_vp``).

    ML: ``log|H| + pwrss / sigma^2 + n log(2 pi sigma^2)``; REML adds
    ``log|X'H^{-1}X| - p log(2 pi sigma^2)``. At ``sigma^2 = pwrss / n`` (ML) or
    ``pwrss / (n - p)`` (REML) it equals the engine's profiled deviance.

    Parameters
    ----------
    varpar : ndarray
        ``theta`` followed by ``sigma``.
    s : GroupStatistics
    reml : bool

    Returns
    -------
    float
        ``inf`` where the deviance is undefined.
    """
    varpar = np.asarray(varpar, dtype=float)
    sigma2 = varpar[-1] ** 2
    pieces = theta_pieces(varpar[:-1], s)
    if pieces is None or sigma2 <= 0.0:
        return math.inf
    n = s.n_obs
    dev = pieces.logdet_m + pieces.pwrss / sigma2 + n * (_LOG_2PI + math.log(sigma2))
    if reml:
        p = pieces.xtvx.shape[0]
        dev += float(np.linalg.slogdet(pieces.xtvx)[1]) - p * (_LOG_2PI + math.log(sigma2))
    return float(dev)


def beta_covariance(varpar: np.ndarray, s: GroupStatistics) -> np.ndarray:
    """``sigma^2 (X'H(theta)^{-1}X)^{-1}``: the fixed effects' covariance at ``(theta, sigma)``."""
    varpar = np.asarray(varpar, dtype=float)
    pieces = theta_pieces(varpar[:-1], s)
    if pieces is None:
        return np.full_like(s.xtx, np.nan)
    cov = varpar[-1] ** 2 * np.linalg.inv(pieces.xtvx)
    return 0.5 * (cov + cov.T)


def _steps(x: np.ndarray, relative: float) -> np.ndarray:
    """Finite-difference steps: relative to the value, absolute near zero (as numDeriv)."""
    return relative * np.abs(x) + relative * (np.abs(x) < 1e-6)


def deviance_steps(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    relative: float = 1e-3,
    min_change: float = 1e-2,
) -> np.ndarray:
    """Steps for differencing a deviance: relative steps, widened until the deviance moves.

    A relative step on a parameter near zero (a small correlation's ``theta``, or a
    slope's ``theta`` when E runs to 100) moves a deviance of size ~1e6 by less than its
    rounding noise, and the second difference is noise: at 20,000 participants that put
    Satterthwaite df 4-14% off, depending on the step. Each coordinate's step is doubled
    until the second difference reaches ``min_change`` (a few hundredths of a deviance
    unit: a small fraction of the parameter's standard error, far above the noise), but not
    beyond a tenth of ``max(|x|, 1)`` (the second coordinate below stops there).
    Coordinates whose relative step already moves the deviance keep it. Every mixed-model
    deviance Hessian (Satterthwaite, profile starts, the nested fit's certificate) uses them.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda v: 1e6 + 2e4 * v[0] ** 2 + v[1] ** 2
    >>> [float(h) for h in deviance_steps(f, np.array([1e-5, 1.0]))]  # both widened
    [0.00065536, 0.064]
    >>> [float(h) for h in deviance_steps(lambda v: 1e6 + 1e5 * v[0] ** 2, np.array([2.0]))]
    [0.002]
    """
    x = np.asarray(x, dtype=float)
    f0 = f(x)
    steps = _steps(x, relative)
    # A flat direction (a non-identified parameter) must not send the step far away.
    largest = 0.1 * np.maximum(np.abs(x), 1.0)
    for i in range(x.size):
        unit = np.zeros(x.size)
        unit[i] = 1.0
        while 2.0 * steps[i] <= largest[i]:
            change = f(x + steps[i] * unit) + f(x - steps[i] * unit) - 2.0 * f0
            if not np.isfinite(change) or abs(change) >= min_change:
                break
            steps[i] *= 2.0
    return steps


def deviance_hessian(
    deviance: Callable[[np.ndarray], float], x: np.ndarray, steps: np.ndarray | None = None
) -> np.ndarray:
    """:func:`richardson_hessian` of a deviance with :func:`deviance_steps` (or ``steps``)."""
    x = np.asarray(x, dtype=float)
    return richardson_hessian(
        deviance, x, steps=deviance_steps(deviance, x) if steps is None else steps
    )


def richardson_hessian(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    relative: float = 1e-3,
    steps: np.ndarray | None = None,
) -> np.ndarray:
    """Central-difference Hessian with one Richardson extrapolation (error O(h^4)).

    Parameters
    ----------
    f : callable
        Scalar function of a vector.
    x : ndarray
        Point of evaluation.
    relative : float
        Step relative to each coordinate's magnitude.
    steps : ndarray, optional
        Steps to use instead (e.g. from :func:`deviance_steps`).

    Returns
    -------
    ndarray
        Symmetric (k, k).

    Examples
    --------
    >>> import numpy as np
    >>> h = richardson_hessian(lambda v: v[0] ** 2 * v[1] + np.exp(v[1]), np.array([1.0, 0.5]))
    >>> bool(np.allclose(h, [[1.0, 2.0], [2.0, np.exp(0.5)]], atol=1e-8))
    True
    """
    x = np.asarray(x, dtype=float)

    def at(h: np.ndarray) -> np.ndarray:
        k = x.size
        f0 = f(x)
        out = np.empty((k, k))
        for i in range(k):
            e_i = np.zeros(k)
            e_i[i] = h[i]
            out[i, i] = (f(x + e_i) - 2.0 * f0 + f(x - e_i)) / h[i] ** 2
            for j in range(i):
                e_j = np.zeros(k)
                e_j[j] = h[j]
                out[i, j] = out[j, i] = (
                    f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j) + f(x - e_i - e_j)
                ) / (4.0 * h[i] * h[j])
        return out

    h = _steps(x, relative) if steps is None else np.asarray(steps, dtype=float)
    return (4.0 * at(h / 2.0) - at(h)) / 3.0


def richardson_jacobian(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    relative: float = 1e-3,
    steps: np.ndarray | None = None,
) -> np.ndarray:
    """Jacobian of an array-valued ``f`` by central differences with Richardson extrapolation.

    Returns an array of shape ``(k, *f(x).shape)``: the derivative along each coordinate.

    Examples
    --------
    >>> import numpy as np
    >>> jac = richardson_jacobian(lambda v: np.array([v[0] * v[1], v[1] ** 3]), np.array([2.0, 1.0]))
    >>> bool(np.allclose(jac, [[1.0, 0.0], [2.0, 3.0]], atol=1e-8))
    True
    """
    x = np.asarray(x, dtype=float)

    def at(h: np.ndarray) -> np.ndarray:
        rows = []
        for i in range(x.size):
            e_i = np.zeros(x.size)
            e_i[i] = h[i]
            rows.append((f(x + e_i) - f(x - e_i)) / (2.0 * h[i]))
        return np.stack(rows)

    h = _steps(x, relative) if steps is None else np.asarray(steps, dtype=float)
    return (4.0 * at(h / 2.0) - at(h)) / 3.0
