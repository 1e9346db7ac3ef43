"""Fitting a linear mixed model with one grouping factor by profiled REML or ML.

Model, per group ``i``::

    y_i = X_i beta + Z_i b_i + e_i,   b_i ~ N(0, sigma^2 Lambda Lambda'),   e_i ~ N(0, sigma^2 I)

``Lambda`` is the lower-triangular *relative* Cholesky factor of the random-effects
covariance, stored column by column in ``theta`` exactly as lme4 does, so ``theta`` and
the singularity rule (a diagonal element of ``Lambda`` below 1e-4) mean the same here as
in lme4. The pieces live in one module each: sufficient statistics
(:mod:`srflow.mixed.statistics`), the profiled deviance (:mod:`srflow.mixed.deviance`),
the optimiser (:mod:`srflow.mixed.optimise`) and the certification of its optimum
(:mod:`srflow.mixed.certify`); this module assembles the result and re-exports the names
other modules build on.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from srflow.errors import ConvergenceWarning, ModelError
from srflow.mixed.certify import certified_optimum
from srflow.mixed.deviance import (
    Evaluation,
    evaluate,
    profiled_deviance,
    theta_layout,
    theta_to_lambda,
)
from srflow.mixed.optimise import SCALED_GRADIENT_TOLERANCE
from srflow.mixed.statistics import (
    GroupStatistics,
    batched_forward_solve,
    group_statistics,
    single_threaded_blas,
)

__all__ = [
    "CORRELATION_BOUND",
    "SINGULAR_TOLERANCE",
    "Evaluation",
    "GroupStatistics",
    "LmmFit",
    "fit_lmm",
    "group_statistics",
    "profiled_deviance",
    "theta_layout",
    "theta_to_lambda",
]

#: lme4's tolerance for calling a fit singular (``lme4::isSingular``).
SINGULAR_TOLERANCE = 1e-4
#: Correlations beyond this magnitude are reported as a singular fit too.
CORRELATION_BOUND = 0.9999
_evaluate = evaluate  # the name tests and older callers use


@dataclasses.dataclass
class LmmFit:
    """A fitted linear mixed model with one grouping factor.

    ``loglik`` is the maximised log-likelihood for ML fits and minus half the REML
    criterion for REML fits (what lme4's ``logLik`` reports); ``aic``/``bic`` are computed
    from it in both cases, as lme4 does, and ``criterion`` says which it is. Only ML
    values are comparable between models with different fixed effects.

    ``certified`` says whether the optimum passed every certificate of
    :mod:`srflow.mixed.certify` (``suspect_reason`` says why not; ``certificates`` lists
    what was checked and the log-likelihood each start and bound reached). ``singular``
    is only ever True for a certified optimum on the boundary.
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
    certified: bool = True
    suspect_reason: str | None = None
    certificates: list[dict] = dataclasses.field(default_factory=list)
    # Participants nested in an upper level (srflow.mixed.nested_fit): its name, relative
    # SD t (theta's last element in lme4), SD, labels, conditional modes and SDs.
    upper_name: str | None = None
    upper_theta: float | None = None
    upper_sd: float | None = None
    upper_labels: np.ndarray | None = None
    upper_ranef: np.ndarray | None = None
    upper_ranef_sd: np.ndarray | None = None

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
            {
                "component": "fixed",
                "term": name,
                "estimate": b,
                "se": se,
                "statistic": zz,
                "p": 2.0 * special.ndtr(-abs(zz)),
            }
            for name, b, se, zz in zip(self.x_names, self.beta, self.beta_se, z, strict=True)
        ]
        for j, name in enumerate(self.z_names):
            rows.append({"component": "random_sd", "term": name, "estimate": self.sd_re[j]})
        for a in range(len(self.z_names)):
            for b in range(a + 1, len(self.z_names)):
                rows.append(
                    {
                        "component": "random_corr",
                        "term": f"{self.z_names[a]}:{self.z_names[b]}",
                        "estimate": self.corr_re[a, b],
                    }
                )
        if self.upper_sd is not None:
            rows.append(
                {
                    "component": "random_sd",
                    "term": f"Intercept|{self.upper_name}",
                    "estimate": self.upper_sd,
                }
            )
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
    starts: Sequence[tuple[str, Any]] = (),
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
    starts : sequence of (name, theta), optional
        Extra starting values on lme4's ``theta`` scale (lower triangle of the relative
        Cholesky factor, column by column), tried besides the built-in starts; each one's
        deviance is also a bound the optimum must reach (e.g. a nested model's optimum
        padded with zeros).

    Returns
    -------
    LmmFit

    Raises
    ------
    ModelError
        Non-finite data, mismatched shapes, a rank-deficient X, or fewer groups than
        random effects.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> groups = np.repeat(np.arange(30), 4)
    >>> e = rng.uniform(0, 100, groups.size)
    >>> y = 2 + 0.05 * e + rng.normal(0, 1, 30)[groups] + rng.normal(0, 1, groups.size)
    >>> X = np.column_stack([np.ones_like(e), e])
    >>> fit = fit_lmm(y, X, X[:, :1], groups, reml=False)
    >>> fit.certified, fit.singular, len(fit.theta)
    (True, False, 1)
    >>> bool(abs(fit.beta[1] - 0.05) < 0.01)
    True
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
            raise ModelError(
                f"{name} contains missing or infinite values; drop or impute them before fitting."
            )
    if np.linalg.matrix_rank(X) < p:
        raise ModelError(
            "The fixed-effects design is rank deficient (a predictor is constant or a "
            "linear combination of others); remove the redundant term."
        )
    start_list = []
    for name, theta in starts:
        theta = np.asarray(theta, dtype=float).ravel()
        if theta.size != q * (q + 1) // 2 or not np.isfinite(theta).all():
            raise ModelError(f"Start {name!r} must hold {q * (q + 1) // 2} finite theta values.")
        start_list.append((str(name), theta))
    with single_threaded_blas():
        return _fit(y, X, Z, groups, reml, x_names, z_names, start_list)


def _fit(y, X, Z, groups, reml, x_names, z_names, starts) -> LmmFit:
    n, p, q = X.shape[0], X.shape[1], Z.shape[1]
    s = group_statistics(y, X, Z, groups)
    if s.n_groups <= q:
        raise ModelError(
            f"Only {s.n_groups} groups for {q} random effects per group; need more groups "
            "than random effects (or drop random slopes)."
        )
    if n <= p:
        raise ModelError(f"Only {n} observations for {p} fixed effects.")

    optimum = certified_optimum(s, reml, starts)
    theta, best = optimum.theta, optimum.best
    ev = _evaluate(theta, s, reml, True)
    if not np.isfinite(ev.deviance):
        raise ModelError(
            "The likelihood could not be evaluated at any parameter value tried; check the "
            "data for extreme values or near-collinear predictors."
        )
    dof = n - p if reml else n
    sigma2 = ev.pwrss / dof
    lam = theta_to_lambda(theta, q)
    cov_re, sd_re, corr_re = random_effect_moments(sigma2, lam)
    beta_cov = sigma2 * np.linalg.inv(ev.xtvx)
    beta_cov = 0.5 * (beta_cov + beta_cov.T)

    # Conditional modes b_i = Lambda Lambda' u_i and conditional covariance
    # sigma^2 Lambda M_i^{-1} Lambda' (given beta, as lme4's condVar).
    ranef = ev.u.T @ (lam @ lam.T)  # (G, q); Lambda Lambda' is symmetric
    lam_t = np.repeat(lam.T[:, :, None], s.n_groups, axis=2)
    half = batched_forward_solve(ev.chol_m, lam_t)  # L^{-1} Lambda', (q, q, G)
    ranef_sd = np.sqrt(sigma2 * (half**2).sum(axis=0)).T

    rows, cols = theta_layout(q)
    diag = rows == cols
    offdiag_corr = corr_re[np.triu_indices(q, 1)]
    on_boundary = bool(
        (theta[diag] < SINGULAR_TOLERANCE).any()
        or (np.abs(np.nan_to_num(offdiag_corr)) > CORRELATION_BOUND).any()
    )
    singular = on_boundary and optimum.certified  # never a stalled optimiser called singular
    warnings_list = _fit_warnings(optimum, on_boundary)
    n_params = p + len(theta) + 1
    loglik = -0.5 * ev.deviance
    return LmmFit(
        beta=ev.beta,
        beta_se=np.sqrt(np.diag(beta_cov)),
        beta_cov=beta_cov,
        x_names=x_names,
        z_names=z_names,
        sigma=math.sqrt(sigma2),
        cov_re=cov_re,
        sd_re=sd_re,
        corr_re=corr_re,
        theta=theta,
        reml=reml,
        criterion="REML" if reml else "ML",
        loglik=loglik,
        deviance=ev.deviance,
        n_params=n_params,
        aic=-2 * loglik + 2 * n_params,
        bic=-2 * loglik + n_params * math.log(n),
        n_obs=n,
        n_groups=s.n_groups,
        converged=bool(best.converged),
        singular=singular,
        gradient_norm=float(best.gradient_norm),
        scaled_gradient=float(best.scaled_gradient),
        optimizer=best.optimizer,
        warnings=warnings_list,
        group_labels=s.labels,
        ranef=ranef,
        ranef_sd=ranef_sd,
        group_sizes=s.counts.astype(int),
        certified=optimum.certified,
        suspect_reason=optimum.reason,
        certificates=optimum.certificates,
    )


def random_effect_moments(
    sigma2: float, lam: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Covariance, SDs and correlations of the random effects, ``sigma^2 Lambda Lambda'``.

    A correlation with a zero SD is NaN (undefined), the diagonal 1.
    """
    cov = sigma2 * lam @ lam.T
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    corr[~np.isfinite(corr)] = np.nan
    np.fill_diagonal(corr, 1.0)
    return cov, sd, corr


def _fit_warnings(optimum, on_boundary: bool) -> list[str]:
    """The optimiser's story in words: convergence, suspicion, singularity."""
    best = optimum.best
    out: list[str] = []
    if not best.converged:
        out.append(
            "No optimiser met the convergence criterion (Newton-scaled gradient "
            f"{best.scaled_gradient:.3g} > {SCALED_GRADIENT_TOLERANCE}); "
            "treat the estimates with caution."
        )
        warnings.warn(out[0], ConvergenceWarning, stacklevel=4)
    if not optimum.certified:
        out.append(f"Suspect fit: the optimum could not be certified ({optimum.reason}).")
        out.extend(optimum.log)
        if on_boundary:
            out.append(
                "A variance is near zero or a correlation near +/-1 at this point, but the fit "
                "is not called singular: that may be where the optimiser stopped."
            )
    elif optimum.log:
        out.append(
            f"Converged with {best.optimizer} (start: {best.start}) after: "
            + "; ".join(optimum.log)
        )
    if on_boundary and optimum.certified:
        out.append(
            "Singular fit: a random-effect variance is (near) zero or a correlation is at "
            "+/-1; the random-effects structure is too complex for these data."
        )
    return out
