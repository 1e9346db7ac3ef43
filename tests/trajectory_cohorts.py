"""Simulated cohorts with known trajectory classes, for the trajectory tests and benchmarks.

``growth_mixture_cohort``: four classes with quadratic mean curves in time 0..T-1, a random
intercept (and optionally a random slope) per participant inside each class, shared residual
SD, waves missing completely at random. ``predictor_cohort``: the same with class membership
drawn from a multinomial logit in a standard-normal baseline covariate ``x``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: class mean curves (intercept, linear, quadratic coefficient in time 0..5), shares
CURVES = np.array(
    [
        [6.0, 0.0, 0.0],  # low stable
        [20.0, -3.0, 0.15],  # high falling (recovery)
        [21.0, 0.0, 0.0],  # high stable (chronic)
        [7.0, 2.5, -0.1],  # low rising (delayed)
    ]
)
SHARES = np.array([0.55, 0.17, 0.13, 0.15])


def _long_table(rng, classes, n_waves, intercept_sd, slope_sd, sigma, missing):
    n = classes.shape[0]
    time = np.arange(n_waves, dtype=float)
    coef = CURVES[classes]
    mean = coef[:, :1] + coef[:, 1:2] * time + coef[:, 2:3] * time**2
    effects = rng.normal(0.0, intercept_sd, n)[:, None] + rng.normal(0.0, slope_sd, n)[:, None] * (
        time - time.mean()
    )
    values = mean + effects + rng.normal(0.0, sigma, (n, n_waves))
    keep = rng.random((n, n_waves)) >= missing
    keep[:, 0] = True  # every participant has a baseline wave
    rows, cols = np.nonzero(keep)
    return pd.DataFrame(
        {
            "id": rows,
            "time": time[cols],
            "P": np.round(values[rows, cols], 4),
            "true_class": classes[rows] + 1,
        }
    )


def growth_mixture_cohort(
    n: int = 600,
    n_waves: int = 6,
    intercept_sd: float = 2.0,
    slope_sd: float = 0.0,
    sigma: float = 1.5,
    missing: float = 0.1,
    seed: int = 2026,
) -> pd.DataFrame:
    """Long table ``id, time, P, true_class`` (classes 1..4 as in :data:`CURVES`)."""
    rng = np.random.default_rng(seed)
    classes = rng.choice(4, size=n, p=SHARES)
    return _long_table(rng, classes, n_waves, intercept_sd, slope_sd, sigma, missing)


def predictor_cohort(
    coef: np.ndarray,
    intercepts: np.ndarray,
    n: int = 2000,
    n_waves: int = 5,
    intercept_sd: float = 0.0,
    sigma: float = 4.0,
    missing: float = 0.0,
    seed: int = 7,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long table and a per-participant table ``id, x, true_class``.

    Class membership follows a multinomial logit with class 1 the reference:
    ``log P(c = k) / P(c = 1) = intercepts[k - 2] + coef[k - 2] x`` for k = 2..4.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    eta = np.column_stack(
        [np.zeros(n)] + [a + b * x for a, b in zip(intercepts, coef, strict=True)]
    )
    prob = np.exp(eta - eta.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    classes = (rng.random(n)[:, None] > np.cumsum(prob, axis=1)).sum(axis=1)
    long = _long_table(rng, classes, n_waves, intercept_sd, 0.0, sigma, missing)
    people = pd.DataFrame({"id": np.arange(n), "x": x, "true_class": classes + 1})
    return long, people


def oracle_posterior(
    data,
    truth,
    participant="id",
    time="time",
    outcome="P",
    degree=2,
    n_random=1,
    shared=True,
    n_iter=3000,
):
    """Posteriors of a Gaussian classifier fitted on the true classes (an upper reference).

    The growth mixture likelihood of srflow's engine with the class memberships fixed at the
    truth: class curves, variances and random-intercept covariance estimated by EM over the
    random effects only, then every participant classified by Bayes' rule. Returns the
    posterior (n, K) and the true class codes (0-based), both in sorted participant order.
    """
    from srflow.trajectories.gmm_engine import GmmEngine
    from srflow.trajectories.panel import prepare_panel, sufficient_stats

    panel = prepare_panel(data, participant, time, outcome)
    codes, names = pd.factorize(truth.reindex(panel.participants).to_numpy(), sort=True)
    engine = GmmEngine(sufficient_stats(panel, degree), len(names), shared, n_random, shared)
    tau = np.eye(len(names))[codes][None]
    params = engine.m_step(tau, init=True)
    for _ in range(n_iter):  # EM over the random effects only: memberships stay the truth
        _, _, moments, _ = engine.e_step(params)
        params = engine.m_step(tau, moments)
    _, posterior, _, _ = engine.e_step(params)
    return posterior[0], codes
