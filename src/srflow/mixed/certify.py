"""Certified optimum of the profiled deviance: several starts and cheap lower bounds.

A fit is *certified* when

* the best of several independent starts (the identity, a moment-based estimate, the
  nested model's optimum padded with zeros, and any start the caller gives, such as a
  smaller model's optimum in a likelihood-ratio test) meets the convergence check there:
  Newton-scaled gradient below tolerance and no negative curvature (not a saddle);
* its log-likelihood is at least that of every model nested in it that was evaluated:
  the model without random effects (OLS, ``theta = 0``) and the model without the last
  random effect; both are points of the larger model's parameter space, so a lower value
  proves the optimiser stopped short;
* the map back from the internal scale reproduces the deviance.

Anything else is reported as *suspect* with the reason; the certificates record what was
checked and the log-likelihood each start and bound reached.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from srflow.mixed.deviance import evaluate, theta_layout
from srflow.mixed.optimise import (
    NEGATIVE_CURVATURE_TOLERANCE,
    Candidate,
    minimise_from,
    moment_start,
    nested_start,
    whitened_problem,
)
from srflow.mixed.statistics import GroupStatistics

#: Deviance slack (2 x log-likelihood units) for "at least as good as" between fits.
DEVIANCE_SLACK = 2e-6
#: Converged starts further apart than this (log-likelihood units) are noted as distinct optima.
DISTINCT_OPTIMA = 1e-3


@dataclasses.dataclass
class CertifiedOptimum:
    """Best ``theta`` (lme4's scale) over all starts, with the verdict and the evidence."""

    theta: np.ndarray
    best: Candidate
    certified: bool
    reason: str | None
    certificates: list[dict]
    log: list[str]


def _loglik(deviance: float) -> float | None:
    return float(-0.5 * deviance) if np.isfinite(deviance) else None


def _pick_best(candidates: list[Candidate]) -> Candidate:
    """Lowest deviance, preferring a converged start unless another is clearly lower."""
    finite = [c for c in candidates if np.isfinite(c.deviance)] or candidates
    lowest = min(finite, key=lambda c: c.deviance)
    converged = [c for c in finite if c.converged]
    if converged:
        best_converged = min(converged, key=lambda c: c.deviance)
        if best_converged.deviance <= lowest.deviance + DEVIANCE_SLACK:
            return best_converged
    return lowest


def certified_optimum(
    s: GroupStatistics, reml: bool, starts: Sequence[tuple[str, np.ndarray]] = ()
) -> CertifiedOptimum:
    """Minimise the profiled deviance from several starts and certify the best point.

    Parameters
    ----------
    s : GroupStatistics
    reml : bool
    starts : sequence of (name, theta)
        Extra starts on lme4's ``theta`` scale (e.g. a nested model's optimum, padded).

    Returns
    -------
    CertifiedOptimum

    Examples
    --------
    >>> from srflow.mixed.statistics import group_statistics
    >>> rng = np.random.default_rng(0)
    >>> groups = np.repeat(np.arange(40), 5)
    >>> y = rng.normal(0, 1, 40)[groups] + rng.normal(0, 1, groups.size)
    >>> ones = np.ones((groups.size, 1))
    >>> opt = certified_optimum(group_statistics(y, ones, ones, groups), reml=True)
    >>> opt.certified, [c["check"] for c in opt.certificates][:2]
    (True, ['start: identity', 'start: moments'])
    >>> bool(opt.certificates[2]["loglik"] < -0.5 * opt.best.deviance)  # OLS is lower
    True
    """
    problem = whitened_problem(s, reml)
    q = problem.q
    rows, cols = theta_layout(q)
    identity = np.where(rows == cols, 1.0, 0.0)
    candidates = [
        minimise_from(problem, "identity", identity),
        minimise_from(problem, "moments", moment_start(problem)),
    ]
    bounds = [
        (
            "model without random effects (OLS)",
            evaluate(np.zeros(rows.size), s, reml, False).deviance,
        )
    ]
    nested = nested_start(problem, s)
    if nested is not None:
        candidates.append(minimise_from(problem, "nested optimum", nested[0]))
        bounds.append(("model without the last random effect", nested[1]))
    for name, theta in starts:
        x0 = problem.to_whitened(theta)
        x0[(rows == cols) & (np.abs(x0) < 1e-2)] = 0.1  # off a zero column (a stationary point)
        candidates.append(minimise_from(problem, name, x0))
        bounds.append((name, evaluate(np.asarray(theta, float), s, reml, False).deviance))

    return certify(
        problem, candidates, bounds, lambda theta: evaluate(theta, s, reml, False).deviance
    )


def certify(
    problem,
    candidates: list[Candidate],
    bounds: list[tuple[str, float]],
    deviance_at: Callable[[np.ndarray], float],
) -> CertifiedOptimum:
    """Pick the best candidate and check it against every bound (any model's problem).

    Parameters
    ----------
    problem : object
        Has ``to_original(theta_internal)`` mapping to lme4's ``theta``.
    candidates : list of Candidate
        The end of each start's optimiser chain.
    bounds : list of (name, deviance)
        Deviances of nested models: points of this model's space the optimum must reach.
    deviance_at : callable
        The deviance at lme4's ``theta`` (to check the map back).

    Returns
    -------
    CertifiedOptimum
    """
    best = _pick_best(candidates)
    theta = problem.to_original(best.theta)
    deviance = deviance_at(theta)
    certificates = [
        {
            "check": f"start: {c.start}",
            "loglik": _loglik(c.deviance),
            "converged": c.converged,
            "optimizer": c.optimizer,
            "scaled_gradient": float(c.scaled_gradient),
        }
        for c in candidates
    ]
    certificates += [
        {
            "check": f"lower bound: {name}",
            "loglik": _loglik(dev),
            "passed": bool(deviance <= dev + DEVIANCE_SLACK),
        }
        for name, dev in bounds
    ]
    certificates.append(
        {
            "check": "gradient and Hessian at the optimum",
            "scaled_gradient": float(best.scaled_gradient),
            "gradient_norm": float(best.gradient_norm),
            "min_relative_curvature": float(best.min_curvature),
            "passed": bool(best.converged),
        }
    )

    reasons = []
    if not best.converged:
        saddle = best.min_curvature < -NEGATIVE_CURVATURE_TOLERANCE
        reasons.append(
            "no start reached a point meeting the convergence check (Newton-scaled "
            f"gradient {best.scaled_gradient:.3g}"
            + (", negative curvature: a saddle" if saddle else "")
            + ")"
        )
    for name, dev in bounds:
        if not deviance <= dev + DEVIANCE_SLACK:
            reasons.append(
                f"the log-likelihood {-0.5 * deviance:.6g} is below that of the "
                f"{name} ({-0.5 * dev:.6g}), which the model contains"
            )
    if not abs(deviance - best.deviance) <= 1e-7 * max(1.0, abs(deviance)):
        reasons.append(
            "the deviance changed when mapping the estimate back to the data's scale "
            f"({best.deviance:.10g} vs {deviance:.10g})"
        )
    log = [f"{c.start}: {entry}" for c in candidates for entry in c.log]
    distinct = [
        c for c in candidates if c.converged and c.deviance > best.deviance + 2 * DISTINCT_OPTIMA
    ]
    if distinct:
        log.append(
            "distinct local optima: "
            + ", ".join(
                f"start {c.start} stopped at log-likelihood {-0.5 * c.deviance:.6g}"
                for c in distinct
            )
            + f"; the best ({-0.5 * best.deviance:.6g}) is kept"
        )
    return CertifiedOptimum(theta, best, not reasons, "; ".join(reasons) or None, certificates, log)
