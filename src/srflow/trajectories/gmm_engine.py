"""EM for growth mixture models: class polynomials plus random intercept (and slope).

The marginal covariance of participant ``i`` in class ``k`` is
``V_ik = sigma_k^2 I + Z_i D_k Z_i'`` with ``Z = 1`` (random intercept) or ``Z = [1, t]``
(random intercept and slope, ``t`` the first Legendre column). It is never formed: the
Woodbury identity and the matrix-determinant lemma reduce ``y' V^-1 y`` and ``log |V|`` to the
``q x q`` blocks ``G = D^-1 + Z'Z / sigma^2`` (closed form for q = 1, 2), computed from the
per-participant sufficient statistics, so participants with any pattern of observed waves are
handled together, vectorised over participants and starts.

EM treats the class and the random effects as missing data. The E-step gives class posteriors
and per class the posterior mean ``m`` and covariance ``C`` of the random effects; the M-step
updates the fixed effects by weighted least squares on ``y - Z m``, then ``D`` from ``m m' + C``
(per class, or pooled over classes when the random-effect covariance is shared) and the
residual variance from the expected residual sum of squares.
"""

from __future__ import annotations

import numpy as np

from srflow.trajectories.em import LOG_2PI, MIN_WEIGHT, SIGMA2_FLOOR_REL, MixtureParams
from srflow.trajectories.panel import SufficientStats

__all__ = ["GmmEngine", "DEFAULT_SPLIT"]

#: share of the residual variance given to the random intercept (and slope) at a default start
DEFAULT_SPLIT = (0.4, 0.1)


def _inverse_2x2(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse and determinant of a stack of 2 x 2 matrices (closed form)."""
    det = a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]
    inv = np.empty_like(a)
    inv[..., 0, 0] = a[..., 1, 1] / det
    inv[..., 1, 1] = a[..., 0, 0] / det
    inv[..., 0, 1] = -a[..., 0, 1] / det
    inv[..., 1, 0] = -a[..., 1, 0] / det
    return inv, det


class GmmEngine:
    """E and M steps of a growth mixture model with q = 1 or 2 random effects.

    Parameters
    ----------
    stats : SufficientStats
        Per-participant statistics in the Legendre basis.
    n_classes : int
        K.
    shared_variance : bool
        One residual variance for all classes.
    n_random : int
        1 (random intercept) or 2 (random intercept and slope).
    shared_random : bool, default False
        One random-effect covariance ``D`` for all classes.
    """

    class_major = False

    def __init__(
        self,
        stats: SufficientStats,
        n_classes: int,
        shared_variance: bool,
        n_random: int,
        shared_random: bool = False,
    ):
        self.stats = stats
        self.k = n_classes
        self.shared = shared_variance
        self.shared_random = shared_random
        self.q = self.n_random = n_random
        p = stats.n_basis
        self.p = p
        self.xx_flat = stats.xx.reshape(-1, p * p)
        self.n_total = float(stats.n_obs.sum())
        self.sigma2_floor = SIGMA2_FLOOR_REL * max(stats.outcome_var, 1e-300)
        self.d_floor = 1e-8 * max(stats.outcome_var, 1e-300)
        # a tiny ridge keeps an emptied class's normal equations solvable
        self.ridge = 1e-10 * float(np.trace(stats.xx.sum(0))) / p * np.eye(p)
        q = n_random
        self.zz = stats.xx[:, :q, :q]  # (n, q, q)
        self.zy = stats.xy[:, :q]  # (n, q)
        self.zx_flat = stats.xx[:, :q, :].reshape(-1, p)  # (n*q, p)

    # --- shared pieces ------------------------------------------------------------
    def _rss(self, beta: np.ndarray) -> np.ndarray:
        """Residual sums of squares (S, n, K) of every participant under every class."""
        s = self.stats
        cross = np.matmul(s.xy, beta.transpose(0, 2, 1))  # (S, n, K)
        outer = (beta[..., :, None] * beta[..., None, :]).reshape(beta.shape[0], self.k, -1)
        quad = np.matmul(self.xx_flat, outer.transpose(0, 2, 1))  # (S, n, K)
        rss = s.yy[None, :, None] - 2.0 * cross + quad
        return np.maximum(rss, 0.0)

    def _z_residual(self, beta: np.ndarray) -> np.ndarray:
        """Z'(y - X beta), shape (S, n, K, q)."""
        n = self.stats.n_obs.shape[0]
        zxb = np.matmul(self.zx_flat, beta.transpose(0, 2, 1))  # (S, n*q, K)
        zxb = zxb.reshape(beta.shape[0], n, self.q, self.k).transpose(0, 1, 3, 2)
        return self.zy[None, :, None, :] - zxb

    def _random_effect_posterior(self, params: MixtureParams, zr: np.ndarray):
        """Posterior mean m, covariance C and log|D| + log|G| of the random effects."""
        sigma2 = params.sigma2[:, None, :]  # (S, 1, K)
        if self.q == 1:
            d = params.d[..., 0, 0][:, None, :]  # (S, 1, K)
            g = 1.0 / d + self.zz[None, :, None, 0, 0] / sigma2  # (S, n, K)
            c = 1.0 / g
            m = c * zr[..., 0] / sigma2
            logdet = np.log(d) + np.log(g)
            return m[..., None], c[..., None, None], logdet
        dinv, det_d = _inverse_2x2(params.d)  # (S, K, 2, 2)
        g = dinv[:, None] + self.zz[None, :, None] / sigma2[..., None, None]  # (S, n, K, 2, 2)
        c, det_g = _inverse_2x2(g)
        m = (
            np.stack(
                (
                    c[..., 0, 0] * zr[..., 0] + c[..., 0, 1] * zr[..., 1],
                    c[..., 1, 0] * zr[..., 0] + c[..., 1, 1] * zr[..., 1],
                ),
                axis=-1,
            )
            / sigma2[..., None]
        )
        logdet = np.log(det_d)[:, None, :] + np.log(det_g)
        return m, c, logdet

    # --- E step ----------------------------------------------------------------------
    def e_step(self, params: MixtureParams):
        """Log-likelihood per start (S,), posteriors (S, n, K), (m, C), per participant (S, n)."""
        rss = self._rss(params.beta)
        sigma2 = params.sigma2[:, None, :]
        n_i = self.stats.n_obs[None, :, None]
        zr = self._z_residual(params.beta)
        m, c, logdet = self._random_effect_posterior(params, zr)
        # Woodbury: r'V^-1 r = (r'r - (Z'r)'m) / sigma^2 ; lemma: log|V| adds log|D| + log|G|
        zm = (
            zr[..., 0] * m[..., 0]
            if self.q == 1
            else zr[..., 0] * m[..., 0] + zr[..., 1] * m[..., 1]
        )
        quad = (rss - zm) / sigma2
        log_comp = -0.5 * n_i * (LOG_2PI + np.log(sigma2)) - 0.5 * (logdet + quad)
        log_comp = log_comp + np.log(params.weights)[:, None, :]
        top = log_comp.max(axis=2, keepdims=True)
        shifted = np.exp(log_comp - top)
        total = shifted.sum(axis=2, keepdims=True)
        loglik_i = top[..., 0] + np.log(total[..., 0])  # (S, n)
        posterior = shifted / total
        return loglik_i.sum(axis=1), posterior, (m, c), loglik_i

    # --- M step ----------------------------------------------------------------------
    def _fixed_effects(self, posterior: np.ndarray, m: np.ndarray | None) -> np.ndarray:
        """Weighted least squares of y - Z m on X per class and start."""
        s = self.stats
        n_starts = posterior.shape[0]
        tau_t = posterior.transpose(0, 2, 1)  # (S, K, n)
        lhs = np.matmul(tau_t, self.xx_flat).reshape(n_starts, self.k, self.p, self.p)
        rhs = np.matmul(tau_t, s.xy)  # (S, K, p)
        if m is not None:
            xz = s.xx[:, :, : self.q]  # (n, p, q)
            for a in range(self.q):
                # sum_i tau_ik m_ika X_i'Z_ia: one matrix product per start and effect
                weighted = (posterior * m[..., a]).transpose(0, 2, 1)  # (S, K, n)
                rhs = rhs - np.matmul(weighted, xz[:, :, a])
        return np.linalg.solve(lhs + self.ridge, rhs[..., None])[..., 0]

    def _expected_moments(self, beta, m, c):
        """E||y - X beta - Z b||^2 (S, n, K) and E[b b'] (S, n, K, q, q) given the data."""
        rss = self._rss(beta)
        zr = self._z_residual(beta)
        second = m[..., :, None] * m[..., None, :] + c  # (S, n, K, q, q)
        zz = self.zz[None, :, None]  # (1, n, 1, q, q)
        # tr(Z'Z E[bb']) and (Z'r)'m written out for q = 1, 2 (generic reductions are slow)
        if self.q == 1:
            trace = zz[..., 0, 0] * second[..., 0, 0]
            cross = zr[..., 0] * m[..., 0]
        else:
            trace = (
                zz[..., 0, 0] * second[..., 0, 0]
                + 2.0 * zz[..., 0, 1] * second[..., 0, 1]
                + zz[..., 1, 1] * second[..., 1, 1]
            )
            cross = zr[..., 0] * m[..., 0] + zr[..., 1] * m[..., 1]
        resid = rss - 2.0 * cross + trace
        return np.maximum(resid, 0.0), second

    def _variances(self, posterior: np.ndarray, resid: np.ndarray) -> np.ndarray:
        tau_n = posterior * self.stats.n_obs[None, :, None]
        if self.shared:
            pooled = (posterior * resid).sum(axis=(1, 2)) / self.n_total
            sigma2 = np.repeat(pooled[:, None], self.k, axis=1)
        else:
            sigma2 = (posterior * resid).sum(axis=1) / np.maximum(tau_n.sum(axis=1), 1e-300)
        return np.maximum(sigma2, self.sigma2_floor)

    def _random_cov(self, posterior: np.ndarray, second: np.ndarray) -> np.ndarray:
        n_starts, q = posterior.shape[0], self.q
        flat = second.reshape(*second.shape[:3], q * q)  # (S, n, K, q^2)
        weighted = np.einsum("snk,snkj->skj", posterior, flat)  # (S, K, q^2)
        class_n = posterior.sum(axis=1)  # (S, K)
        if self.shared_random:
            pooled = weighted.sum(axis=1, keepdims=True) / posterior.shape[1]
            d = np.repeat(pooled, self.k, axis=1)
        else:
            d = weighted / np.maximum(class_n, 1e-300)[..., None]
        return self.floor_d(d.reshape(n_starts, self.k, q, q))

    def m_step(
        self,
        posterior: np.ndarray,
        moments=None,
        init: bool = False,
        split: np.ndarray | None = None,
    ) -> MixtureParams:
        """One M-step from posteriors (S, n, K) and random-effect moments (m, C).

        With ``init`` (no moments yet) the fixed effects are fitted without random effects and
        the residual variance is split between the random effects and the noise: ``split``
        (S, 2) gives the shares of the intercept and the slope (default :data:`DEFAULT_SPLIT`).
        """
        class_n = posterior.sum(axis=1)  # (S, K)
        weights = np.maximum(class_n / posterior.shape[1], MIN_WEIGHT)
        weights = weights / weights.sum(axis=1, keepdims=True)
        if init or moments is None:
            beta = self._fixed_effects(posterior, None)
            sigma2 = self._variances(posterior, self._rss(beta))
            return MixtureParams(weights, beta, *self._split_variance(sigma2, split))
        m, c = moments
        beta = self._fixed_effects(posterior, m)
        resid, second = self._expected_moments(beta, m, c)
        d = self._random_cov(posterior, second)
        return MixtureParams(weights, beta, self._variances(posterior, resid), d)

    def _split_variance(self, sigma2: np.ndarray, split: np.ndarray | None):
        """Share a start's residual variance between the random effects and the noise."""
        n_starts = sigma2.shape[0]
        if split is None:
            split = np.broadcast_to(np.asarray(DEFAULT_SPLIT), (n_starts, 2))
        if self.shared_random:
            level = np.repeat(sigma2.mean(axis=1, keepdims=True), self.k, axis=1)
        else:
            level = sigma2
        d = np.zeros((n_starts, self.k, self.q, self.q))
        d[..., 0, 0] = split[:, :1] * level
        if self.q == 2:
            d[..., 1, 1] = split[:, 1:2] * level
        noise = np.maximum((1.0 - split[:, :1]) * sigma2, self.sigma2_floor)
        return noise, self.floor_d(d)

    def floor_d(self, d: np.ndarray) -> np.ndarray:
        """Random-effect covariances kept positive definite (variances above a small floor)."""
        floor = self.d_floor
        if self.q == 1:
            return np.maximum(d, floor)
        d = d.copy()
        d[..., 0, 0] = np.maximum(d[..., 0, 0], floor)
        d[..., 1, 1] = np.maximum(d[..., 1, 1], floor)
        # keep |correlation| < 1 so D stays invertible
        limit = np.sqrt(d[..., 0, 0] * d[..., 1, 1]) * (1.0 - 1e-9)
        off = np.clip(d[..., 0, 1], -limit, limit)
        d[..., 0, 1] = off
        d[..., 1, 0] = off
        return d
