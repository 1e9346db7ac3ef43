"""EM for latent class growth analysis on sufficient statistics, and the EM driver for all starts.

The parameters of every start advance together: arrays carry a leading axis ``S`` (starts),
so the short runs of emEM and the final runs are a few matrix products per iteration, with no
Python loop over participants or over starts.

LCGA (no random effects) works in ``(S, K, n)`` layout: one matrix product of the coefficient
vectors ``(1, -2 beta, beta beta')`` with the stacked statistics ``(y'y, X'y, X'X)`` gives every
participant's residual sum of squares under every class, and one more gives every weighted
M-step moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from srflow.trajectories.panel import SufficientStats

if TYPE_CHECKING:
    from srflow.trajectories.gmm_engine import GmmEngine

__all__ = ["LOG_2PI", "MIN_WEIGHT", "LcgaEngine", "MixtureParams", "run_em"]

LOG_2PI = math.log(2.0 * math.pi)
#: smallest mixing proportion kept, so log(pi_k) stays finite for an emptied class
MIN_WEIGHT = 1e-12
#: residual variance floor, relative to the outcome's variance (stops sigma -> 0 blow-ups)
SIGMA2_FLOOR_REL = 1e-6


@dataclass
class MixtureParams:
    """Parameters of S starts: weights (S, K), beta (S, K, p), sigma2 (S, K), d (S, K, q, q)."""

    weights: np.ndarray
    beta: np.ndarray
    sigma2: np.ndarray
    d: np.ndarray | None = None  # random-effect covariance (GMM) or None (LCGA)

    def take(self, index: np.ndarray) -> MixtureParams:
        """The starts at ``index`` (a copy)."""
        return MixtureParams(
            self.weights[index],
            self.beta[index],
            self.sigma2[index],
            None if self.d is None else self.d[index],
        )

    def put(self, index: np.ndarray, other: MixtureParams) -> None:
        """Overwrite the starts at ``index`` with ``other``."""
        self.weights[index] = other.weights
        self.beta[index] = other.beta
        self.sigma2[index] = other.sigma2
        if self.d is not None:
            self.d[index] = other.d

    def reorder_classes(self, order: np.ndarray) -> MixtureParams:
        """The same starts with the classes permuted by ``order``."""
        return MixtureParams(
            self.weights[:, order],
            self.beta[:, order],
            self.sigma2[:, order],
            None if self.d is None else self.d[:, order],
        )


class LcgaEngine:
    """E and M steps of LCGA (class polynomials, no random effects) on sufficient statistics.

    Posteriors are laid out ``(S, K, n)``.
    """

    #: posteriors are (S, K, n) rather than (S, n, K)
    class_major = True
    n_random = 0

    def __init__(self, stats: SufficientStats, n_classes: int, shared_variance: bool):
        self.stats = stats
        self.k = n_classes
        self.shared = shared_variance
        p = stats.n_basis
        self.p = p
        xx_flat = stats.xx.reshape(-1, p * p)
        self.n_total = float(stats.n_obs.sum())
        self.sigma2_floor = SIGMA2_FLOOR_REL * max(stats.outcome_var, 1e-300)
        # a tiny ridge keeps an emptied class's normal equations solvable
        self.ridge = 1e-10 * float(np.trace(stats.xx.sum(0))) / p * np.eye(p)
        self.gram = np.concatenate(
            (stats.yy[None, :], stats.xy.T, xx_flat.T), axis=0
        )  # (1 + p + p^2, n)
        self.moments = np.ascontiguousarray(
            np.concatenate((xx_flat, stats.xy, stats.yy[:, None], stats.n_obs[:, None]), axis=1)
        )  # (n, p^2 + p + 2)

    def e_step(self, params: MixtureParams):
        """Log-likelihood per start (S,), posteriors (S, K, n), None, per-participant (S, n)."""
        beta = params.beta
        n_starts = beta.shape[0]
        coeffs = np.concatenate(
            (
                np.ones((n_starts, self.k, 1)),
                -2.0 * beta,
                (beta[..., :, None] * beta[..., None, :]).reshape(n_starts, self.k, -1),
            ),
            axis=2,
        )
        work = np.matmul(coeffs, self.gram)  # (S, K, n) residual sums of squares
        np.maximum(work, 0.0, out=work)
        work *= (-0.5 / params.sigma2)[..., None]
        work += (-0.5 * (LOG_2PI + np.log(params.sigma2)))[..., None] * self.stats.n_obs
        work += np.log(params.weights)[..., None]
        top = work.max(axis=1, keepdims=True)
        work -= top
        np.exp(work, out=work)
        total = work.sum(axis=1, keepdims=True)
        work /= total
        loglik_i = top[:, 0, :] + np.log(total[:, 0, :])
        return loglik_i.sum(axis=1), work, None, loglik_i

    def m_step(self, posterior: np.ndarray, moments=None, init: bool = False) -> MixtureParams:
        """Weighted least squares per class and start, from posteriors (S, K, n)."""
        n_starts, k, n = posterior.shape
        p = self.p
        mom = np.matmul(posterior, self.moments)  # (S, K, p^2 + p + 2)
        lhs = mom[..., : p * p].reshape(n_starts, k, p, p)
        rhs = mom[..., p * p : p * p + p]
        weighted_yy = mom[..., -2]
        weighted_n = mom[..., -1]
        class_n = posterior.sum(axis=2)
        weights = np.maximum(class_n / n, MIN_WEIGHT)
        weights = weights / weights.sum(axis=1, keepdims=True)
        beta = np.linalg.solve(lhs + self.ridge, rhs[..., None])[..., 0]
        # sum_i tau_ik ||y_i - X_i beta_k||^2 from the weighted moments
        weighted_rss = (
            weighted_yy
            - 2.0 * (beta * rhs).sum(axis=-1)
            + np.einsum("skp,skpq,skq->sk", beta, lhs, beta)
        )
        weighted_rss = np.maximum(weighted_rss, 0.0)
        if self.shared:
            pooled = weighted_rss.sum(axis=1) / self.n_total
            sigma2 = np.repeat(pooled[:, None], k, axis=1)
        else:
            sigma2 = weighted_rss / np.maximum(weighted_n, 1e-300)
        sigma2 = np.maximum(sigma2, self.sigma2_floor)
        return MixtureParams(weights=weights, beta=beta, sigma2=sigma2, d=None)


def run_em(
    engine: LcgaEngine | GmmEngine,
    params: MixtureParams,
    max_iter: int,
    tol: float,
) -> tuple[MixtureParams, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run EM on all starts until each converges or ``max_iter`` iterations pass.

    Converged starts leave the batch, so late iterations only touch the slow ones.
    Returns parameters, log-likelihood (S,), iterations (S,), converged (S,) and
    the largest log-likelihood decrease seen (S,), which should be ~0 for EM.
    """
    n_starts = params.weights.shape[0]
    loglik = np.full(n_starts, -np.inf)
    n_iter = np.zeros(n_starts, dtype=int)
    converged = np.zeros(n_starts, dtype=bool)
    worst_drop = np.zeros(n_starts)
    active = np.arange(n_starts)
    current = params
    for _ in range(max_iter + 1):
        sub = current.take(active)
        ll_new, posterior, moments, _ = engine.e_step(sub)
        previous = loglik[active]
        change = ll_new - previous
        drop = np.where(np.isfinite(change), -change, 0)
        worst_drop[active] = np.maximum(worst_drop[active], drop)
        loglik[active] = ll_new
        done = np.abs(change) <= tol * (1.0 + np.abs(ll_new))
        converged[active[done]] = True
        out_of_budget = n_iter[active] >= max_iter
        keep = ~(done | out_of_budget)
        if not keep.any():
            break
        kept_moments = None if moments is None else tuple(a[keep] for a in moments)
        step = engine.m_step(posterior[keep], kept_moments)
        active = active[keep]
        n_iter[active] += 1
        current.put(active, step)
    return current, loglik, n_iter, converged, worst_drop
