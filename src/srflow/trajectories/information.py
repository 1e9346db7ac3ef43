"""Observed information of a fitted mixture (LCGA or GMM) and standard errors of its class curves.

Free parameters, on an unconstrained scale (the layout of :class:`ParameterLayout`):

* class weights as multinomial logits against class 1 (``K - 1``);
* class coefficients ``beta_k`` in the engines' Legendre basis (``K p``);
* log residual variances (``K``, or 1 when shared);
* random-effect covariances ``D = L L'`` by their Cholesky factor with a log diagonal
  (``q (q + 1) / 2`` per class, or once when shared; GMM only).

Scores are analytic (Fisher's identity): the score of participant ``i`` is the posterior
expectation, over the class and the random effects given the data, of the complete-data
score. The E-step that gives those posteriors is the engine's own (:meth:`LcgaEngine.e_step`,
:meth:`GmmEngine.e_step`), so the log-likelihood is never written twice. The Hessian is the
central difference of the summed scores, step ``h_j = STEP (|theta_j| + scale_j)`` and its
Richardson extrapolation from ``h`` and ``h / 2``; all ``4 P`` perturbed points are evaluated
as one batch of "starts" of the engine. The inverse of minus the Hessian is the covariance of
the estimates, and a class curve ``f_k(t) = b(t)' beta_k`` has variance ``b(t)' Cov(beta_k)
b(t)`` (delta method; exact, the curve being linear in ``beta_k``).

Standard errors are refused (NaN, with the reason as the status) when the asymptotic theory
does not apply or the information cannot be inverted: a fit that did not converge, a class
that is (nearly) empty, a residual or random-effect variance at or near zero (the boundary of
the parameter space), a random-effect correlation at +-1, an information matrix that is not
positive definite or is numerically singular, or a score so far from 0 that a Newton step would
add more than 0.05 to the log-likelihood (not a maximum). Longitudinal k-means has no likelihood and
therefore no standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srflow.trajectories.em import MixtureParams
from srflow.trajectories.panel import legendre_basis, sufficient_stats

__all__ = [
    "KMEANS_STATUS",
    "OK",
    "CurveInformation",
    "ParameterLayout",
    "curve_information",
    "curve_standard_errors",
    "observed_information",
]

OK = "ok"
KMEANS_STATUS = "not available: k-means has no likelihood"
#: relative finite-difference step (h and h / 2 are Richardson-combined)
STEP = 1e-3
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
#: perturbed points per engine call: at most 48, and temporaries of at most ~4e6 numbers
BATCH = 48
BATCH_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class ParameterLayout:
    """Where each parameter block sits in the unconstrained vector ``theta``."""

    k: int
    p: int
    q: int
    shared_variance: bool
    shared_random: bool

    @property
    def n_variance(self) -> int:
        return 1 if self.shared_variance else self.k

    @property
    def n_cov_blocks(self) -> int:
        return 0 if self.q == 0 else (1 if self.shared_random else self.k)

    @property
    def n_chol(self) -> int:
        return self.q * (self.q + 1) // 2

    def slices(self) -> dict[str, slice]:
        """Blocks ``logit, beta, log_var, chol`` of ``theta``."""
        sizes = {
            "logit": self.k - 1,
            "beta": self.k * self.p,
            "log_var": self.n_variance,
            "chol": self.n_cov_blocks * self.n_chol,
        }
        out, at = {}, 0
        for name, size in sizes.items():
            out[name] = slice(at, at + size)
            at += size
        return out

    @property
    def size(self) -> int:
        return self.slices()["chol"].stop

    # --- theta <-> MixtureParams ---------------------------------------------------------
    def to_theta(self, params: MixtureParams) -> np.ndarray:
        """The unconstrained vector (P,) of the first start of ``params``."""
        w = params.weights[0]
        parts = [np.log(w[1:] / w[0]), params.beta[0].ravel()]
        sigma2 = params.sigma2[0]
        parts.append(np.log(sigma2[:1] if self.shared_variance else sigma2))
        if self.q:
            d = params.d[0][: self.n_cov_blocks]  # a shared D: the first class's copy
            chol = np.linalg.cholesky(d)
            rows, cols = np.tril_indices(self.q)
            entries = chol[:, rows, cols]
            diagonal = rows == cols
            entries[:, diagonal] = np.log(entries[:, diagonal])
            parts.append(entries.ravel())
        return np.concatenate(parts)

    def to_params(self, theta: np.ndarray) -> MixtureParams:
        """MixtureParams with one start per row of ``theta`` (S, P); no floors applied."""
        s, k, at = theta.shape[0], self.k, self.slices()
        logits = np.concatenate((np.zeros((s, 1)), theta[:, at["logit"]]), axis=1)
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        beta = theta[:, at["beta"]].reshape(s, k, self.p)
        sigma2 = np.broadcast_to(np.exp(theta[:, at["log_var"]]), (s, k)).copy()
        d = None
        if self.q:
            entries = theta[:, at["chol"]].reshape(s, self.n_cov_blocks, self.n_chol)
            rows, cols = np.tril_indices(self.q)
            chol = np.zeros((s, self.n_cov_blocks, self.q, self.q))
            chol[..., rows, cols] = np.where(rows == cols, np.exp(entries), entries)
            d = np.broadcast_to(chol @ chol.transpose(0, 1, 3, 2), (s, k, self.q, self.q)).copy()
        return MixtureParams(weights, beta, sigma2, d)

    def scale(self, outcome_sd: float) -> np.ndarray:
        """Typical size of each parameter: the outcome SD for location-like ones, 1 for logs."""
        scale = np.ones(self.size)
        at = self.slices()
        scale[at["beta"]] = outcome_sd
        if self.q == 2:  # the off-diagonal Cholesky entry (tril order 00, 10, 11) is not a log
            scale[at["chol"].start + 1 :: 3] = outcome_sd
        return scale


def layout_of(model) -> ParameterLayout:
    """The parameter layout of a fitted LCGA or GMM."""
    q = int(model._n_random)
    return ParameterLayout(
        k=int(model.n_classes),
        p=int(model.degree) + 1,
        q=q,
        shared_variance=model.variance == "shared",
        shared_random=q > 0 and model.random_variance == "shared",
    )


# --- analytic scores ---------------------------------------------------------------------
def participant_scores(engine, layout: ParameterLayout, params: MixtureParams) -> np.ndarray:
    """Scores of every participant at every start, shape (S, n, P), by Fisher's identity."""
    stats = engine.stats
    _, posterior, moments, _ = engine.e_step(params)
    if engine.class_major:
        posterior = posterior.transpose(0, 2, 1)  # (S, n, K)
    sigma2 = params.sigma2[:, None, :]  # (S, 1, K)
    # E[y - X beta_k - Z b | y, k] projected on X, and E||y - X beta_k - Z b||^2
    xe = stats.xy[None, :, None, :] - np.einsum("npq,skq->snkp", stats.xx, params.beta)
    if moments is None:
        resid = _residual_sums(stats, params.beta)
    else:
        m, c = moments
        xe = xe - np.einsum("npa,snka->snkp", stats.xx[:, :, : layout.q], m)
        resid, second = engine._expected_moments(params.beta, m, c)
    parts = [
        posterior[..., 1:] - params.weights[:, None, 1:],
        (posterior[..., None] * xe / sigma2[..., None]).reshape(*posterior.shape[:2], -1),
    ]
    var_score = posterior * 0.5 * (resid / sigma2 - stats.n_obs[None, :, None])
    parts.append(var_score.sum(axis=2, keepdims=True) if layout.shared_variance else var_score)
    if layout.q:
        parts.append(_cholesky_scores(layout, params, posterior, second))
    return np.concatenate(parts, axis=2)


def _residual_sums(stats, beta: np.ndarray) -> np.ndarray:
    """||y_i - X_i beta_k||^2, shape (S, n, K) (LCGA: no random effects)."""
    cross = np.einsum("np,skp->snk", stats.xy, beta)
    quad = np.einsum("skp,npq,skq->snk", beta, stats.xx, beta)
    return stats.yy[None, :, None] - 2.0 * cross + quad


def _cholesky_scores(layout, params, posterior, second) -> np.ndarray:
    """Scores of the log-Cholesky entries of D: 2 (G L) with G = (D^-1 E[bb'] D^-1 - D^-1) / 2."""
    d_inv = np.linalg.inv(params.d)[:, None]  # (S, 1, K, q, q)
    g = 0.5 * (d_inv @ second @ d_inv - d_inv)  # (S, n, K, q, q)
    g = g * posterior[..., None, None]
    if layout.shared_random:
        g = g.sum(axis=2, keepdims=True)
    chol = np.linalg.cholesky(params.d[:, : layout.n_cov_blocks])[:, None]  # (S, 1, B, q, q)
    grad = 2.0 * g @ chol
    rows, cols = np.tril_indices(layout.q)
    entries = grad[..., rows, cols] * np.where(rows == cols, chol[..., rows, cols], 1.0)
    return entries.reshape(*posterior.shape[:2], -1)


def _gradients(engine, layout, thetas: np.ndarray) -> np.ndarray:
    """Summed scores (S, P) at every row of ``thetas``, in batches."""
    out = np.empty_like(thetas)
    per_point = engine.stats.n_obs.shape[0] * layout.k * max(layout.p, layout.q**2, 2)
    batch = int(max(1, min(BATCH, BATCH_ELEMENTS // per_point)))
    for start in range(0, thetas.shape[0], batch):  # loop over batches of perturbed points
        chunk = thetas[start : start + batch]
        scores = participant_scores(engine, layout, layout.to_params(chunk))
        out[start : start + batch] = scores.sum(axis=1)
    return out


def observed_information(engine, layout: ParameterLayout, theta: np.ndarray, scale: np.ndarray):
    """Minus the Hessian of the log-likelihood at ``theta`` and the gradient there.

    Central differences of the analytic gradient with steps ``h`` and ``h / 2`` combined by
    Richardson extrapolation (error O(h^4)); symmetrised.
    """
    n = theta.shape[0]
    h = STEP * (np.abs(theta) + scale)
    eye = np.eye(n)
    points = [theta[None, :]]
    for factor in (1.0, 0.5):
        step = eye * (factor * h)
        points += [theta + step, theta - step]
    grads = _gradients(engine, layout, np.concatenate(points))
    gradient = grads[0]
    coarse = (grads[1 : 1 + n] - grads[1 + n : 1 + 2 * n]) / (2.0 * h[:, None])
    fine = (grads[1 + 2 * n : 1 + 3 * n] - grads[1 + 3 * n :]) / (h[:, None])
    hessian = (4.0 * fine - coarse) / 3.0  # row j: d gradient / d theta_j
    return -0.5 * (hessian + hessian.T), gradient


# --- checks and the curve covariance -----------------------------------------------------
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
    if eigenvalues[0] <= 0:
        return None, "not available: the information matrix is not positive definite"
    if eigenvalues[0] < SINGULAR_EIGENVALUE:
        return None, (
            "not available: the information matrix is singular "
            f"(smallest scaled eigenvalue {eigenvalues[0]:.2g})"
        )
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
