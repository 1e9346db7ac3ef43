"""Minimising the profiled deviance over ``theta``: rescaled, unbounded, from several starts.

Three choices here are what keep the optimiser off spurious optima (issue 11):

* **Unbounded theta.** The deviance depends on ``theta`` only through ``Lambda Lambda'``,
  so it is defined for any real ``theta``. Bounding the diagonal at 0 (as lme4 does)
  creates false stopping points: with a diagonal at 0, negating the rest of its column
  gives the same model but flips the sign of the gradient along that diagonal, so one of
  the two equivalent points satisfies the bound's optimality conditions while the optimum
  lies on the other side. Unbounded, that point is an ordinary slope the optimiser walks
  through; the sign convention (diagonal >= 0) is restored once, at the end.
* **Internal rescaling of Z.** An uncentred slope (E from 0 to 100) makes the deviance
  a ravine: the E-slope element of ``theta`` is ~1/100 of the intercept's and strongly
  coupled to it. The random-effects design is whitened (``Z A`` with ``A`` from the
  Cholesky factor of ``Z'Z / n``: centred and scaled columns), which leaves the model and
  the deviance unchanged (``b = A b_s``) and makes every element of ``theta`` of order 1.
* **Several starts**, each run through a chain of optimisers and a Newton polish: the
  identity, a moment-based estimate, and the optimum of the nested model without the last
  random effect (padded with zeros). The caller certifies the best of them
  (:mod:`srflow.mixed.certify`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from scipy import optimize

from srflow.mixed.deviance import Evaluation, evaluate, hessian, theta_layout, theta_to_lambda
from srflow.mixed.statistics import GroupStatistics, left_multiply

#: Convergence: largest Newton-scaled gradient component allowed (lme4 uses 2e-3).
SCALED_GRADIENT_TOLERANCE = 2e-3
#: Curvature below -this (relative to the largest) marks a saddle point, not a minimum.
NEGATIVE_CURVATURE_TOLERANCE = 1e-6
#: Restarts of one optimiser from a saddle point before moving to the next optimiser.
MAX_SADDLE_RESTARTS = 3
OPTIMISERS = ("L-BFGS-B", "COBYQA", "Nelder-Mead", "Powell")


@dataclasses.dataclass
class Candidate:
    """The end of one start's optimiser chain (theta on the internal, whitened scale)."""

    start: str
    theta: np.ndarray
    deviance: float
    converged: bool
    gradient_norm: float
    scaled_gradient: float
    min_curvature: float
    optimizer: str
    log: list[str]


@dataclasses.dataclass
class Problem:
    """The deviance on the whitened scale, with the map back to lme4's ``theta``."""

    stats: GroupStatistics  # whitened
    reml: bool
    scaling: np.ndarray  # A, with Z_whitened = Z A

    @property
    def q(self) -> int:
        return int(self.stats.ztz.shape[0])

    def deviance(self, theta: np.ndarray) -> float:
        return evaluate(theta, self.stats, self.reml, False).deviance

    def deviance_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        ev = evaluate(theta, self.stats, self.reml, True)
        if ev.gradient is None:
            return 1e300, np.zeros_like(theta)
        return ev.deviance, ev.gradient

    def evaluation(self, theta: np.ndarray, want_gradient: bool = True) -> Evaluation:
        return evaluate(theta, self.stats, self.reml, want_gradient)

    def hessian_at(self, theta: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        return hessian(theta, gradient, self.stats, self.reml)

    def to_original(self, theta_w: np.ndarray) -> np.ndarray:
        """lme4's ``theta`` (diagonal >= 0) for the same covariance: ``Lambda = A Lambda_w``."""
        rows, cols = theta_layout(self.q)
        return (
            lower_factor(self.scaling @ theta_to_lambda(theta_w, self.q))[rows, cols] + 0.0
        )  # no -0.0

    def to_whitened(self, theta: np.ndarray) -> np.ndarray:
        rows, cols = theta_layout(self.q)
        lam = theta_to_lambda(np.asarray(theta, float), self.q)
        return lower_factor(np.linalg.solve(self.scaling, lam))[rows, cols]


def lower_factor(B: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with non-negative diagonal and ``L L' = B B'`` (B may be singular).

    Examples
    --------
    >>> B = np.array([[0.0, 1.0], [2.0, -1.0]])
    >>> L = lower_factor(B)
    >>> bool(np.allclose(L @ L.T, B @ B.T)), bool(L[0, 1] == 0.0), bool((np.diag(L) >= 0).all())
    (True, True, True)
    """
    _, r = np.linalg.qr(B.T)  # B B' = R' R
    lower = r.T
    signs = np.where(np.diag(lower) < 0.0, -1.0, 1.0)
    return lower * signs[None, :]


def whitened_problem(s: GroupStatistics, reml: bool) -> Problem:
    """The same model with the random-effects design ``Z A``, ``(Z A)'(Z A) / n = I``."""
    q = s.ztz.shape[0]
    total = s.ztz.sum(axis=2) / s.n_obs
    try:
        scaling = np.linalg.inv(np.linalg.cholesky(total).T)
    except np.linalg.LinAlgError:  # a column of Z is (nearly) a combination of others: scale only
        scale = np.sqrt(np.diag(total))
        scaling = np.diag(np.where(scale > 0, 1.0 / np.where(scale > 0, scale, 1.0), 1.0))
    if not np.isfinite(scaling).all():
        scaling = np.eye(q)
    half = left_multiply(scaling, s.ztz)  # A' Z'Z
    ztz = left_multiply(scaling, half.transpose(1, 0, 2).copy())  # A' Z'Z A
    stats = dataclasses.replace(s, ztz=ztz, ztxy=left_multiply(scaling, s.ztxy))
    return Problem(stats, reml, scaling)


def moment_start(problem: Problem) -> np.ndarray:
    """``theta`` from per-group least squares of the OLS residuals on Z (whitened scale).

    ``cov(b_i) - sigma^2 mean((Z_i'Z_i)^-1)`` estimates the random-effects covariance;
    its eigenvalues are floored at 1% of ``sigma^2`` so that the start is interior.
    """
    s, q = problem.stats, problem.q
    p = s.xtx.shape[0]
    beta = np.linalg.lstsq(s.xtx, s.xty, rcond=None)[0]
    rss = s.yty - 2.0 * beta @ s.xty + beta @ s.xtx @ beta
    ztz = s.ztz.transpose(2, 0, 1)
    zr = (s.ztxy[:, p] - np.einsum("qpg,p->qg", s.ztxy[:, :p], beta)).T  # (G, q)
    scale = np.trace(ztz, axis1=1, axis2=2) / q
    det = np.linalg.det(ztz) / np.maximum(scale, 1e-300) ** q
    valid = (s.counts > q) & (det > 1e-8)
    if valid.sum() <= q + 1:
        return np.where(theta_layout(q)[0] == theta_layout(q)[1], 1.0, 0.0)
    b = np.linalg.solve(ztz[valid], zr[valid][:, :, None])[:, :, 0]
    explained = float(np.einsum("gq,gq->", b, zr[valid]))
    dof = max(s.n_obs - p - q * int(valid.sum()), 1)
    sigma2 = max((rss - explained) / dof, 1e-12 * max(rss, 1e-300))
    cov = np.cov(b.T).reshape(q, q) - sigma2 * np.linalg.inv(ztz[valid]).mean(axis=0)
    values, vectors = np.linalg.eigh(0.5 * (cov + cov.T) / sigma2)
    relative = (vectors * np.maximum(values, 1e-2)) @ vectors.T
    rows, cols = theta_layout(q)
    return np.linalg.cholesky(relative)[rows, cols]


def _runner(name: str, problem: Problem) -> Callable[[np.ndarray], optimize.OptimizeResult]:
    """One scipy optimiser on the unbounded whitened deviance."""
    if name == "L-BFGS-B":
        return lambda x0: optimize.minimize(
            problem.deviance_and_gradient,
            x0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 2000, "ftol": 1e-11, "gtol": 1e-6},
        )
    if name == "COBYQA":
        return lambda x0: optimize.minimize(
            problem.deviance, x0, method="COBYQA", options={"maxfev": 5000, "final_tr_radius": 1e-9}
        )
    if name == "Nelder-Mead":
        return lambda x0: optimize.minimize(
            problem.deviance,
            x0,
            method="Nelder-Mead",
            options={"maxfev": 5000, "xatol": 1e-9, "fatol": 1e-11, "adaptive": True},
        )
    return lambda x0: optimize.minimize(
        problem.deviance, x0, method="Powell", options={"maxfev": 5000, "xtol": 1e-9, "ftol": 1e-13}
    )


def newton_polish(problem: Problem, theta: np.ndarray, max_steps: int = 8) -> dict:
    """Newton steps on the positive-curvature subspace, then the convergence measures.

    Returns theta, deviance, the max-norm of the gradient, the largest Newton-scaled
    gradient component (lme4's criterion; flat directions, as when a zero-variance
    column makes the rest of a column rotation-invariant, count their raw gradient) and
    the smallest Hessian eigenvalue relative to the largest (negative at a saddle).
    """
    current = np.asarray(theta, dtype=float).copy()
    f_current = problem.deviance(current)
    out = {"grad_norm": np.inf, "scaled": np.inf, "min_curvature": np.nan}
    for iteration in range(max_steps + 1):
        ev = problem.evaluation(current)
        if ev.gradient is None:
            break
        hess = problem.hessian_at(current, ev.gradient)
        if not np.isfinite(hess).all():
            break
        values, vectors = np.linalg.eigh(hess)
        top = max(1.0, float(np.abs(values).max()))
        curved = values > 1e-9 * top
        along = vectors.T @ ev.gradient
        newton = vectors[:, curved] @ (along[curved] / values[curved])
        flat_gradient = float(np.abs(along[~curved]).max()) if (~curved).any() else 0.0
        out = {
            "grad_norm": float(np.abs(ev.gradient).max()),
            "scaled": max(float(np.abs(newton).max(initial=0.0)), flat_gradient),
            "min_curvature": float(values[0] / top),
        }
        if out["scaled"] < 1e-10 or iteration == max_steps:
            break
        for shrink in (1.0, 0.5, 0.25, 0.125):
            trial = current - shrink * newton
            f_trial = problem.deviance(trial)
            if f_trial <= f_current:
                break
        else:
            break
        current, f_current = trial, f_trial
    return {"theta": current, "deviance": f_current, **out}


def _escape_saddle(problem: Problem, theta: np.ndarray) -> np.ndarray | None:
    """A lower-deviance point along the most negative curvature at ``theta``, or None."""
    ev = problem.evaluation(theta)
    if ev.gradient is None:
        return None
    hess = problem.hessian_at(theta, ev.gradient)
    if not np.isfinite(hess).all():
        return None
    values, vectors = np.linalg.eigh(hess)
    if values[0] >= 0:
        return None
    best, best_dev = None, ev.deviance - 1e-10 * max(1.0, abs(ev.deviance))
    scale = max(1.0, float(np.linalg.norm(theta)))
    for size in (1e-3, 1e-2, 0.1, 0.3, 1.0):
        for sign in (1.0, -1.0):
            trial = theta + sign * size * scale * vectors[:, 0]
            dev = problem.deviance(trial)
            if dev < best_dev:
                best, best_dev = trial, dev
    return best


def minimise_from(
    problem: Problem, start: str, x0: np.ndarray, optimisers: Sequence[str] = OPTIMISERS
) -> Candidate:
    """Run the optimiser chain from ``x0`` until one meets the convergence check."""
    log: list[str] = []
    best = Candidate(
        start,
        np.asarray(x0, float),
        problem.deviance(np.asarray(x0, float)),
        False,
        np.inf,
        np.inf,
        np.nan,
        "none",
        log,
    )
    for name in optimisers:
        run = _runner(name, problem)
        x = best.theta
        for _ in range(MAX_SADDLE_RESTARTS + 1):
            try:
                res = run(x)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                log.append(f"{name} raised {type(exc).__name__}: {exc}")
                break
            polished = newton_polish(problem, np.asarray(res.x, float))
            converged = bool(
                np.isfinite(polished["deviance"])
                and polished["scaled"] < SCALED_GRADIENT_TOLERANCE
                and polished["min_curvature"] >= -NEGATIVE_CURVATURE_TOLERANCE
            )
            candidate = Candidate(
                start,
                polished["theta"],
                polished["deviance"],
                converged,
                polished["grad_norm"],
                polished["scaled"],
                polished["min_curvature"],
                name if converged else "none",
                log,
            )
            if converged or not np.isfinite(best.deviance) or candidate.deviance < best.deviance:
                best = candidate
            if converged:
                return best
            escape = _escape_saddle(problem, candidate.theta)
            if escape is None:
                log.append(
                    f"{name} did not converge (deviance {candidate.deviance:.6g}, scaled "
                    f"gradient {candidate.scaled_gradient:.3g}, message: "
                    f"{getattr(res, 'message', '')})"
                )
                break
            log.append(
                f"{name} stopped at a saddle point (deviance {candidate.deviance:.6g}); "
                "restarted downhill"
            )
            x = escape
    return best


def nested_start(problem: Problem, s: GroupStatistics) -> tuple[np.ndarray, float] | None:
    """Optimum of the model without the last random effect, padded with zeros (whitened scale).

    Returns the start and the nested model's deviance (a bound the full model must beat:
    the padded point gives the full model exactly that deviance), or None for q = 1.
    """
    q = problem.q
    if q < 2:
        return None
    sub = dataclasses.replace(s, ztz=s.ztz[: q - 1, : q - 1], ztxy=s.ztxy[: q - 1])
    sub_problem = whitened_problem(sub, problem.reml)
    fit = minimise_from(sub_problem, "nested", moment_start(sub_problem))
    lam = np.zeros((q, q))
    lam[: q - 1, : q - 1] = theta_to_lambda(sub_problem.to_original(fit.theta), q - 1)
    rows, cols = theta_layout(q)
    padded = problem.to_whitened(lam[rows, cols])
    # The padded point is stationary in the new column (its gradient there is 0): start
    # just inside, with a small variance for the added effect.
    padded[(rows == cols) & (np.abs(padded) < 1e-2)] = 0.1
    return padded, fit.deviance
