"""Standard errors and pointwise bands of the class curves of a fitted LCGA or GMM.

A class curve ``f_k(t) = b(t)' beta_k`` (``b`` the fit's Legendre basis) has variance
``b(t)' Cov(beta_k) b(t)`` (delta method; exact, the curve being linear in ``beta_k``), with
``Cov(beta_k)`` the block of the inverse observed information
(:func:`srflow.trajectories.information.observed_information`) over all free parameters.

Standard errors are refused (NaN, with the reason as the status) when the asymptotic theory
does not apply or the information cannot be inverted: a fit that did not converge, a class
that is (nearly) empty, a residual or random-effect variance at or near zero (the boundary of
the parameter space), a random-effect correlation at +-1, an information matrix that is not
positive definite or is numerically singular, or a score so far from 0 that a Newton step would
add more than 0.05 to the log-likelihood (not a maximum). Longitudinal k-means has no
likelihood and therefore no standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srflow.trajectories.information import ParameterLayout, layout_of, observed_information
from srflow.trajectories.panel import legendre_basis, sufficient_stats

__all__ = [
    "KMEANS_STATUS",
    "OK",
    "CurveInformation",
    "curve_information",
    "curve_standard_errors",
]

OK = "ok"
KMEANS_STATUS = "not available: k-means has no likelihood"
#: a class whose expected size sum_i tau_ik is below 1 + its coefficients counts as empty
EMPTY_CLASS_MARGIN = 1.0
#: a residual or random-effect SD below this share of the outcome SD is on the boundary
#: (the same 1% the selection table uses to call a residual variance collapsed)
BOUNDARY_SD_RATIO = 0.01
#: |correlation| of the random effects beyond this is on the boundary
BOUNDARY_CORRELATION = 0.999
#: smallest eigenvalue of the information in correlation form below this: singular
SINGULAR_EIGENVALUE = 1e-10
#: a Newton step from the estimate that would gain more log-likelihood than this: not a maximum
MAX_NEWTON_DECREMENT = 0.05


@dataclass(frozen=True)
class CurveInformation:
    """Covariances of the class coefficients (Legendre basis) or why there are none.

    Attributes
    ----------
    status : str
        ``"ok"`` or the reason the standard errors are missing.
    cov_beta : ndarray (K, p, p) or None
        Covariance of each class's coefficients (None unless ``status == "ok"``).
    information : ndarray (P, P) or None
        Observed information on the unconstrained scale (None when not computed).
    gradient : ndarray (P,) or None
        Score at the estimate (~0 at a maximum).
    """

    status: str
    cov_beta: np.ndarray | None = None
    information: np.ndarray | None = None
    gradient: np.ndarray | None = None


def _boundary_reason(model, engine, layout: ParameterLayout) -> str | None:
    """Why the estimate is on (or next to) the boundary of the parameter space, or None."""
    if not model.converged_:
        return "not available: the fit did not converge"
    params = model.params_
    expected = model.posterior_.sum(axis=0)
    empty = np.flatnonzero(expected < layout.p + EMPTY_CLASS_MARGIN)
    if empty.size:
        return (
            f"not available: class {empty[0] + 1} is (nearly) empty "
            f"(expected size {expected[empty[0]]:.3g})"
        )
    limit = (BOUNDARY_SD_RATIO * model.outcome_sd_) ** 2
    sigma2 = params.sigma2[0]
    low = np.flatnonzero((sigma2 < limit) | (sigma2 <= engine.sigma2_floor * (1 + 1e-9)))
    if low.size:
        return (
            f"not available: class {low[0] + 1} residual variance {sigma2[low[0]]:.3g} "
            "is at the boundary (~0)"
        )
    if layout.q:
        d = params.d[0]
        variances = np.diagonal(d, axis1=1, axis2=2)
        low_k, low_j = np.nonzero(variances < limit)
        if low_k.size:
            which = ("intercept", "slope")[low_j[0]]
            return (
                f"not available: class {low_k[0] + 1} random-{which} variance "
                f"{variances[low_k[0], low_j[0]]:.3g} is at the boundary (~0)"
            )
        if layout.q == 2:
            corr = d[:, 0, 1] / np.sqrt(d[:, 0, 0] * d[:, 1, 1])
            high = np.flatnonzero(np.abs(corr) > BOUNDARY_CORRELATION)
            if high.size:
                return (
                    f"not available: class {high[0] + 1} random-effect correlation "
                    f"{corr[high[0]]:.4f} is at the boundary (+-1)"
                )
    return None


def _invert(information: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Inverse of a positive definite information matrix, via its correlation form."""
    diagonal = np.diag(information)
    if not np.all(np.isfinite(information)) or np.any(diagonal <= 0):
        return None, "not available: the information matrix is not positive definite"
    root = np.sqrt(diagonal)
    scaled = information / np.outer(root, root)
    eigenvalues, vectors = np.linalg.eigh(scaled)
    # an eigenvalue within rounding of 0, of either sign, is a singular matrix; a clearly
    # negative one is a saddle point or worse
    if abs(eigenvalues[0]) < SINGULAR_EIGENVALUE:
        return None, (
            "not available: the information matrix is singular "
            f"(smallest scaled eigenvalue {eigenvalues[0]:.2g})"
        )
    if eigenvalues[0] < 0:
        return None, "not available: the information matrix is not positive definite"
    inverse = (vectors / eigenvalues) @ vectors.T
    return inverse / np.outer(root, root), OK


def curve_information(model) -> CurveInformation:
    """The observed information of a fitted LCGA / GMM and its class-coefficient covariances.

    Parameters
    ----------
    model : LCGA, GMM or LongitudinalKMeans
        A fitted model; k-means gets :data:`KMEANS_STATUS`.

    Returns
    -------
    CurveInformation
    """
    if not hasattr(model, "params_"):
        return CurveInformation(KMEANS_STATUS)
    layout = layout_of(model)
    stats = sufficient_stats(model.panel_, model.degree, domain=model.time_domain_)
    engine = model._engine(stats)
    reason = _boundary_reason(model, engine, layout)
    if reason is not None:
        return CurveInformation(reason)
    theta = layout.to_theta(model.params_)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        information, gradient = observed_information(
            engine, layout, theta, layout.scale(model.outcome_sd_)
        )
    covariance, status = _invert(information)
    if covariance is None:
        return CurveInformation(status, None, information, gradient)
    # g' I^-1 g / 2 is what a Newton step would add to the log-likelihood: ~0 at a maximum
    gain = 0.5 * float(gradient @ covariance @ gradient)
    if not gain <= MAX_NEWTON_DECREMENT:
        return CurveInformation(
            f"not available: the estimate is not at a maximum (a Newton step would add {gain:.3g}"
            " to the log-likelihood)",
            None,
            information,
            gradient,
        )
    block = covariance[layout.slices()["beta"], layout.slices()["beta"]]
    k, p = layout.k, layout.p
    cov_beta = np.stack([block[j * p : (j + 1) * p, j * p : (j + 1) * p] for j in range(k)])
    return CurveInformation(OK, cov_beta, information, gradient)


def curve_standard_errors(model, times: np.ndarray) -> tuple[np.ndarray, str]:
    """Standard errors of each class's fitted mean curve at ``times``.

    Parameters
    ----------
    model : LCGA, GMM or LongitudinalKMeans
    times : array-like
        Times on the raw scale.

    Returns
    -------
    se : ndarray (K, len(times))
        NaN everywhere when ``status`` is not ``"ok"``.
    status : str

    Examples
    --------
    One class with no random effects is ordinary least squares: the curve's variance is
    ``sigma^2 b' (X'X)^-1 b`` with the ML residual variance.

    >>> import numpy as np, pandas as pd
    >>> from srflow.trajectories import LCGA
    >>> rng = np.random.default_rng(0)
    >>> data = pd.DataFrame({"participant_id": np.repeat(np.arange(60), 4),
    ...                      "time": np.tile(np.arange(4.0), 60)})
    >>> data["P"] = 3.0 + 0.5 * data["time"] + rng.normal(0, 1, 240)
    >>> model = LCGA(1, degree=1).fit(data)
    >>> se, status = curve_standard_errors(model, [0.0, 3.0])
    >>> X = np.column_stack([np.ones(240), data["time"]])
    >>> sigma2 = model.sigma_[0] ** 2
    >>> b = np.array([[1.0, 0.0], [1.0, 3.0]])
    >>> ols = np.sqrt(sigma2 * np.einsum("tp,pq,tq->t", b, np.linalg.inv(X.T @ X), b))
    >>> status, bool(np.allclose(se[0], ols, rtol=1e-7))
    ('ok', True)
    """
    times = np.asarray(times, dtype=float)
    info = curve_information(model)
    k = int(model.n_classes)
    if info.status != OK:
        return np.full((k, times.shape[0]), np.nan), info.status
    basis = legendre_basis(times, model.degree, model.time_domain_)  # (T, p)
    variance = np.einsum("tp,kpq,tq->kt", basis, info.cov_beta, basis)
    return np.sqrt(np.maximum(variance, 0.0)), OK
