"""Kenward-Roger adjusted covariance and degrees of freedom, as pbkrtest (REML fits only).

The marginal covariance of group ``i`` is linear in the variance parameters
``gamma = (elements of D, sigma^2)``: ``Sigma_i = sum_r gamma_r G_ri`` with
``G_ri = Z_i E_r Z_i'`` for an element of the random-effects covariance ``D`` (``E_r`` the
symmetric unit matrix of that element) and ``G = I`` for the residual variance. pbkrtest's
``vcovAdj`` builds, from ``Phi = (X'Sigma^{-1}X)^{-1}``,

* ``P_r = -X'Sigma^{-1} G_r Sigma^{-1} X`` and ``Q_rs = X'Sigma^{-1} G_r Sigma^{-1} G_s Sigma^{-1} X``,
* the expected REML information ``I_rs = tr(Sigma^{-1}G_r Sigma^{-1}G_s) - 2 tr(Phi Q_rs)
  + tr(Phi P_r Phi P_s)`` and ``W = 2 I^{-1}``,
* the adjusted covariance ``Phi_A = Phi + 2 Phi U Phi``, ``U = sum_rs W_rs (Q_rs - P_r Phi P_s)``,

and the df and F scaling of a contrast from ``P``, ``W`` and ``Phi`` (``Lb_ddf``,
``KRmodcomp``). The traces and products reduce, by the Woodbury identity
``Sigma_i^{-1} = (I - Z_i K Z_i') / sigma^2`` with ``K = Lambda (I + Lambda'Z_i'Z_i Lambda)^{-1} Lambda'``,
to per-group q x q and q x p cross-products, so nothing of size n x n is ever formed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from srflow.mixed.engine import GroupStatistics, LmmFit, theta_to_lambda
from srflow.mixed.varpar import group_major


@dataclasses.dataclass(frozen=True)
class KenwardRoger:
    """pbkrtest's ``vcovAdj`` result: the adjusted covariance and what its df need.

    Attributes
    ----------
    beta : ndarray
    phi : ndarray
        Unadjusted covariance of beta (p, p).
    phi_adjusted : ndarray
        Kenward-Roger covariance (p, p).
    p_matrices : ndarray
        ``P_r`` stacked (m, p, p), m = number of variance parameters.
    w : ndarray
        ``W`` (m, m).

    Examples
    --------
    A balanced random-intercept design: the within-group slope has the classical
    ``N - G - 1 = 17`` df.

    >>> import numpy as np
    >>> from srflow.mixed.engine import fit_lmm, group_statistics
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(6), 4); t = np.tile(np.arange(4.0), 6)
    >>> y = 1 + 0.5 * t + rng.normal(0, 1, 6)[g] + rng.normal(0, 0.5, 24)
    >>> X, Z = np.column_stack([np.ones(24), t]), np.ones((24, 1))
    >>> fit = fit_lmm(y, X, Z, g)
    >>> round(float(KenwardRoger.at_fit(fit, group_statistics(y, X, Z, g)).coefficient_df()[1]), 4)
    17.0
    """

    beta: np.ndarray
    phi: np.ndarray
    phi_adjusted: np.ndarray
    p_matrices: np.ndarray
    w: np.ndarray

    @classmethod
    def at_fit(cls, lmm: LmmFit, s: GroupStatistics) -> KenwardRoger:
        """Adjusted covariance at a REML fit.

        Parameters
        ----------
        lmm : LmmFit
            A REML fit (pbkrtest refits ML models by REML; srflow refuses them earlier).
        s : GroupStatistics
            The fit's per-group cross-products.

        Returns
        -------
        KenwardRoger
        """
        p_mats, q_mats, k_trace = _derivative_products(lmm, s)
        phi = lmm.beta_cov
        m = len(p_mats)
        info = np.empty((m, m))
        for r in range(m):
            for t in range(r, m):
                info[r, t] = info[t, r] = (
                    k_trace[r, t]
                    - 2.0 * np.sum(phi * q_mats[r][t])
                    + np.sum((phi @ p_mats[r]) * (p_mats[t] @ phi))
                )
        condition = np.min(np.abs(np.linalg.eigvalsh(info)))
        w = 2.0 * (np.linalg.inv(info) if condition > 1e-10 else np.linalg.pinv(info))
        w = 0.5 * (w + w.T)
        u = np.zeros_like(phi)
        for r in range(m):
            for t in range(m):
                u += w[r, t] * (q_mats[r][t] - p_mats[r] @ phi @ p_mats[t])
        phi_adjusted = phi + 2.0 * phi @ u @ phi
        return cls(lmm.beta, phi, 0.5 * (phi_adjusted + phi_adjusted.T), np.stack(p_mats), w)

    def _a_terms(self, contrast: np.ndarray) -> tuple[float, float, int]:
        theta = contrast.T @ np.linalg.solve(contrast @ self.phi @ contrast.T, contrast)
        u = np.einsum("ab,rbc,cd->rad", theta @ self.phi, self.p_matrices, self.phi)
        traces = np.einsum("raa->r", u)
        a1 = float(traces @ self.w @ traces)
        a2 = float(np.einsum("rs,rab,sba->", self.w, u, u))
        return a1, a2, int(np.linalg.matrix_rank(contrast))

    def ddf_and_scaling(self, contrast: np.ndarray) -> tuple[float, float]:
        """Kenward-Roger denominator df and F scaling of an (r, p) contrast (pbkrtest)."""
        contrast = np.atleast_2d(np.asarray(contrast, dtype=float))
        a1, a2, q = self._a_terms(contrast)
        b = (a1 + 6.0 * a2) / (2.0 * q)
        g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
        denom = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
        v0 = 1 + c1 * b
        v0 = 0.0 if abs(v0) < 1e-10 else v0
        v1, v2 = 1 - c2 * b, 1 - c3 * b
        ratio = 1.0 if abs(1 - a2 / q) < 1e-14 and abs(v1) < 1e-14 else (1 - a2 / q) / v1
        rho = ratio**2 * v0 / v2 / q
        df2 = 4 + (q + 2) / (q * rho - 1)
        scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - a2 / q) / (df2 - 2)
        return float(df2), float(scaling)

    def coefficient_df(self) -> np.ndarray:
        """Kenward-Roger df of every fixed effect, as lmerTest's ``summary(ddf = "Kenward-Roger")``."""
        return np.array([self.ddf_and_scaling(row)[0] for row in np.eye(self.beta.size)])

    def f_test(self, contrast: np.ndarray) -> tuple[float, int, float]:
        """Scaled F test of ``L beta = 0`` (pbkrtest's ``KRmodcomp``, as lmerTest's anova uses it).

        Returns
        -------
        F, num_df, den_df
        """
        contrast = np.atleast_2d(np.asarray(contrast, dtype=float))
        df2, scaling = self.ddf_and_scaling(contrast)
        estimate = contrast @ self.beta
        wald = float(
            estimate @ np.linalg.solve(contrast @ self.phi_adjusted @ contrast.T, estimate)
        )
        q = int(np.linalg.matrix_rank(contrast))
        return scaling * wald / q, q, df2


def _element_bases(q: int) -> list[np.ndarray]:
    """Symmetric unit matrices of the lower-triangle elements of a q x q covariance."""
    bases = []
    for j in range(q):
        for i in range(j, q):
            e = np.zeros((q, q))
            e[i, j] = e[j, i] = 1.0
            bases.append(e)
    return bases


def _derivative_products(lmm: LmmFit, s: GroupStatistics):
    """``P_r``, ``Q_rs`` and ``tr(Sigma^{-1}G_r Sigma^{-1}G_s)`` from per-group cross-products.

    The residual-variance parameter is last. With ``A_i = Z'Sigma^{-1}Z``,
    ``B_i = Z'Sigma^{-1}X``, ``R_i = (I - K C_i) / sigma^2`` (so ``Sigma^{-1}Z_i = Z_i R_i``):
    ``Z'Sigma^{-2}Z = R'C R``, ``Z'Sigma^{-2}X = R'B``, and the sums over groups of
    ``X'Sigma^{-2}X``, ``X'Sigma^{-3}X = (X'Sigma^{-2}X - sum_i B_i'K B_i) / sigma^2`` and
    ``tr Sigma^{-2}`` follow by expanding the squares.
    """
    ztz, ztxy = group_major(s)
    q, p = ztz.shape[1], s.xtx.shape[0]
    c, f = ztz, ztxy[:, :, :p]
    s2 = lmm.sigma**2
    lam = theta_to_lambda(lmm.theta, q)
    k = lam @ np.linalg.solve(lam.T @ c @ lam + np.eye(q), np.broadcast_to(lam.T, c.shape))
    kc = k @ c
    a = (c - c @ kc) / s2
    b = (f - c @ (k @ f)) / s2
    r = (np.eye(q) - kc) / s2
    z2z = np.swapaxes(r, 1, 2) @ c @ r  # Z'Sigma^{-2}Z
    z2x = np.swapaxes(r, 1, 2) @ b  # Z'Sigma^{-2}X
    kf = k @ f
    x2x = (
        s.xtx - 2.0 * np.einsum("gqa,gqb->ab", f, kf) + np.einsum("gqa,gqr,grb->ab", kf, c, kf)
    ) / s2**2
    x3x = (x2x - np.einsum("gqa,gqr,grb->ab", b, k, b)) / s2
    trace2 = (
        s.counts.sum() - 2.0 * np.einsum("gab,gba->", k, c) + np.einsum("gab,gba->", kc, kc)
    ) / s2**2

    bases = _element_bases(q)
    m = len(bases) + 1
    p_mats = [-np.einsum("gqa,qr,grb->ab", b, e, b) for e in bases] + [-x2x]
    eb = [np.einsum("qr,grb->gqb", e, b) for e in bases]  # E_r B_i
    q_mats = [[None] * m for _ in range(m)]
    k_trace = np.empty((m, m))
    for i, e_i in enumerate(bases):
        for j, e_j in enumerate(bases):
            q_mats[i][j] = np.einsum("gqa,gqr,grb->ab", eb[i], a, eb[j])
            k_trace[i, j] = np.einsum("qr,grs,st,gtq->", e_i, a, e_j, a)
        q_mats[i][m - 1] = np.einsum("gqa,gqb->ab", eb[i], z2x)
        q_mats[m - 1][i] = q_mats[i][m - 1].T
        k_trace[i, m - 1] = k_trace[m - 1, i] = np.einsum("qr,grq->", e_i, z2z)
    q_mats[m - 1][m - 1] = x3x
    k_trace[m - 1, m - 1] = trace2
    return p_mats, q_mats, k_trace
