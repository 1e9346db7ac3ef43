"""Profile-likelihood confidence intervals for the variance components, as lme4's ``confint``.

lme4 (``confint(method = "profile")``) profiles the *ML* deviance (a REML fit is refitted
by ML first) in the parameters standard deviations, correlations and residual SD, the
fixed effects profiled out. For each parameter the interval is where the profiled
deviance rises by the chi-square(1) quantile above its minimum. lme4 interpolates a
spline through a grid of profile points; here each bound is found by a root finder
(Brent) on the exact profile, each profile point an inner optimisation over the other
variance parameters. Every deviance evaluation is vectorised over participants.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize, special
from threadpoolctl import threadpool_limits

from srflow.mixed.engine import GroupStatistics, LmmFit, theta_layout
from srflow.mixed.varpar import deviance_hessian, varpar_deviance


@dataclasses.dataclass(frozen=True)
class SdCorrLayout:
    """Names and kinds of the profiled parameters, in lme4's order (theta order, then sigma)."""

    q: int

    @property
    def kinds(self) -> list[str]:
        rows, cols = theta_layout(self.q)
        return ["sd" if r == c else "corr" for r, c in zip(rows, cols, strict=True)] + [
            "residual_sd"
        ]

    def from_fit(self, lmm: LmmFit) -> np.ndarray:
        """Parameter vector (sd, corr in theta order, sigma) of a fit; an undefined corr is 0."""
        rows, cols = theta_layout(self.q)
        values = [
            lmm.sd_re[r] if r == c else lmm.corr_re[r, c] for r, c in zip(rows, cols, strict=True)
        ]
        return np.nan_to_num(np.array([*values, lmm.sigma], dtype=float), nan=0.0)

    def to_varpar(self, phi: np.ndarray) -> np.ndarray | None:
        """``(theta, sigma)`` from (sd, corr, sigma), or None if the correlations are not valid."""
        q = self.q
        rows, cols = theta_layout(q)
        sd = np.zeros(q)
        corr = np.eye(q)
        for value, r, c in zip(phi[:-1], rows, cols, strict=True):
            if r == c:
                sd[r] = value
            else:
                corr[r, c] = corr[c, r] = value
        sigma = phi[-1]
        if sigma <= 0 or np.any(sd < 0):
            return None
        chol = np.zeros((q, q))
        for j in range(
            q
        ):  # Cholesky of the correlation matrix that tolerates a zero pivot (|r| = 1)
            pivot = corr[j, j] - chol[j, :j] @ chol[j, :j]
            if pivot < -1e-10:
                return None
            chol[j, j] = math.sqrt(max(pivot, 0.0))
            for i in range(j + 1, q):
                rest = corr[i, j] - chol[i, :j] @ chol[j, :j]
                chol[i, j] = rest / chol[j, j] if chol[j, j] > 0 else 0.0
        lam = (sd / sigma)[:, None] * chol
        return np.append(lam[rows, cols], sigma)


class _Profiler:
    """The ML deviance in (sd, corr, sigma) and its profile along one parameter."""

    def __init__(self, lmm_ml: LmmFit, s: GroupStatistics):
        self.layout = SdCorrLayout(lmm_ml.cov_re.shape[0])
        self.s = s
        self._start(self.layout.from_fit(lmm_ml), self.layout.kinds)

    def _start(self, estimate: np.ndarray, kinds: list[str]) -> None:
        """Bounds and scales of the parameters, and the polished minimum to profile from."""
        self.kinds = kinds
        self.estimate = estimate
        self.minimum = self.deviance(self.estimate)
        self.scale = np.where(np.abs(self.estimate) > 1e-8, np.abs(self.estimate), 1.0)
        self.bounds = [(0.0, None) if k != "corr" else (-1.0, 1.0) for k in kinds]
        self.bounds[-1] = (1e-10 * self.estimate[-1], None)
        self.improvement = self._polish()

    def _rms_z(self) -> np.ndarray:
        """Root mean square of each SD's design column (the scale an SD start is set by)."""
        return np.sqrt(np.diagonal(self.s.ztz.sum(axis=2)) / self.s.n_obs)

    def _polish(self) -> float:
        """Re-minimise over every parameter from the fit; a profile needs the true minimum.

        Returns by how much the deviance went down (0 when the fit was already optimal).
        """
        bounds = [
            tuple(None if b is None else b / sc for b in bd)
            for bd, sc in zip(self.bounds, self.scale, strict=True)
        ]
        # A zero SD leaves its correlations without gradient: also start with every SD away from 0.
        rms_z = self._rms_z()
        spread = self.estimate.copy()
        is_sd = np.array([k == "sd" for k in self.kinds])
        sd_index = np.flatnonzero(is_sd)
        spread[sd_index] = np.maximum(spread[sd_index], 0.25 * self.estimate[-1] / rms_z)
        gain = 0.0
        for start in (self.estimate.copy(), spread):
            res = optimize.minimize(
                lambda x: self._finite(x * self.scale),
                start / self.scale,
                method="L-BFGS-B",
                bounds=bounds,
                options={"ftol": 1e-14, "gtol": 1e-8, "maxiter": 1000},
            )
            if self.minimum - float(res.fun) > 1e-7:
                gain += self.minimum - float(res.fun)
                self.estimate, self.minimum = res.x * self.scale, float(res.fun)
        return gain

    def _finite(self, phi: np.ndarray) -> float:
        dev = self.deviance(phi)
        return dev if math.isfinite(dev) else 1e300

    def deviance(self, phi: np.ndarray) -> float:
        varpar = self.layout.to_varpar(np.asarray(phi, dtype=float))
        if varpar is None:
            return math.inf
        return varpar_deviance(varpar, self.s, False)

    def profile(self, index: int, value: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        """Minimum of the deviance with parameter ``index`` fixed at ``value``."""
        free = [j for j in range(self.estimate.size) if j != index]
        scale = self.scale[free]

        def objective(x: np.ndarray) -> float:
            phi = np.empty(self.estimate.size)
            phi[index] = value
            phi[free] = x * scale
            dev = self.deviance(phi)
            return dev if math.isfinite(dev) else 1e300

        bounds = [
            tuple(None if b is None else b / sc for b in self.bounds[j])
            for j, sc in zip(free, scale, strict=True)
        ]
        x0 = np.clip(
            start[free] / scale,
            [b[0] if b[0] is not None else -np.inf for b in bounds],
            [b[1] if b[1] is not None else np.inf for b in bounds],
        )
        if not free:
            return objective(np.empty(0)), start
        # The deviance is quadratic at the inner optimum: a parameter error of 1e-4 costs
        # ~1e-8 in deviance, far below what moves a bound by 0.01% of its value.
        res = optimize.minimize(
            objective,
            x0,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 1e-13, "gtol": 1e-7, "maxiter": 500},
        )
        best = start.copy()
        best[index] = value
        best[free] = res.x * scale
        return float(res.fun), best


def _bound(profiler: _Profiler, index: int, direction: float, step: float, cutoff: float) -> float:
    """One end of the interval of parameter ``index`` (NaN when the profile cannot be followed)."""
    estimate = profiler.estimate[index]
    low, high = profiler.bounds[index]
    limit = high if direction > 0 else low
    if limit is not None:
        step = min(step, 0.5 * abs(limit - estimate)) if limit != estimate else step
    visited: list[tuple[float, np.ndarray]] = [(estimate, profiler.estimate.copy())]

    def excess(value: float) -> float:
        # warm start from the nearest point already profiled (never from a failed one)
        start = min(visited, key=lambda item: abs(item[0] - value))[1]
        dev, phi = profiler.profile(index, value, start)
        if dev >= 1e299:
            dev, phi = profiler.profile(index, value, profiler.estimate.copy())
        if dev < 1e299:
            visited.append((value, phi))
        return dev - profiler.minimum - cutoff

    inner, outer = estimate, estimate
    for _ in range(40):  # walk outwards until the deviance has risen by the cutoff
        candidate = outer + direction * step
        if limit is not None and (candidate - limit) * direction >= 0:
            candidate = limit
        if excess(candidate) > 0:
            outer = candidate
            break
        inner = outer = candidate
        if candidate == limit:
            return float(limit)
        step *= 2.0
    else:
        return math.nan
    scale = max(abs(estimate), abs(outer), 1e-12)
    try:
        return float(
            optimize.brentq(
                excess, min(inner, outer), max(inner, outer), xtol=1e-7 * scale, rtol=1e-7
            )
        )
    except ValueError:  # the inner optimum jumped between branches: no reliable bound
        return math.nan


def profile_intervals(lmm_ml: LmmFit, s: GroupStatistics, level: float = 0.95) -> dict:
    """Profile-likelihood intervals of every SD, correlation and the residual SD.

    Parameters
    ----------
    lmm_ml : LmmFit
        The model fitted by **ML** (lme4 refits REML models by ML to profile them).
    s : GroupStatistics
        Its per-group cross-products.
    level : float
        Coverage, default 0.95.

    Returns
    -------
    dict
        ``sd`` (name -> [low, high]), ``corr`` ("a:b" -> [low, high]), ``residual_sd``
        ([low, high]), ``method`` and ``ml_deviance_improved_by`` (how far the ML
        deviance fell when re-minimised before profiling: 0 for a certified ML optimum).
        A bound that cannot be found is None; a correlation bound at +/-1 or an SD bound
        at 0 means the profile stays below the cutoff up to that limit.
    """
    with threadpool_limits(limits=1, user_api="blas"):  # tiny products: threads only contend
        return _profile_intervals(lmm_ml, s, level)


def _profile_intervals(lmm_ml: LmmFit, s: GroupStatistics, level: float) -> dict:
    profiler = _Profiler(lmm_ml, s)
    intervals = all_intervals(profiler, level)
    rows, cols = theta_layout(profiler.layout.q)
    names = lmm_ml.z_names
    out: dict = {"sd": {}, "corr": {}, "residual_sd": intervals[-1]}
    for pair, r, c in zip(intervals[:-1], rows, cols, strict=True):
        if r == c:
            out["sd"][names[r]] = pair
        else:
            out["corr"][f"{names[c]}:{names[r]}"] = pair
    out["method"] = f"profile likelihood ({level:.0%}), ML deviance as lme4's confint"
    out["ml_deviance_improved_by"] = profiler.improvement
    return out


def all_intervals(profiler: _Profiler, level: float) -> list[list[float | None]]:
    """[low, high] of every parameter of ``profiler`` (None where a bound is not found)."""
    cutoff = float(special.chdtri(1, 1.0 - level))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        hess = deviance_hessian(profiler.deviance, profiler.estimate)
        finite = np.isfinite(hess).all()
        se = (
            np.sqrt(np.abs(np.diag(np.linalg.pinv(hess))) * 2.0)
            if finite
            else np.full(len(hess), np.nan)
        )
    intervals = []
    for index in range(profiler.estimate.size):
        step = (
            se[index] if np.isfinite(se[index]) and se[index] > 0 else 0.1 * profiler.scale[index]
        )
        pair = [_bound(profiler, index, direction, step, cutoff) for direction in (-1.0, 1.0)]
        intervals.append([None if not math.isfinite(v) else v for v in pair])
    return intervals
