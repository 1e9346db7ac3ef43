"""Satterthwaite's degrees of freedom for contrasts of the fixed effects, as lmerTest.

For a contrast ``L beta`` with variance ``v(phi) = L C(phi) L'`` (``C`` the covariance of
``beta``, ``phi = (theta, sigma)`` the variance parameters), Satterthwaite's approximation
is ``df = 2 v^2 / (g' A g)`` where ``g = dv/dphi`` and ``A = 2 H^{-1}`` is the asymptotic
covariance of ``phi``, ``H`` the Hessian of the (REML or ML) deviance in ``phi``. lmerTest
uses exactly this parameterisation (``theta`` and ``sigma``, ``devfun_vp``), so the
numbers agree with ``summary(lmerTest::lmer(...))``. A multi-row contrast is tested by
lmerTest's F construction: the contrast is rotated to independent rows (eigenvectors of
``L C L'``), each row gets its own df, and those are pooled.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from srflow.mixed.engine import GroupStatistics, LmmFit
from srflow.mixed.varpar import (
    beta_covariance,
    deviance_hessian,
    deviance_steps,
    richardson_jacobian,
    varpar_deviance,
)

#: Eigenvalues of the deviance Hessian below this are treated as zero (lmerTest's tol).
HESSIAN_TOLERANCE = 1e-8


@dataclasses.dataclass(frozen=True)
class Satterthwaite:
    """The ingredients of Satterthwaite's df at a fitted model.

    Attributes
    ----------
    beta : ndarray
        Fixed effects (p,).
    vcov_beta : ndarray
        Their covariance (p, p).
    vcov_varpar : ndarray
        Asymptotic covariance of ``(theta, sigma)``: twice the (pseudo-)inverse Hessian.
    jacobian : ndarray
        ``d vcov_beta / d varpar``, (k, p, p).

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
    >>> round(float(Satterthwaite.at_fit(fit, group_statistics(y, X, Z, g)).coefficient_df()[1]), 4)
    17.0
    """

    beta: np.ndarray
    vcov_beta: np.ndarray
    vcov_varpar: np.ndarray
    jacobian: np.ndarray

    @classmethod
    def at_fit(cls, lmm: LmmFit, s: GroupStatistics) -> Satterthwaite:
        """Compute the Hessian and the Jacobian at the fitted ``(theta, sigma)``.

        Parameters
        ----------
        lmm : LmmFit
            The fitted model.
        s : GroupStatistics
            Its per-group cross-products (same data, same X and Z).

        Returns
        -------
        Satterthwaite
        """
        varpar = np.append(lmm.theta, lmm.sigma)

        def deviance(v: np.ndarray) -> float:
            return varpar_deviance(v, s, lmm.reml)

        return cls.from_functions(lmm, deviance, lambda v: beta_covariance(v, s), varpar)

    @classmethod
    def from_functions(cls, lmm: LmmFit, deviance, covariance, varpar: np.ndarray) -> Satterthwaite:
        """From the deviance and the fixed effects' covariance as functions of ``varpar``.

        Both are differenced with the same steps, widened where a relative step would not
        move the deviance above its rounding noise (:func:`deviance_steps`).
        """
        steps = deviance_steps(deviance, varpar)
        hess = deviance_hessian(deviance, varpar, steps=steps)
        values, vectors = np.linalg.eigh(0.5 * (hess + hess.T))
        keep = values > HESSIAN_TOLERANCE  # as lmerTest: a pseudo-inverse on the positive part
        h_inv = (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
        jacobian = richardson_jacobian(covariance, varpar, steps=steps)
        return cls(lmm.beta, lmm.beta_cov, 2.0 * h_inv, jacobian)

    def contrast_df(self, contrast: np.ndarray) -> float:
        """Satterthwaite df of one contrast row ``L`` (p,)."""
        contrast = np.asarray(contrast, dtype=float)
        variance = float(contrast @ self.vcov_beta @ contrast)
        gradient = np.einsum("p,kpr,r->k", contrast, self.jacobian, contrast)
        denominator = float(gradient @ self.vcov_varpar @ gradient)
        return 2.0 * variance**2 / denominator if denominator > 0 else np.inf

    def coefficient_df(self) -> np.ndarray:
        """df of every fixed effect (p,)."""
        return np.array([self.contrast_df(row) for row in np.eye(self.beta.size)])

    def f_test(self, contrast: np.ndarray) -> tuple[float, int, float]:
        """F test of ``L beta = 0`` for an (r, p) contrast, as lmerTest's ``contestMD``.

        Returns
        -------
        F, num_df, den_df
        """
        contrast = np.atleast_2d(np.asarray(contrast, dtype=float))
        values, vectors = np.linalg.eigh(contrast @ self.vcov_beta @ contrast.T)
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
        keep = values > max(np.sqrt(np.finfo(float).eps) * values[0], 0.0)
        rotated = (vectors.T @ contrast)[keep]
        values = values[keep]
        n_rows = int(keep.sum())
        f_value = float(((rotated @ self.beta) ** 2 / values).sum() / n_rows)
        nu = np.array([self.contrast_df(row) for row in rotated])
        return f_value, n_rows, pooled_df(nu)


def pooled_df(nu: np.ndarray) -> float:
    """One denominator df from per-row df of an F test (lmerTest's ``get_Fstat_ddf``).

    Examples
    --------
    >>> round(pooled_df(np.array([10.0, 20.0])), 6)
    13.076923
    """
    nu = np.asarray(nu, dtype=float)
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < 1e-8):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    expectation = float((nu / (nu - 2)).sum())
    return 2.0 * expectation / (expectation - nu.size)
