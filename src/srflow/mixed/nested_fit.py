"""Fitting and certifying a mixed model with participants nested in an upper level (sites).

The deviance is :func:`srflow.mixed.nested.nested_deviance`; this module runs the optimiser
chain of :mod:`srflow.mixed.optimise` from several starts, certifies the best point as
:mod:`srflow.mixed.certify` does, and assembles an :class:`srflow.mixed.engine.LmmFit` with
the site level in its ``upper_*`` fields. The starts are the identity, the one-level
optimum with a small site SD, and a moment-based site SD; the bounds are the model without
random effects (OLS) and the one-level model without the site intercept (the point
``t = 0`` of this model), whose log-likelihood the nested fit must reach.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from srflow.errors import ModelError
from srflow.mixed.certify import CertifiedOptimum, certify
from srflow.mixed.engine import (
    CORRELATION_BOUND,
    SINGULAR_TOLERANCE,
    LmmFit,
    _fit_warnings,
    fit_lmm,
    random_effect_moments,
    theta_layout,
)
from srflow.mixed.nested import (
    NestedStatistics,
    identity_theta,
    nested_beta_covariance,
    nested_deviance,
    nested_pieces,
    nested_problem,
    nested_statistics,
    nested_varpar_deviance,
)
from srflow.mixed.optimise import minimise_from, moment_start
from srflow.mixed.satterthwaite import Satterthwaite
from srflow.mixed.statistics import batched_forward_solve, left_multiply, single_threaded_blas

#: The one-level optimum is started with this site ``t`` (t = 0 is a stationary point).
SITE_START = 0.1


def _site_moment(ns: NestedStatistics, one_level: LmmFit) -> float:
    """A start for ``t``: spread of the sites' mean one-level residuals relative to sigma."""
    s = ns.groups
    p = s.xtx.shape[0]
    resid_sum = ns.ones_xy[p] - ns.ones_xy[:p].T @ one_level.beta  # per participant
    per_site_sum = ns.per_site(resid_sum)
    per_site_n = ns.per_site(s.counts)
    means = per_site_sum / per_site_n
    spread = float(np.var(means, ddof=1)) if means.size > 1 else 0.0
    return math.sqrt(max(spread / one_level.sigma**2, 0.01))


def certified_nested_optimum(
    ns: NestedStatistics, reml: bool, one_level: LmmFit
) -> CertifiedOptimum:
    """Minimise the nested deviance from several starts and certify the best point."""
    problem = nested_problem(ns, reml)
    q = problem.q
    rows, cols = theta_layout(q)
    one_level_w = problem.base.to_whitened(one_level.theta)
    moments = moment_start(problem.base)
    candidates = [
        minimise_from(problem, "identity", identity_theta(q, 1.0)),
        minimise_from(problem, "one-level optimum", np.append(one_level_w, SITE_START)),
        minimise_from(problem, "moments", np.append(moments, _site_moment(ns, one_level))),
    ]
    bounds = [
        (
            "model without random effects (OLS)",
            nested_deviance(np.zeros(rows.size + 1), ns, reml),
        ),
        (
            "model without the site intercept",
            nested_deviance(np.append(one_level.theta, 0.0), ns, reml),
        ),
    ]
    return certify(problem, candidates, bounds, lambda theta: nested_deviance(theta, ns, reml))


def fit_nested_lmm(
    y: np.ndarray,
    X: np.ndarray,
    Z: np.ndarray,
    groups,
    upper,
    *,
    reml: bool = True,
    x_names: Sequence[str] | None = None,
    z_names: Sequence[str] | None = None,
    upper_name: str = "site",
) -> LmmFit:
    """Fit ``y ~ X + (1 | upper) + (Z | groups)`` by profiled REML or ML, certified.

    Parameters
    ----------
    y, X, Z, groups : array-like
        As :func:`srflow.mixed.engine.fit_lmm`.
    upper : array-like
        Upper-level label of every row (n,); every participant in exactly one.
    reml : bool
    x_names, z_names : sequence of str, optional
    upper_name : str
        Name of the upper level (the config's ``nested_in`` column).

    Returns
    -------
    LmmFit
        With ``upper_*`` set: the site SD, its ``theta`` element, the site labels and
        their conditional modes and SDs.

    Raises
    ------
    ModelError
        As :func:`fit_lmm`, a participant in two sites, or fewer than two sites.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> g = np.repeat(np.arange(120), 4); site = g % 12
    >>> y = rng.normal(0, 2, 12)[site] + rng.normal(0, 1, 120)[g] + rng.normal(0, 1, 480)
    >>> ones = np.ones((480, 1))
    >>> fit = fit_nested_lmm(y, ones, ones, g, site, reml=True)
    >>> fit.certified, fit.theta.size, fit.n_params, bool(1.0 < fit.upper_sd < 3.5)
    (True, 1, 4, True)
    """
    one_level = fit_lmm(y, X, Z, groups, reml=reml, x_names=x_names, z_names=z_names)
    y = np.asarray(y, dtype=float).ravel()
    X = np.asarray(X, dtype=float).reshape(y.size, -1)
    Z = np.asarray(Z, dtype=float).reshape(y.size, -1)
    with single_threaded_blas():
        ns = nested_statistics(y, X, Z, groups, upper)
        if ns.n_sites < 2:
            raise ModelError(
                f"only {ns.n_sites} {upper_name}; a random intercept needs two or more"
            )
        optimum = certified_nested_optimum(ns, reml, one_level)
        return _assemble(one_level, ns, optimum, upper_name)


def _assemble(
    one_level: LmmFit, ns: NestedStatistics, optimum: CertifiedOptimum, upper_name: str
) -> LmmFit:
    full_theta = optimum.theta
    reml = one_level.reml
    s = ns.groups
    n, p, q = s.n_obs, s.xtx.shape[0], s.ztz.shape[0]
    pieces = nested_pieces(full_theta, ns)
    xtvx_inv = np.linalg.inv(pieces.xtvx)
    beta = xtvx_inv @ pieces.xtvy
    pwrss = float(pieces.ytvy - beta @ pieces.xtvy)
    deviance = nested_deviance(full_theta, ns, reml)
    sigma2 = pwrss / (n - p if reml else n)
    lam, t = pieces.lam, float(full_theta[-1])
    cov_re, sd_re, corr_re = random_effect_moments(sigma2, lam)
    beta_cov = sigma2 * xtvx_inv
    beta_cov = 0.5 * (beta_cov + beta_cov.T)
    ranef, ranef_sd, site_ranef, site_sd = _conditional_modes(ns, pieces, beta, t, sigma2)

    rows, cols = theta_layout(q)
    on_boundary = bool(
        (full_theta[:-1][rows == cols] < SINGULAR_TOLERANCE).any()
        or t < SINGULAR_TOLERANCE
        or (np.abs(np.nan_to_num(corr_re[np.triu_indices(q, 1)])) > CORRELATION_BOUND).any()
    )
    best = optimum.best
    n_params = one_level.n_params + 1
    loglik = -0.5 * deviance
    return dataclasses.replace(
        one_level,
        beta=beta,
        beta_se=np.sqrt(np.diag(beta_cov)),
        beta_cov=beta_cov,
        sigma=math.sqrt(sigma2),
        cov_re=cov_re,
        sd_re=sd_re,
        corr_re=corr_re,
        theta=full_theta[:-1],
        loglik=loglik,
        deviance=deviance,
        n_params=n_params,
        aic=-2 * loglik + 2 * n_params,
        bic=-2 * loglik + n_params * math.log(n),
        converged=bool(best.converged),
        singular=on_boundary and optimum.certified,
        gradient_norm=float(best.gradient_norm),
        scaled_gradient=float(best.scaled_gradient),
        optimizer=best.optimizer,
        warnings=_fit_warnings(optimum, on_boundary),
        ranef=ranef,
        ranef_sd=ranef_sd,
        certified=optimum.certified,
        suspect_reason=optimum.reason,
        certificates=optimum.certificates,
        upper_name=upper_name,
        upper_theta=t,
        upper_sd=t * math.sqrt(sigma2),
        upper_labels=ns.site_labels,
        upper_ranef=site_ranef,
        upper_ranef_sd=site_sd,
    )


def _conditional_modes(ns: NestedStatistics, pieces, beta: np.ndarray, t: float, sigma2: float):
    """Conditional modes and SDs of participants' and sites' effects (given beta, as lme4).

    With ``r = y - X beta``: ``a_s = t^2 rho_s / (1 + t^2 c_s)`` (``rho_s`` the site sum of
    ``1'H_i^{-1}r_i``) and ``b_i = Lambda Lambda' (Z_i'H_i^{-1}r_i - w_s g_i rho_s)`` with
    ``g_i = Z_i'H_i^{-1}1``; their conditional covariances follow from the same identity.
    """
    s = ns.groups
    p = s.xtx.shape[0]
    lam = pieces.lam
    k = batched_forward_solve(pieces.chol_m, left_multiply(lam, s.ztz))  # L^{-1} Lambda' Z'Z
    rhs = np.concatenate([s.ztxy, ns.zt1[:, None, :]], axis=1)
    zh = rhs - np.einsum("jig,jmg->img", k, pieces.solved)  # Z_i'H_i^{-1}[X y 1]
    zh_r = zh[:, p] - np.einsum("ipg,p->ig", zh[:, :p], beta)  # (q, G)
    g = zh[:, p + 1]
    one_h_r = pieces.one_h_xy[p] - pieces.one_h_xy[:p].T @ beta  # (G,)
    rho = ns.per_site(one_h_r)
    t2 = t * t
    site_ranef = t2 * rho / (1.0 + t2 * pieces.site_c)
    w = pieces.site_w[ns.site_of_group]  # (G,)
    u = zh_r - w * g * rho[ns.site_of_group]
    dd = lam @ lam.T
    ranef = u.T @ dd
    lam_t = np.repeat(lam.T[:, :, None], s.n_groups, axis=2)
    half = batched_forward_solve(pieces.chol_m, lam_t)
    dg = dd @ g  # (q, G)
    ranef_var = (half**2).sum(axis=0).T + (w * dg**2).T
    site_sd = np.sqrt(sigma2 * t2 / (1.0 + t2 * pieces.site_c))
    return ranef, np.sqrt(sigma2 * ranef_var), site_ranef, site_sd


def nested_satterthwaite(lmm: LmmFit, ns: NestedStatistics) -> Satterthwaite:
    """Satterthwaite's df at a nested fit: Hessian and Jacobian over ``(theta, t, sigma)``."""
    varpar = np.concatenate([lmm.theta, [lmm.upper_theta, lmm.sigma]])
    return Satterthwaite.from_functions(
        lmm,
        lambda v: nested_varpar_deviance(v, ns, lmm.reml),
        lambda v: nested_beta_covariance(v, ns),
        varpar,
    )
