"""Observed information of a fitted mixture (LCGA or GMM) from analytic scores.

Free parameters, on an unconstrained scale (the layout of :class:`ParameterLayout`):

* class weights as multinomial logits against class 1 (``K - 1``);
* class coefficients ``beta_k`` in the engines' Legendre basis (``K p``);
* log residual variances (``K``, or 1 when shared);
* random-effect covariances ``D = L L'`` by their Cholesky factor with a log diagonal
  (``q (q + 1) / 2`` per class, or once when shared; GMM only).

Scores are analytic (Fisher's identity): the score of participant ``i`` is the posterior
expectation, over the class and the random effects given the data, of the complete-data
score. The E-step that gives those posteriors is the engine's own (:meth:`LcgaEngine.e_step`,
:meth:`GmmEngine.e_step`, and :meth:`GmmEngine._expected_moments` for the expected residual
sums of squares), so the log-likelihood is never written twice. The Hessian is the central
difference of the summed scores, step ``h_j = STEP (|theta_j| + scale_j)``, and its Richardson
extrapolation from ``h`` and ``h / 2`` (error O(h^4)); all ``4 P`` perturbed points are
evaluated as batches of "starts" of the engine, vectorised over participants.
:mod:`srflow.trajectories.curve_se` turns it into standard errors of the class curves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srflow.trajectories.em import MixtureParams

__all__ = ["ParameterLayout", "layout_of", "observed_information", "participant_scores"]

#: relative finite-difference step (h and h / 2 are Richardson-combined)
STEP = 1e-3
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
def participant_scores(
    engine, layout: ParameterLayout, params: MixtureParams, total: bool = False
) -> np.ndarray:
    """Scores of every participant at every start, (S, n, P), by Fisher's identity.

    With ``total`` their sums over participants, (S, P) (the gradient of the log-likelihood).
    """
    stats = engine.stats
    _, posterior, moments, _ = engine.e_step(params)
    if engine.class_major:
        posterior = np.ascontiguousarray(posterior.transpose(0, 2, 1))  # (S, n, K)
    s, n, k = posterior.shape
    sigma2 = params.sigma2[:, None, :]  # (S, 1, K)
    # X'E[y - X beta_k - Z b | y, k] and E||y - X beta_k - Z b||^2 given the data
    xx_beta = np.matmul(stats.xx.reshape(-1, layout.p), params.beta.transpose(0, 2, 1))
    xe = stats.xy[None, :, None, :] - xx_beta.reshape(s, n, layout.p, k).transpose(0, 1, 3, 2)
    if moments is None:
        resid = _residual_sums(stats, params.beta)
    else:
        m, c = moments
        xe = xe - np.einsum("npa,snka->snkp", stats.xx[:, :, : layout.q], m)
        resid, second = engine._expected_moments(params.beta, m, c)
    var_score = posterior * 0.5 * (resid / sigma2 - stats.n_obs[None, :, None])
    parts = [
        posterior[..., 1:] - params.weights[:, None, 1:],
        (posterior[..., None] * xe / sigma2[..., None]).reshape(s, n, -1),
        var_score.sum(axis=2, keepdims=True) if layout.shared_variance else var_score,
    ]
    if layout.q:
        parts.append(_cholesky_scores(layout, params, posterior, second))
    if total:
        return np.concatenate([part.sum(axis=1) for part in parts], axis=1)
    return np.concatenate(parts, axis=2)


def _residual_sums(stats, beta: np.ndarray) -> np.ndarray:
    """||y_i - X_i beta_k||^2, shape (S, n, K) (LCGA: no random effects)."""
    p = beta.shape[2]
    outer = (beta[..., :, None] * beta[..., None, :]).reshape(beta.shape[0], beta.shape[1], -1)
    quad = np.matmul(stats.xx.reshape(-1, p * p), outer.transpose(0, 2, 1))  # (S, n, K)
    cross = np.matmul(stats.xy, beta.transpose(0, 2, 1))
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
        out[start : start + batch] = participant_scores(
            engine, layout, layout.to_params(chunk), total=True
        )
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
