"""Profiled (RE)ML engine for linear mixed models with one grouping factor.

Model, per group ``i``::

    y_i = X_i beta + Z_i b_i + e_i,   b_i ~ N(0, sigma^2 Lambda Lambda'),   e_i ~ N(0, sigma^2 I)

``Lambda`` is the lower-triangular *relative* Cholesky factor of the random-effects
covariance, stored column by column in ``theta`` exactly as lme4 does, so ``theta`` and
the singularity rule (a diagonal element of ``Lambda`` below 1e-4) mean the same here as
in lme4. ``beta`` and ``sigma^2`` are profiled out in closed form, leaving an optimisation
over ``theta`` only.

Everything the likelihood needs is reduced once to per-group cross-products
(``X_i'X_i``, ``Z_i'X_i``, ``Z_i'Z_i``, ``Z_i'y_i``, ``X_i'y_i``, ``y_i'y_i``, ``n_i``), so one
evaluation costs O(groups * q^3), independent of the number of rows. Small q x q
factorisations are written as loops over q (not over groups), vectorised across groups.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from srflow.errors import ConvergenceWarning, ModelError

try:  # shipped with scikit-learn, a dependency of srflow
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

#: lme4's tolerance for calling a fit singular (``lme4::isSingular``).
SINGULAR_TOLERANCE = 1e-4
#: Correlations beyond this magnitude are reported as a singular fit too.
CORRELATION_BOUND = 0.9999
#: Convergence: largest Newton-scaled gradient component allowed (lme4 uses 2e-3).
SCALED_GRADIENT_TOLERANCE = 2e-3
#: Restarts of one optimiser from a saddle point before moving to the next optimiser.
MAX_SADDLE_RESTARTS = 3
_LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------
# Sufficient statistics
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GroupStatistics:
    """Per-group cross-products of (X, Z, y), the only input the likelihood needs.

    The group axis is last so that every per-group quantity is a contiguous vector and
    the small q x q algebra runs as a few vector operations across all groups.

    Attributes
    ----------
    ztz : ndarray
        ``Z_i'Z_i`` as (q, q, G).
    ztxy : ndarray
        ``Z_i'[X_i y_i]`` as (q, p + 1, G): the last column is ``Z_i'y_i``.
    xtx, xty, yty : ndarray
        Sums over groups: ``X'X`` (p, p), ``X'y`` (p,), ``y'y`` (scalar).
    counts : ndarray
        Rows per group (G,).
    labels : ndarray
        Group labels in sorted order, aligned with the group axis above.
    codes : ndarray
        Group index of every row (n,).
    """

    ztz: np.ndarray
    ztxy: np.ndarray
    xtx: np.ndarray
    xty: np.ndarray
    yty: float
    counts: np.ndarray
    labels: np.ndarray
    codes: np.ndarray

    @property
    def n_obs(self) -> int:
        return int(self.codes.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.counts.shape[0])


def group_statistics(y: np.ndarray, X: np.ndarray, Z: np.ndarray, groups: Any) -> GroupStatistics:
    """Reduce the data to per-group cross-products (one pass over the rows).

    Parameters
    ----------
    y, X, Z : ndarray
        Outcome (n,), fixed-effects design (n, p) and random-effects design (n, q).
    groups : array-like
        Group label of every row (n,); any hashable labels. Groups are ordered by
        sorted label so that results do not depend on row order.

    Returns
    -------
    GroupStatistics
    """
    codes, labels = pd.factorize(pd.Series(np.asarray(groups)), sort=True)
    codes = np.asarray(codes, dtype=np.intp)
    if (codes < 0).any():
        raise ModelError("Group labels contain missing values; drop those rows before fitting.")
    n_groups = len(labels)
    p, q = X.shape[1], Z.shape[1]
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    xy = np.column_stack([X, y])

    def per_group(values: np.ndarray) -> np.ndarray:
        # bincount adds in row order: deterministic regardless of thread count.
        return np.bincount(codes, weights=values, minlength=n_groups)

    ztz = np.empty((q, q, n_groups))
    for a in range(q):
        for b in range(a, q):
            ztz[a, b] = ztz[b, a] = per_group(Z[:, a] * Z[:, b])
    ztxy = np.empty((q, p + 1, n_groups))
    for a in range(q):
        for b in range(p + 1):
            ztxy[a, b] = per_group(Z[:, a] * xy[:, b])
    return GroupStatistics(
        ztz=ztz, ztxy=ztxy, xtx=X.T @ X, xty=X.T @ y, yty=float(y @ y),
        counts=counts, labels=np.asarray(labels), codes=codes,
    )


def _single_threaded_blas():
    """BLAS on one thread: the products here are tiny (threads only add overhead) and a
    fixed summation order keeps results byte-identical whatever the machine's core count."""
    if threadpool_limits is None:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# --------------------------------------------------------------------------------------
# Small batched linear algebra: loops over q, vectorised over groups (group axis last)
# --------------------------------------------------------------------------------------


def _batched_cholesky(M: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack (q, q, G) of positive-definite matrices."""
    q = M.shape[0]
    L = np.zeros_like(M)
    for j in range(q):
        d = M[j, j] - (L[j, :j] ** 2).sum(axis=0)
        L[j, j] = np.sqrt(np.maximum(d, 1e-300))
        for i in range(j + 1, q):
            L[i, j] = (M[i, j] - (L[i, :j] * L[j, :j]).sum(axis=0)) / L[j, j]
    return L


def _batched_forward_solve(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve ``L X = B`` for lower-triangular L (q, q, G) and B (q, m, G)."""
    q = L.shape[0]
    X = np.empty_like(B)
    for i in range(q):
        acc = B[i].copy()
        for k in range(i):
            acc -= L[i, k] * X[k]
        X[i] = acc / L[i, i]
    return X


def _left_multiply(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A' B_g`` for every group: A (q, r), B (q, m, G) -> (r, m, G), as one BLAS call."""
    q, m, n_groups = B.shape
    return (A.T @ B.reshape(q, m * n_groups)).reshape(A.shape[1], m, n_groups)


def _sum_crossprod(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``sum_g A_g' B_g`` for A (q, a, G) and B (q, b, G) -> (a, b)."""
    return sum(A[k] @ B[k].T for k in range(A.shape[0]))


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
class _Evaluation:
    deviance: float
    gradient: np.ndarray | None
    beta: np.ndarray
    xtvx: np.ndarray  # X' H^{-1} X, with V = sigma^2 H
    pwrss: float  # penalised weighted residual sum of squares
    chol_m: np.ndarray  # per-group Cholesky factors of I + Lambda' Z'Z Lambda, (q, q, G)
    u: np.ndarray | None  # per group Z_i' H_i^{-1} (y_i - X_i beta), (q, G)


def _evaluate(theta: np.ndarray, s: GroupStatistics, reml: bool, want_gradient: bool) -> _Evaluation:
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
    lam_t_ztz = _left_multiply(lam, s.ztz)  # Lambda' Z'Z        (q, q, G)
    m = _left_multiply(lam, lam_t_ztz.transpose(1, 0, 2).copy())  # Lambda' Z'Z Lambda (symmetric)
    for j in range(q):
        m[j, j] += 1.0
    chol_m = _batched_cholesky(m)
    logdet_m = 2.0 * sum(np.log(chol_m[j, j]).sum() for j in range(q))

    solved = _batched_forward_solve(chol_m, _left_multiply(lam, s.ztxy))  # L^{-1} Lambda' Z'[X y]
    cross = _sum_crossprod(solved, solved)  # (p+1, p+1)
    xtvx = s.xtx - cross[:p, :p]
    xtvy = s.xty - cross[:p, p]
    ytvy = s.yty - cross[p, p]
    try:
        chol_x = np.linalg.cholesky(xtvx)
    except np.linalg.LinAlgError:
        return _Evaluation(np.inf, None, np.full(p, np.nan), xtvx, np.nan, chol_m, None)
    beta = np.linalg.solve(chol_x.T, np.linalg.solve(chol_x, xtvy))
    pwrss = float(ytvy - beta @ xtvy)
    if not np.isfinite(pwrss) or pwrss <= 0.0:
        return _Evaluation(np.inf, None, beta, xtvx, pwrss, chol_m, None)
    dof = n - p if reml else n
    deviance = logdet_m + dof * (1.0 + _LOG_2PI + math.log(pwrss / dof))
    if reml:
        deviance += 2.0 * np.log(np.diag(chol_x)).sum()

    gradient = None
    u = None
    if want_gradient:
        # K = L^{-1} Lambda' Z'Z, so Z'H^{-1}Z = Z'Z - K'K and Z'H^{-1}[X y] = Z'[X y] - K' W.
        k = _batched_forward_solve(chol_m, lam_t_ztz)
        zhz = s.ztz.sum(axis=2) - _sum_crossprod(k, k)
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
    return _Evaluation(float(deviance), gradient, beta, xtvx, pwrss, chol_m, u)


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
    return _evaluate(np.asarray(theta, dtype=float), s, reml, False).deviance


# --------------------------------------------------------------------------------------
# Optimisation
# --------------------------------------------------------------------------------------


def _hessian(theta: np.ndarray, gradient: np.ndarray, s: GroupStatistics, reml: bool) -> np.ndarray:
    """Symmetrised forward-difference Hessian of the deviance from the analytic gradient."""
    k = theta.size
    hess = np.empty((k, k))
    for j in range(k):
        step = 1e-6 * max(1.0, abs(theta[j]))
        moved = theta.copy()
        moved[j] += step  # upward, so a lower bound is never crossed
        g_moved = _evaluate(moved, s, reml, True).gradient
        if g_moved is None:
            return np.full((k, k), np.nan)
        hess[:, j] = (g_moved - gradient) / step
    return 0.5 * (hess + hess.T)


def _newton_polish(theta, s, reml, lower, max_steps=8):
    """Projected Newton steps from an optimiser's answer, ending with the convergence check.

    Returns the polished theta, the max-norm of the projected gradient there and the
    largest Newton-scaled gradient component (lme4's convergence criterion); parameters
    sitting on their bound with the gradient pushing outwards are held fixed.
    """
    current = theta.copy()
    f_current = _evaluate(current, s, reml, False).deviance
    grad_norm, scaled = np.inf, np.inf
    for iteration in range(max_steps + 1):
        ev = _evaluate(current, s, reml, True)
        if ev.gradient is None:
            break
        grad = ev.gradient.copy()
        free = ~((current <= lower + 1e-10) & (grad > 0))
        grad[~free] = 0.0
        grad_norm = float(np.max(np.abs(grad)))
        if not free.any():
            scaled = 0.0
            break
        hess = _hessian(current, ev.gradient, s, reml)[np.ix_(free, free)]
        try:
            np.linalg.cholesky(hess)
        except np.linalg.LinAlgError:
            scaled = np.inf
            break
        newton = np.linalg.solve(hess, grad[free])
        scaled = float(np.max(np.abs(newton)))
        if scaled < 1e-9 or iteration == max_steps:
            break
        step = np.zeros_like(current)
        step[free] = -newton
        for shrink in (1.0, 0.5, 0.25, 0.125):
            trial = np.maximum(current + shrink * step, lower)
            f_trial = _evaluate(trial, s, reml, False).deviance
            if f_trial <= f_current:
                break
        else:
            break
        current, f_current = trial, f_trial
    return current, grad_norm, scaled


def _escape_saddle(theta, s, reml, lower) -> np.ndarray | None:
    """A lower-deviance point along the most negative curvature at ``theta``, or None at a minimum."""
    ev = _evaluate(theta, s, reml, True)
    if ev.gradient is None:
        return None
    hess = _hessian(theta, ev.gradient, s, reml)
    if not np.isfinite(hess).all():
        return None
    values, vectors = np.linalg.eigh(hess)
    if values[0] >= 0:
        return None
    direction = vectors[:, 0]
    best, best_dev = None, ev.deviance - 1e-10 * max(1.0, abs(ev.deviance))
    scale = max(1.0, float(np.linalg.norm(theta)))
    for size in (1e-3, 1e-2, 0.1, 0.3, 1.0):
        for sign in (1.0, -1.0):
            trial = np.maximum(theta + sign * size * scale * direction, lower)
            dev = _evaluate(trial, s, reml, False).deviance
            if dev < best_dev:
                best, best_dev = trial, dev
    return best


def _mirrored(theta: np.ndarray, q: int) -> list[np.ndarray]:
    """The same model with a column of ``Lambda`` negated, for every column whose diagonal is 0.

    Negating a column of ``Lambda`` leaves ``Lambda Lambda'`` unchanged; the bound
    (diagonal >= 0) fixes the sign only while the diagonal is positive. At a zero diagonal
    both signs give the same model but different neighbourhoods, so an optimiser can stop
    on the side that points away from the optimum: a spurious local minimum (seen with an
    intercept SD at 0 and a random E slope, 10 log-likelihood units below lme4's optimum).
    """
    lam = theta_to_lambda(theta, q)
    rows, cols = theta_layout(q)
    out = []
    for j in range(q - 1):
        if lam[j, j] == 0.0 and np.any(lam[j + 1:, j] != 0.0):
            flipped = lam.copy()
            flipped[j + 1:, j] *= -1.0
            out.append(flipped[rows, cols])
    return out


def _optimise(s: GroupStatistics, reml: bool, q: int) -> tuple[np.ndarray, dict]:
    """Minimise the profiled deviance over theta, trying several optimisers in turn."""
    rows, cols = theta_layout(q)
    lower = np.where(rows == cols, 0.0, -np.inf)
    bounds = [(0.0, None) if r == c else (None, None) for r, c in zip(rows, cols)]
    start = np.where(rows == cols, 1.0, 0.0)

    def fun(theta):
        return _evaluate(theta, s, reml, False).deviance

    def fun_and_grad(theta):
        ev = _evaluate(theta, s, reml, True)
        if ev.gradient is None:
            return 1e300, np.zeros_like(theta)
        return ev.deviance, ev.gradient

    bounded_fun = lambda t: fun(np.maximum(t, lower))  # noqa: E731  (Powell may step outside)
    attempts: list[tuple[str, Any]] = [
        ("L-BFGS-B", lambda x0: optimize.minimize(fun_and_grad, x0, jac=True, method="L-BFGS-B",
                                                  bounds=bounds,
                                                  options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-8})),
        ("COBYQA", lambda x0: optimize.minimize(fun, x0, method="COBYQA", bounds=bounds,
                                                options={"maxfev": 5000, "final_tr_radius": 1e-8})),
        ("Nelder-Mead", lambda x0: optimize.minimize(fun, x0, method="Nelder-Mead", bounds=bounds,
                                                     options={"maxfev": 5000, "xatol": 1e-8,
                                                              "fatol": 1e-10, "adaptive": True})),
        ("Powell", lambda x0: optimize.minimize(bounded_fun, x0, method="Powell", bounds=bounds,
                                                options={"maxfev": 5000, "xtol": 1e-8, "ftol": 1e-12})),
    ]
    log: list[str] = []
    best_theta, best_dev = start, fun(start)
    for name, run in attempts:
        x0 = best_theta
        for restart in range(MAX_SADDLE_RESTARTS + 1):
            try:
                res = run(x0)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                log.append(f"{name} raised {type(exc).__name__}: {exc}")
                break
            theta, grad_norm, scaled = _newton_polish(np.maximum(np.asarray(res.x, float), lower), s, reml, lower)
            dev = fun(theta)
            if np.isfinite(dev) and (dev < best_dev or not np.isfinite(best_dev)):
                best_theta, best_dev = theta, dev
            if np.isfinite(dev) and scaled < SCALED_GRADIENT_TOLERANCE and dev <= best_dev + 1e-8:
                for mirror in _mirrored(theta, q):
                    # same deviance, other side of the zero diagonal: restart there once
                    try:
                        mirror_res = run(mirror)
                    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                        continue
                    other, other_norm, other_scaled = _newton_polish(
                        np.maximum(np.asarray(mirror_res.x, float), lower), s, reml, lower)
                    other_dev = fun(other)
                    if other_scaled < SCALED_GRADIENT_TOLERANCE and other_dev < dev - 1e-8:
                        log.append(f"{name} stopped on the wrong side of a zero variance (deviance {dev:.6g}); "
                                   f"restarted from the mirrored point (deviance {other_dev:.6g})")
                        theta, dev, grad_norm, scaled = other, other_dev, other_norm, other_scaled
                return theta, {"optimizer": name, "converged": True, "gradient_norm": grad_norm,
                               "scaled_gradient": scaled, "log": log}
            escape = _escape_saddle(theta, s, reml, lower)
            if escape is None:
                log.append(f"{name} did not converge (deviance {dev:.6g}, scaled gradient {scaled:.3g}, "
                           f"message: {getattr(res, 'message', '')})")
                break
            # A diagonal theta at 0 has zero gradient (the deviance depends on its square), so a
            # gradient method can stop on a saddle there; restart along negative curvature.
            log.append(f"{name} stopped at a saddle point (deviance {dev:.6g}); restarted downhill")
            x0 = escape
    best_theta, grad_norm, scaled = _newton_polish(best_theta, s, reml, lower, max_steps=0)
    return best_theta, {"optimizer": "none", "converged": False, "gradient_norm": grad_norm,
                        "scaled_gradient": scaled, "log": log}


# --------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class LmmFit:
    """A fitted linear mixed model with one grouping factor.

    ``loglik`` is the maximised log-likelihood for ML fits and minus half the REML
    criterion for REML fits (what lme4's ``logLik`` reports); ``aic``/``bic`` are computed
    from it in both cases, as lme4 does, and ``criterion`` says which it is. Only ML
    values are comparable between models with different fixed effects.
    """

    beta: np.ndarray
    beta_se: np.ndarray
    beta_cov: np.ndarray
    x_names: list[str]
    z_names: list[str]
    sigma: float
    cov_re: np.ndarray
    sd_re: np.ndarray
    corr_re: np.ndarray
    theta: np.ndarray
    reml: bool
    criterion: str
    loglik: float
    deviance: float
    n_params: int
    aic: float
    bic: float
    n_obs: int
    n_groups: int
    converged: bool
    singular: bool
    gradient_norm: float
    scaled_gradient: float
    optimizer: str
    warnings: list[str]
    group_labels: np.ndarray
    ranef: np.ndarray
    ranef_sd: np.ndarray
    group_sizes: np.ndarray

    def predict_fixed(self, X: np.ndarray) -> np.ndarray:
        """Population-level prediction ``X @ beta``.

        Parameters
        ----------
        X : ndarray
            Fixed-effects design (m, p), columns as in ``x_names``.

        Returns
        -------
        ndarray
            (m,)
        """
        return np.asarray(X, dtype=float) @ self.beta

    def predict(self, X: np.ndarray, Z: np.ndarray, groups: Any) -> np.ndarray:
        """Conditional prediction ``X beta + Z b_i``; unseen groups get ``b = 0``.

        Parameters
        ----------
        X, Z : ndarray
            Designs (m, p) and (m, q).
        groups : array-like
            Group label of each row (m,).

        Returns
        -------
        ndarray
            (m,)
        """
        index = pd.Index(self.group_labels).get_indexer(pd.Series(np.asarray(groups)))
        b = np.where((index >= 0)[:, None], self.ranef[np.maximum(index, 0)], 0.0)
        return self.predict_fixed(X) + np.einsum("mq,mq->m", np.asarray(Z, float), b)

    @property
    def summary(self) -> pd.DataFrame:
        """Fixed effects and variance components as one tidy table."""
        z = self.beta / self.beta_se
        rows = [
            {"component": "fixed", "term": name, "estimate": b, "se": se, "statistic": zz,
             "p": 2.0 * special.ndtr(-abs(zz))}
            for name, b, se, zz in zip(self.x_names, self.beta, self.beta_se, z)
        ]
        for j, name in enumerate(self.z_names):
            rows.append({"component": "random_sd", "term": name, "estimate": self.sd_re[j]})
        for a in range(len(self.z_names)):
            for b in range(a + 1, len(self.z_names)):
                rows.append({"component": "random_corr", "term": f"{self.z_names[a]}:{self.z_names[b]}",
                             "estimate": self.corr_re[a, b]})
        rows.append({"component": "residual_sd", "term": "Residual", "estimate": self.sigma})
        return pd.DataFrame(rows, columns=["component", "term", "estimate", "se", "statistic", "p"])


def _as_matrix(values: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ModelError(f"{name} must have {n} rows (one per observation); got shape {arr.shape}.")
    return arr


def fit_lmm(
    y: Any,
    X: Any,
    Z: Any,
    groups: Any,
    *,
    reml: bool = True,
    x_names: Sequence[str] | None = None,
    z_names: Sequence[str] | None = None,
) -> LmmFit:
    """Fit a linear mixed model with one grouping factor by profiled REML or ML.

    Parameters
    ----------
    y : array-like
        Outcome (n,).
    X : array-like
        Fixed-effects design (n, p), including the intercept column if wanted.
    Z : array-like
        Random-effects design (n, q); unstructured q x q covariance per group.
    groups : array-like
        Group label of every row (n,). Groups are ordered by sorted label.
    reml : bool, default True
        REML (True) or maximum likelihood (False).
    x_names, z_names : sequence of str, optional
        Column names used in the output; default ``x0..``, ``z0..``.

    Returns
    -------
    LmmFit

    Raises
    ------
    ModelError
        Non-finite data, mismatched shapes, a rank-deficient X, or fewer groups than
        random effects.
    """
    y = np.asarray(y, dtype=float).ravel()
    n = y.shape[0]
    X = _as_matrix(X, n, "X")
    Z = _as_matrix(Z, n, "Z")
    p, q = X.shape[1], Z.shape[1]
    x_names = list(x_names) if x_names is not None else [f"x{j}" for j in range(p)]
    z_names = list(z_names) if z_names is not None else [f"z{j}" for j in range(q)]
    if len(x_names) != p or len(z_names) != q:
        raise ModelError("x_names / z_names must name every column of X / Z.")
    if len(np.asarray(groups)) != n:
        raise ModelError(f"groups must have {n} entries (one per observation).")
    for name, arr in (("y", y), ("X", X), ("Z", Z)):
        if not np.isfinite(arr).all():
            raise ModelError(f"{name} contains missing or infinite values; drop or impute them before fitting.")
    if np.linalg.matrix_rank(X) < p:
        raise ModelError("The fixed-effects design is rank deficient (a predictor is constant or a "
                         "linear combination of others); remove the redundant term.")
    with _single_threaded_blas():
        return _fit(y, X, Z, groups, reml, x_names, z_names)


def _fit(y, X, Z, groups, reml, x_names, z_names) -> LmmFit:
    n, p, q = X.shape[0], X.shape[1], Z.shape[1]
    s = group_statistics(y, X, Z, groups)
    if s.n_groups <= q:
        raise ModelError(f"Only {s.n_groups} groups for {q} random effects per group; need more groups "
                         "than random effects (or drop random slopes).")
    if n <= p:
        raise ModelError(f"Only {n} observations for {p} fixed effects.")

    theta, info = _optimise(s, reml, q)
    ev = _evaluate(theta, s, reml, True)
    if not np.isfinite(ev.deviance):
        raise ModelError("The likelihood could not be evaluated at any parameter value tried; check the "
                         "data for extreme values or near-collinear predictors.")
    dof = n - p if reml else n
    sigma2 = ev.pwrss / dof
    lam = theta_to_lambda(theta, q)
    cov_re = sigma2 * lam @ lam.T
    sd_re = np.sqrt(np.diag(cov_re))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr_re = cov_re / np.outer(sd_re, sd_re)
    corr_re[~np.isfinite(corr_re)] = np.nan
    np.fill_diagonal(corr_re, 1.0)
    beta_cov = sigma2 * np.linalg.inv(ev.xtvx)
    beta_cov = 0.5 * (beta_cov + beta_cov.T)

    # Conditional modes b_i = Lambda Lambda' u_i and conditional covariance
    # sigma^2 Lambda M_i^{-1} Lambda' (given beta, as lme4's condVar).
    ranef = ev.u.T @ (lam @ lam.T)  # (G, q); Lambda Lambda' is symmetric
    lam_t = np.repeat(lam.T[:, :, None], s.n_groups, axis=2)
    half = _batched_forward_solve(ev.chol_m, lam_t)  # L^{-1} Lambda', (q, q, G)
    ranef_sd = np.sqrt(sigma2 * (half**2).sum(axis=0)).T

    rows, cols = theta_layout(q)
    diag = rows == cols
    offdiag_corr = corr_re[np.triu_indices(q, 1)]
    singular = bool((theta[diag] < SINGULAR_TOLERANCE).any()
                    or (np.abs(np.nan_to_num(offdiag_corr)) > CORRELATION_BOUND).any())
    warnings_list = list(info["log"]) if not info["converged"] else []
    if not info["converged"]:
        warnings_list.insert(0, "No optimiser met the convergence criterion (Newton-scaled gradient "
                                f"{info['scaled_gradient']:.3g} > {SCALED_GRADIENT_TOLERANCE}); "
                                "treat the estimates with caution.")
        warnings.warn(warnings_list[0], ConvergenceWarning, stacklevel=3)
    elif info["log"]:
        warnings_list.append(f"Converged with {info['optimizer']} after: " + "; ".join(info["log"]))
    if singular:
        warnings_list.append("Singular fit: a random-effect variance is (near) zero or a correlation is at "
                             "+/-1; the random-effects structure is too complex for these data.")

    n_params = p + len(theta) + 1
    loglik = -0.5 * ev.deviance
    return LmmFit(
        beta=ev.beta, beta_se=np.sqrt(np.diag(beta_cov)), beta_cov=beta_cov,
        x_names=x_names, z_names=z_names, sigma=math.sqrt(sigma2), cov_re=cov_re, sd_re=sd_re,
        corr_re=corr_re, theta=theta, reml=reml, criterion="REML" if reml else "ML",
        loglik=loglik, deviance=ev.deviance, n_params=n_params,
        aic=-2 * loglik + 2 * n_params, bic=-2 * loglik + n_params * math.log(n),
        n_obs=n, n_groups=s.n_groups, converged=bool(info["converged"]), singular=singular,
        gradient_norm=float(info["gradient_norm"]), scaled_gradient=float(info["scaled_gradient"]),
        optimizer=info["optimizer"], warnings=warnings_list, group_labels=s.labels,
        ranef=ranef, ranef_sd=ranef_sd, group_sizes=s.counts.astype(int),
    )


class LinearMixedModel:
    """scikit-learn-style wrapper around :func:`fit_lmm`.

    Parameters
    ----------
    reml : bool, default True
        REML (True) or ML (False).

    Attributes
    ----------
    fit_ : LmmFit
        The fitted model.
    coef_ : ndarray
        Fixed effects.
    """

    def __init__(self, reml: bool = True):
        self.reml = reml

    def fit(self, y, X, Z, groups, x_names=None, z_names=None) -> "LinearMixedModel":
        """Fit the model; see :func:`fit_lmm`. Returns self."""
        self.fit_ = fit_lmm(y, X, Z, groups, reml=self.reml, x_names=x_names, z_names=z_names)
        self.coef_ = self.fit_.beta
        return self

    def predict(self, X) -> np.ndarray:
        """Population-level prediction ``X @ coef_``."""
        return self.fit_.predict_fixed(X)

    @property
    def summary(self) -> pd.DataFrame:
        """See :attr:`LmmFit.summary`."""
        return self.fit_.summary
