"""SQUAREM acceleration of EM for the growth mixture model, vectorised over starts.

EM for variance components is linear in its convergence and crawls when a variance nears zero
or classes overlap. SQUAREM (Varadhan and Roland 2008, scheme S3) takes two EM steps
``theta_1 = F(theta_0)``, ``theta_2 = F(theta_1)``, extrapolates along ``r = theta_1 - theta_0``
and ``v = theta_2 - 2 theta_1 + theta_0`` with the step length ``alpha = -|r| / |v|`` (at most
-1), and stabilises with one EM step from the extrapolated point. The parameters are
extrapolated on an unconstrained scale (log weights, log residual variances, log-Cholesky
random-effect covariances), so every extrapolated point is a valid model. A cycle is kept only
when its log-likelihood is at least that of the first EM step; otherwise the plain EM point
``theta_2`` is used, so the log-likelihood never decreases.
"""

from __future__ import annotations

import numpy as np

from srflow.trajectories.em import MIN_WEIGHT, MixtureParams
from srflow.trajectories.gmm_engine import GmmEngine

__all__ = ["run_squarem"]


def _to_theta(params: MixtureParams) -> np.ndarray:
    """Unconstrained parameter vector per start, shape (S, n_theta)."""
    s = params.weights.shape[0]
    d = params.d
    parts = [np.log(params.weights), params.beta.reshape(s, -1), np.log(params.sigma2)]
    if d.shape[-1] == 1:
        parts.append(0.5 * np.log(d[..., 0, 0]))
    else:
        a = np.sqrt(d[..., 0, 0])
        b = d[..., 1, 0] / a
        c = np.sqrt(np.maximum(d[..., 1, 1] - b * b, 1e-300))
        parts += [np.log(a), b, np.log(c)]
    return np.concatenate(parts, axis=1)


def _from_theta(theta: np.ndarray, like: MixtureParams, engine: GmmEngine) -> MixtureParams:
    """Inverse of :func:`_to_theta` (weights renormalised, covariances floored)."""
    s, k = like.weights.shape
    p, q = like.beta.shape[2], like.d.shape[-1]
    log_w = theta[:, :k]
    weights = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    weights = np.maximum(weights / weights.sum(axis=1, keepdims=True), MIN_WEIGHT)
    weights = weights / weights.sum(axis=1, keepdims=True)
    at = k
    beta = theta[:, at : at + k * p].reshape(s, k, p)
    at += k * p
    sigma2 = np.maximum(np.exp(np.clip(theta[:, at : at + k], -700, 700)), engine.sigma2_floor)
    at += k
    d = np.zeros((s, k, q, q))
    if q == 1:
        d[..., 0, 0] = np.exp(2.0 * np.clip(theta[:, at : at + k], -350, 350))
    else:
        a = np.exp(np.clip(theta[:, at : at + k], -350, 350))
        b = theta[:, at + k : at + 2 * k]
        c = np.exp(np.clip(theta[:, at + 2 * k : at + 3 * k], -350, 350))
        d[..., 0, 0] = a * a
        d[..., 0, 1] = d[..., 1, 0] = a * b
        d[..., 1, 1] = b * b + c * c
    return MixtureParams(weights, beta, sigma2, engine.floor_d(d))


def _em_map(engine: GmmEngine, params: MixtureParams):
    """One EM step: (log-likelihood at params, params after the step)."""
    ll, posterior, moments, _ = engine.e_step(params)
    return ll, engine.m_step(posterior, moments)


def _squarem_cycle(engine: GmmEngine, params: MixtureParams):
    """One SQUAREM cycle on every start: (log-likelihood before, new params, its loglik)."""
    ll0, p1 = _em_map(engine, params)
    ll1, p2 = _em_map(engine, p1)
    t0, t1, t2 = _to_theta(params), _to_theta(p1), _to_theta(p2)
    r = t1 - t0
    v = t2 - t1 - r
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = -np.sqrt((r * r).sum(axis=1)) / np.sqrt((v * v).sum(axis=1))
    alpha = np.where(np.isfinite(alpha), np.minimum(alpha, -1.0), -1.0)[:, None]
    extrapolated = _from_theta(t0 - 2.0 * alpha * r + alpha * alpha * v, params, engine)
    _, stabilised = _em_map(engine, extrapolated)
    ll_new, *_ = engine.e_step(stabilised)
    ll2, *_ = engine.e_step(p2)
    accept = np.isfinite(ll_new) & (ll_new >= ll2)
    chosen = MixtureParams(
        np.where(accept[:, None], stabilised.weights, p2.weights),
        np.where(accept[:, None, None], stabilised.beta, p2.beta),
        np.where(accept[:, None], stabilised.sigma2, p2.sigma2),
        np.where(accept[:, None, None, None], stabilised.d, p2.d),
    )
    return ll0, chosen, np.where(accept, ll_new, ll2)


def run_squarem(engine: GmmEngine, params: MixtureParams, max_iter: int, tol: float):
    """Run SQUAREM-accelerated EM on all starts until each converges.

    Parameters
    ----------
    engine : GmmEngine
    params : MixtureParams
        Starting values of S starts.
    max_iter : int
        Budget in EM-step equivalents (a cycle costs three EM steps).
    tol : float
        Convergence: ``|delta loglik| <= tol (1 + |loglik|)`` over a cycle.

    Returns
    -------
    params, loglik (S,), n_iter (S,, EM-step equivalents), converged (S,), worst_drop (S,)
        As :func:`srflow.trajectories.em.run_em`; ``worst_drop`` is the largest decrease of
        the log-likelihood over a cycle (0 by construction).
    """
    n_starts = params.weights.shape[0]
    loglik = np.full(n_starts, -np.inf)
    n_iter = np.zeros(n_starts, dtype=int)
    converged = np.zeros(n_starts, dtype=bool)
    worst_drop = np.zeros(n_starts)
    active = np.arange(n_starts)
    current = params
    while active.size:
        before, step, after = _squarem_cycle(engine, current.take(active))
        n_iter[active] += 3
        drop = np.where(np.isfinite(after - before), before - after, 0.0)
        worst_drop[active] = np.maximum(worst_drop[active], drop)
        current.put(active, step)
        loglik[active] = after
        done = np.abs(after - before) <= tol * (1.0 + np.abs(after))
        converged[active[done]] = True
        active = active[~(done | (n_iter[active] >= max_iter))]
    return current, loglik, n_iter, converged, worst_drop
