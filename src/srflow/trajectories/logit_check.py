"""Certify the optimum of a class-membership logit (:mod:`srflow.trajectories.predictors`).

The three-step and one-step estimators maximise a log-likelihood of the multinomial logit of
the class on the predictors by BFGS. Its result is reported ``ok`` only when three checks pass:

* **existence** (else ``failed``, estimates NaN): the predictors are not collinear, the
  information matrix (the Hessian of the negative log-likelihood) is at least
  :data:`MIN_RELATIVE_INFORMATION` of the design's own in every direction, and no effect
  exceeds :data:`MAX_LOGODDS_PER_SD` log-odds per SD of its predictor. A predictor that
  separates two classes (or a class in which a binary predictor never varies) has no finite
  maximum: the optimiser walks off towards infinity, the log-likelihood flattens and the
  curvature along that direction vanishes.
* **stationarity** (else ``suspect``): at the optimum a Newton step would gain at most
  :data:`MAX_NEWTON_GAIN` in log-likelihood (``g' H^-1 g / 2``, ``g`` the gradient).
* **a restart** (else ``suspect``): BFGS restarted :data:`RESTART_SES` standard errors away
  (alternating directions) returns to the same log-likelihood (relative :data:`RESTART_TOL`).
  The mixture likelihood of the ML three-step is not concave, so one run could stop at a local
  maximum; when the restart is higher, it is kept and the fit is ``suspect``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "MAX_CONDITION",
    "MAX_LOGODDS_PER_SD",
    "MAX_NEWTON_GAIN",
    "MIN_RELATIVE_INFORMATION",
    "RESTART_SES",
    "RESTART_TOL",
    "LogitCheck",
    "existence_problem",
    "restart_check",
    "stationarity_problem",
]

#: condition number of the predictors' scaled cross-products beyond which they are collinear
MAX_CONDITION = 1e12
#: smallest information, relative to the design's (``pi (1 - pi)`` of a logit, <= 1/4), of an
#: estimable model; separation drives it to ~exp(-|eta|)
MIN_RELATIVE_INFORMATION = 1e-6
#: |effect| x SD(predictor) beyond this many log-odds (an odds ratio of ~22000 per SD) is a
#: drift to infinity, not an estimate
MAX_LOGODDS_PER_SD = 10.0
#: log-likelihood a Newton step may still gain at a certified optimum
MAX_NEWTON_GAIN = 1e-6
#: the restart's distance from the optimum, in standard errors
RESTART_SES = 3.0
#: relative agreement of the restart's log-likelihood
RESTART_TOL = 1e-8


class LogitCheck:
    """Outcome of the checks: ``status`` ("ok", "suspect") and ``reason`` ("" when ok)."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def add(self, reason: str | None) -> None:
        if reason:
            self.reasons.append(reason)

    @property
    def status(self) -> str:
        return "suspect" if self.reasons else "ok"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def existence_problem(hess: np.ndarray, theta: np.ndarray, x: np.ndarray, names) -> str | None:
    """Why the logit has no finite maximum at ``theta`` (separation, singular information), or None.

    Parameters
    ----------
    hess : ndarray (m, m)
        Hessian of the negative log-likelihood at ``theta`` (m = (K - 1) p).
    theta : ndarray (m,)
        Coefficients, class-major (p per non-reference class).
    x : ndarray (n, p)
        Design: a column of ones, then the predictors.
    names : sequence of str
        The p term names.

    Notes
    -----
    The information is measured against the design's own: the smallest eigenvalue of
    ``H`` relative to ``I (x) X'X`` (a generalised eigenvalue, free of the predictors' units) is
    about ``pi (1 - pi)`` of the least informative direction, at most 1/4 and well above
    :data:`MIN_RELATIVE_INFORMATION` for any estimable model; along a separating direction it
    falls like ``exp(-|eta|)`` as the optimiser walks off.

    Examples
    --------
    >>> x = np.column_stack([np.ones(4), [0.0, 0.0, 1.0, 1.0]])
    >>> xtx = x.T @ x
    >>> existence_problem(0.2 * xtx, np.array([0.1, 0.5]), x, ["(intercept)", "z"]) is None
    True
    >>> existence_problem(1e-9 * xtx, np.array([0.1, 0.5]), x, ["(intercept)", "z"])[:37]
    'no finite maximum: the information al'
    >>> existence_problem(0.2 * xtx, np.array([0.1, 40.0]), x, ["(intercept)", "z"])[:37]
    'the effect of z on class contrast 1 i'
    """
    diag = np.diag(hess)
    if not np.all(np.isfinite(hess)) or np.any(diag <= 0):
        return (
            "the information matrix is singular (a predictor has no effect on the likelihood): "
            "no finite maximum, a predictor may separate the classes"
        )
    gram = x.T @ x
    scale = 1.0 / np.sqrt(np.diag(gram))
    eig = np.linalg.eigvalsh(gram * scale[:, None] * scale[None, :])
    if eig[0] <= eig[-1] / MAX_CONDITION:
        return (
            f"the information matrix is singular: the predictors are collinear (condition number "
            f"of their cross-products {'inf' if eig[0] <= 0 else f'{eig[-1] / eig[0]:.3g}'})"
        )
    p = x.shape[1]
    chol = np.linalg.cholesky(np.kron(np.eye(theta.shape[0] // p), gram))
    half = np.linalg.solve(chol, np.linalg.solve(chol, hess).T)  # L^-1 H L^-T
    relative = float(np.linalg.eigvalsh((half + half.T) / 2)[0])
    if relative <= MIN_RELATIVE_INFORMATION:
        return (
            f"no finite maximum: the information along one direction is {relative:.3g} of the "
            "data's (a predictor separates the classes, or does not vary within a class)"
        )
    sd = x.std(axis=0)
    per_sd = np.abs(theta.reshape(-1, p)) * sd[None, :]
    per_sd[:, 0] = 0.0  # the intercept has no SD
    contrast, term = np.unravel_index(int(np.argmax(per_sd)), per_sd.shape)
    if per_sd[contrast, term] > MAX_LOGODDS_PER_SD:
        return (
            f"the effect of {names[term]} on class contrast {contrast + 1} is "
            f"{per_sd[contrast, term]:.3g} log-odds per SD: the estimate drifts to infinity "
            "(a predictor separates the classes, or does not vary within a class)"
        )
    return None


def stationarity_problem(grad: np.ndarray, cov: np.ndarray) -> str | None:
    """Why ``theta`` is not a stationary point (a Newton step would still gain), or None.

    Examples
    --------
    >>> stationarity_problem(np.array([1e-6, 0.0]), np.eye(2)) is None
    True
    >>> stationarity_problem(np.array([0.1, 0.0]), np.eye(2))[:40]
    'the gradient at the optimum is not zero '
    """
    gain = 0.5 * abs(float(grad @ cov @ grad))
    if not np.isfinite(gain) or gain > MAX_NEWTON_GAIN:
        return (
            f"the gradient at the optimum is not zero (a Newton step would gain {gain:.3g} in "
            "log-likelihood): the optimiser stopped early"
        )
    return None


def restart_check(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta: np.ndarray,
    se: np.ndarray,
    refit: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, str | None]:
    """Restart the optimiser away from ``theta``; the better optimum and why they disagree.

    Parameters
    ----------
    fun : callable
        ``fun(theta) -> (negative log-likelihood, gradient)``.
    theta, se : ndarray (m,)
        The optimum and its standard errors.
    refit : callable
        ``refit(start) -> theta`` (the same optimiser from ``start``).

    Returns
    -------
    theta : ndarray
        ``theta``, or the restart's optimum when it is higher by more than the tolerance.
    reason : str or None
        None when both runs reach the same log-likelihood.
    """
    steps = np.where(np.isfinite(se) & (se > 0), se, 1.0) * RESTART_SES
    start = theta + steps * np.where(np.arange(theta.shape[0]) % 2 == 0, 1.0, -1.0)
    other = refit(start)
    first, second = fun(theta)[0], fun(other)[0]
    tol = RESTART_TOL * (1.0 + abs(first))
    if second < first - tol:
        return other, (
            f"a restart reached a higher log-likelihood ({-second:.6f} against {-first:.6f}); the "
            "first run had stopped at a local maximum, the restart's is reported"
        )
    if second > first + tol:
        return theta, (
            f"a restart stopped at a lower log-likelihood ({-second:.6f} against {-first:.6f}): "
            "the likelihood has more than one maximum"
        )
    return theta, None
