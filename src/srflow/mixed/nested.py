"""The profiled (RE)ML deviance when participants are nested in an upper level (sites).

Model, for participant ``i`` in site ``s``::

    y_i = X_i beta + Z_i b_i + 1 a_s + e_i,  b_i ~ N(0, sigma^2 Lambda Lambda'),
    a_s ~ N(0, sigma^2 t^2),  e_i ~ N(0, sigma^2 I)

which is lme4's ``y ~ ... + (1 | site) + (1 + E | participant)`` with participants' ids
unique across sites. lme4 orders ``theta`` by decreasing number of levels, so the
participant block comes first and the site's relative SD ``t = tau_site / sigma`` last;
``theta`` here is in that order.

With ``H = V / sigma^2``, a site's block is ``D_s + t^2 1 1'`` with
``D_s = blockdiag_i(I + Z_i Lambda Lambda' Z_i')``. The Woodbury identity per participant
(as in :mod:`srflow.mixed.deviance`) gives ``1'H_i^{-1}1`` and ``1'H_i^{-1}[X_i y_i]`` from
the per-participant cross-products plus two more (``Z_i'1`` and ``1'[X_i y_i]``); summed
per site, a rank-one correction per site gives::

    a' H_s^{-1} b = sum_i a_i' H_i^{-1} b_i - w_s (sum_i 1'H_i^{-1} a_i)(sum_i 1'H_i^{-1} b_i)
    w_s = t^2 / (1 + t^2 c_s),  c_s = sum_i 1'H_i^{-1} 1
    log|H| = sum_i log|M_i| + sum_s log(1 + t^2 c_s)

Everything is vectorised over participants and sites (bincount sums per site).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from srflow.errors import ModelError
from srflow.mixed.deviance import theta_layout, theta_to_lambda
from srflow.mixed.optimise import Problem, whitened_problem
from srflow.mixed.statistics import (
    GroupStatistics,
    batched_cholesky,
    batched_forward_solve,
    group_statistics,
    left_multiply,
    sum_crossprod,
)
from srflow.mixed.varpar import deviance_hessian

_LOG_2PI = math.log(2.0 * math.pi)


@dataclasses.dataclass(frozen=True)
class NestedStatistics:
    """Per-participant cross-products plus what the site level needs.

    Attributes
    ----------
    groups : GroupStatistics
        Participants' cross-products (group axis last).
    zt1 : ndarray
        ``Z_i'1`` (q, G).
    ones_xy : ndarray
        ``1'[X_i y_i]`` (p + 1, G).
    site_of_group : ndarray
        Site index of every participant (G,).
    site_labels : ndarray
        Site labels in sorted order.
    """

    groups: GroupStatistics
    zt1: np.ndarray
    ones_xy: np.ndarray
    site_of_group: np.ndarray
    site_labels: np.ndarray

    @property
    def n_sites(self) -> int:
        return int(self.site_labels.shape[0])

    def per_site(self, values: np.ndarray) -> np.ndarray:
        """Sums over the participants of each site: (..., G) -> (..., S)."""
        flat = np.atleast_2d(values)
        out = np.stack(
            [np.bincount(self.site_of_group, weights=row, minlength=self.n_sites) for row in flat]
        )
        return out.reshape(*values.shape[:-1], self.n_sites)


def sites_of_participants(groups: np.ndarray, upper: np.ndarray) -> tuple[dict, np.ndarray]:
    """Participants found in more than one site (label -> its sites) and the site labels.

    Examples
    --------
    >>> bad, labels = sites_of_participants(np.array(["a", "a", "b"]), np.array(["x", "y", "x"]))
    >>> bad, labels.tolist()
    ({'a': ['x', 'y']}, ['x', 'y'])
    """
    frame = pd.DataFrame({"g": np.asarray(groups), "s": np.asarray(upper)}).drop_duplicates()
    counts = frame.groupby("g", sort=True)["s"].nunique()
    bad = {
        label: sorted(map(str, frame.loc[frame["g"] == label, "s"]))
        for label in counts.index[counts > 1]
    }
    return bad, np.asarray(sorted(pd.unique(frame["s"])))


def nested_statistics(
    y: np.ndarray, X: np.ndarray, Z: np.ndarray, groups, upper
) -> NestedStatistics:
    """Reduce the data to per-participant cross-products and participants' sites.

    Raises
    ------
    ModelError
        A participant occurs in more than one site.
    """
    s = group_statistics(y, X, Z, groups)
    upper = np.asarray(upper)
    bad, _ = sites_of_participants(np.asarray(groups), upper)
    if bad:
        label, sites = next(iter(bad.items()))
        raise ModelError(
            f"participant {label} occurs in sites {', '.join(sites)} ({len(bad)} participant(s) "
            "in more than one site); participants must be nested in one site"
        )
    site_codes, site_labels = pd.factorize(pd.Series(upper), sort=True)
    site_of_group = np.zeros(s.n_groups, dtype=np.intp)
    site_of_group[s.codes] = site_codes  # every row of a participant has the same site
    xy = np.column_stack([X, y])
    per_group = [np.bincount(s.codes, weights=col, minlength=s.n_groups) for col in Z.T]
    ones_xy = [np.bincount(s.codes, weights=col, minlength=s.n_groups) for col in xy.T]
    return NestedStatistics(
        groups=s,
        zt1=np.stack(per_group),
        ones_xy=np.stack(ones_xy),
        site_of_group=site_of_group,
        site_labels=np.asarray(site_labels),
    )


@dataclasses.dataclass
class NestedPieces:
    """The likelihood's pieces at one ``theta`` (participant block, then site)."""

    logdet: float  # log|H|
    xtvx: np.ndarray  # X'H^{-1}X
    xtvy: np.ndarray
    ytvy: float
    lam: np.ndarray
    chol_m: np.ndarray  # (q, q, G)
    solved: np.ndarray  # L^{-1} Lambda' Z'[X y 1], (q, p + 2, G)
    one_h_xy: np.ndarray  # 1'H_i^{-1}[X_i y_i], (p + 1, G)
    site_c: np.ndarray  # c_s, (S,)
    site_r: np.ndarray  # sum_i 1'H_i^{-1}[X_i y_i] per site, (p + 1, S)
    site_w: np.ndarray  # w_s, (S,)


def nested_pieces(theta: np.ndarray, ns: NestedStatistics) -> NestedPieces:
    """Evaluate :class:`NestedPieces` at ``theta`` (the last element is the site's ``t``)."""
    s = ns.groups
    q, p = s.ztz.shape[0], s.xtx.shape[0]
    theta = np.asarray(theta, dtype=float)
    lam = theta_to_lambda(theta[:-1], q)
    t2 = float(theta[-1]) ** 2
    lam_t_ztz = left_multiply(lam, s.ztz)
    m = left_multiply(lam, lam_t_ztz.transpose(1, 0, 2).copy())
    for j in range(q):
        m[j, j] += 1.0
    chol_m = batched_cholesky(m)
    logdet_m = 2.0 * sum(np.log(chol_m[j, j]).sum() for j in range(q))
    rhs = np.concatenate([s.ztxy, ns.zt1[:, None, :]], axis=1)
    solved = batched_forward_solve(chol_m, left_multiply(lam, rhs))
    cross = sum_crossprod(solved[:, : p + 1], solved[:, : p + 1])
    ones = solved[:, p + 1]  # L^{-1} Lambda' Z'1, (q, G)
    one_h_xy = ns.ones_xy - np.einsum("qg,qmg->mg", ones, solved[:, : p + 1])
    # 1'H^{-1}1 > 0 exactly; the Woodbury difference can cancel below 0 at the huge theta an
    # optimiser or a profile may probe, so it is kept at 0 there (the deviance is huge anyway).
    one_h_one = np.maximum(s.counts - (ones**2).sum(axis=0), 0.0)
    site_c = ns.per_site(one_h_one)
    site_r = ns.per_site(one_h_xy)
    site_w = t2 / (1.0 + t2 * site_c)
    full = np.empty((p + 1, p + 1))
    full[:p, :p], full[:p, p], full[p, :p], full[p, p] = s.xtx, s.xty, s.xty, s.yty
    full -= cross + (site_r * site_w) @ site_r.T
    return NestedPieces(
        logdet=float(logdet_m + np.log1p(t2 * site_c).sum()),
        xtvx=full[:p, :p],
        xtvy=full[:p, p],
        ytvy=float(full[p, p]),
        lam=lam,
        chol_m=chol_m,
        solved=solved,
        one_h_xy=one_h_xy,
        site_c=site_c,
        site_r=site_r,
        site_w=site_w,
    )


def _beta_pwrss(pieces: NestedPieces) -> tuple[np.ndarray, float] | None:
    try:
        chol_x = np.linalg.cholesky(pieces.xtvx)
    except np.linalg.LinAlgError:
        return None
    beta = np.linalg.solve(chol_x.T, np.linalg.solve(chol_x, pieces.xtvy))
    pwrss = float(pieces.ytvy - beta @ pieces.xtvy)
    if not np.isfinite(pwrss) or pwrss <= 0.0:
        return None
    return beta, pwrss


def nested_deviance(theta: np.ndarray, ns: NestedStatistics, reml: bool) -> float:
    """Profiled deviance (-2 log-likelihood, or the REML criterion); ``inf`` where undefined.

    Examples
    --------
    With ``t = 0`` the site level vanishes: the deviance is the one-level model's.

    >>> from srflow.mixed.deviance import profiled_deviance
    >>> rng = np.random.default_rng(2)
    >>> g = np.repeat(np.arange(20), 3); site = g % 4
    >>> y = rng.normal(size=60); X = np.ones((60, 1))
    >>> ns = nested_statistics(y, X, X, g, site)
    >>> bool(np.isclose(nested_deviance(np.array([0.7, 0.0]), ns, True),
    ...                 profiled_deviance(np.array([0.7]), ns.groups, True)))
    True
    """
    pieces = nested_pieces(theta, ns)
    solved = _beta_pwrss(pieces)
    if solved is None:
        return math.inf
    _, pwrss = solved
    n, p = ns.groups.n_obs, pieces.xtvx.shape[0]
    dof = n - p if reml else n
    deviance = pieces.logdet + dof * (1.0 + _LOG_2PI + math.log(pwrss / dof))
    if reml:
        deviance += float(np.linalg.slogdet(pieces.xtvx)[1])
    return float(deviance)


def nested_varpar_deviance(varpar: np.ndarray, ns: NestedStatistics, reml: bool) -> float:
    """Deviance at ``(theta, t, sigma)`` with ``beta`` profiled out (lmerTest's ``devfun_vp``)."""
    varpar = np.asarray(varpar, dtype=float)
    sigma2 = varpar[-1] ** 2
    pieces = nested_pieces(varpar[:-1], ns)
    solved = _beta_pwrss(pieces)
    if solved is None or sigma2 <= 0.0:
        return math.inf
    n = ns.groups.n_obs
    dev = pieces.logdet + solved[1] / sigma2 + n * (_LOG_2PI + math.log(sigma2))
    if reml:
        p = pieces.xtvx.shape[0]
        dev += float(np.linalg.slogdet(pieces.xtvx)[1]) - p * (_LOG_2PI + math.log(sigma2))
    return float(dev)


def nested_beta_covariance(varpar: np.ndarray, ns: NestedStatistics) -> np.ndarray:
    """``sigma^2 (X'H^{-1}X)^{-1}`` at ``(theta, t, sigma)``."""
    varpar = np.asarray(varpar, dtype=float)
    pieces = nested_pieces(varpar[:-1], ns)
    try:
        cov = varpar[-1] ** 2 * np.linalg.inv(pieces.xtvx)
    except np.linalg.LinAlgError:
        return np.full_like(pieces.xtvx, np.nan)
    return 0.5 * (cov + cov.T)


# --------------------------------------------------------------------------------------
# The optimisation problem (the interface of srflow.mixed.optimise.Problem)
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Evaluation:
    deviance: float
    gradient: np.ndarray | None


@dataclasses.dataclass
class NestedProblem:
    """The nested deviance on the participants' whitened scale; the site's ``t`` as it is.

    Gradients are central differences and the Hessian Richardson-extrapolated second
    differences of the deviance (a handful of parameters, each evaluation cheap).
    """

    stats: NestedStatistics  # participants' part whitened
    reml: bool
    base: Problem  # the participants' whitening

    @property
    def q(self) -> int:
        return self.base.q

    def deviance(self, theta: np.ndarray) -> float:
        return nested_deviance(theta, self.stats, self.reml)

    def evaluation(self, theta: np.ndarray, want_gradient: bool = True) -> _Evaluation:
        theta = np.asarray(theta, dtype=float)
        f0 = self.deviance(theta)
        if not want_gradient or not np.isfinite(f0):
            return _Evaluation(f0, None)
        gradient = np.empty(theta.size)
        for j in range(theta.size):
            step = 1e-5 * max(1.0, abs(theta[j]))
            up, down = theta.copy(), theta.copy()
            up[j] += step
            down[j] -= step
            gradient[j] = (self.deviance(up) - self.deviance(down)) / (2.0 * step)
        return _Evaluation(f0, gradient if np.isfinite(gradient).all() else None)

    def deviance_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        ev = self.evaluation(theta)
        if ev.gradient is None:
            return 1e300, np.zeros_like(np.asarray(theta, dtype=float))
        return ev.deviance, ev.gradient

    def hessian_at(self, theta: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        hess = deviance_hessian(self.deviance, np.asarray(theta, dtype=float))
        return hess if np.isfinite(hess).all() else np.full_like(hess, np.nan)

    def to_original(self, theta_w: np.ndarray) -> np.ndarray:
        """lme4's ``theta``: participant block unwhitened (diagonal >= 0), then ``|t|``."""
        theta_w = np.asarray(theta_w, dtype=float)
        return np.append(self.base.to_original(theta_w[:-1]), abs(theta_w[-1]) + 0.0)

    def to_whitened(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        return np.append(self.base.to_whitened(theta[:-1]), theta[-1])


def nested_problem(ns: NestedStatistics, reml: bool) -> NestedProblem:
    """Whiten the participants' random-effects design (``Z A``), as the one-level engine."""
    base = whitened_problem(ns.groups, reml)
    zt1 = left_multiply(base.scaling, ns.zt1[:, None, :])[:, 0]
    return NestedProblem(dataclasses.replace(ns, groups=base.stats, zt1=zt1), reml, base)


def identity_theta(q: int, site: float) -> np.ndarray:
    """Identity participant block and the given site ``t``."""
    rows, cols = theta_layout(q)
    return np.append(np.where(rows == cols, 1.0, 0.0), site)
