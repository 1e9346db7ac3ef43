"""Ordinary least squares with classical or HC3 standard errors, and R ``lm``'s fit statistics.

The fit goes through a QR decomposition of the design (intercept first), as R's ``lm``
does. A design column that is (numerically) a combination of the columns before it, i.e.
whose QR diagonal is at most 1e-7 of the column's norm (R's ``lm`` tolerance), makes the
fit fail and is named, instead of being dropped silently as ``lm`` would (an NA estimate).

Conventions (all as in R):

- ``se="classical"``: cov = s^2 (X'X)^-1 with s^2 = RSS / (n - p).
- ``se="hc3"``: cov = (X'X)^-1 X' diag(e_i^2 / (1 - h_i)^2) X (X'X)^-1 (MacKinnon and
  White 1985; ``sandwich::vcovHC(type = "HC3")``); t tests keep the residual df (as
  ``lmtest::coeftest``), and the overall F is the Wald test of all slopes with this
  covariance divided by their number, on (p - 1, n - p) df (``lmtest::waldtest(test = "F")``).
- log-likelihood = -n/2 (log(2 pi) + log(RSS / n) + 1); AIC = -2 logLik + 2 (p + 1) and
  BIC = -2 logLik + log(n) (p + 1): the residual variance counts as a parameter, as in
  R's ``AIC(lm)``. (statsmodels' ``OLS.aic`` does not count it: it is 2 lower.)
- ``std_estimate`` = estimate x SD(design column) / SD(outcome), SDs with ddof 1 over the
  rows used (as ``lm.beta``); missing for the intercept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.linalg
from scipy import stats

from srflow.errors import ModelError

INTERCEPT = "Intercept"
SE_TYPES = ("classical", "hc3")
#: QR diagonal, relative to the column norm, at or below which a column counts as aliased.
ALIAS_TOLERANCE = 1e-7
#: Largest |cosine| between the residuals and a design column for a fit to count as certified:
#: exact least squares makes them orthogonal; QR reaches about machine epsilon x condition number.
ORTHOGONALITY_TOLERANCE = 1e-8
#: Leverage this close to 1 makes HC3 undefined (division by 1 - h).
_LEVERAGE_ONE = 1e-10
COEFFICIENT_COLUMNS = (
    "term",
    "estimate",
    "se",
    "df",
    "statistic",
    "p",
    "ci_low",
    "ci_high",
    "std_estimate",
)


@dataclasses.dataclass
class OLSRegression:
    """Least-squares fit of y on an intercept and the columns of X.

    Parameters
    ----------
    se : {"classical", "hc3"}
        Type of the standard errors.
    ci_level : float
        Confidence level of the intervals (t on the residual df).

    Attributes
    ----------
    params_ : ndarray
        Intercept, then one coefficient per column of X.
    cov_ : ndarray
        Covariance of ``params_`` of the chosen type.
    names_ : list of str
        ``"Intercept"``, then the column names.
    n_obs_, df_resid_ : int
    rss_, tss_, r2_, adj_r2_, sigma_, loglik_, aic_, bic_ : float
    f_, f_df1_, f_df2_, f_p_ : float or None
        Overall test of all slopes (None without slopes).
    std_params_ : ndarray
        Standardised coefficients (NaN for the intercept).
    condition_number_ : float
        Of the design with its columns scaled to unit length.
    max_residual_cosine_ : float
        Largest |cosine| between the residuals and a design column (0 at an exact optimum).
    status_, reason_ : str, str or None
        ``"ok"``, or ``"suspect"`` with the reason when the residuals are not orthogonal to
        the design within :data:`ORTHOGONALITY_TOLERANCE` (an ill-conditioned design).

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> fit = OLSRegression().fit(X, np.array([1.0, 3.0, 4.0, 7.0]), ["x"])
    >>> np.round(fit.params_, 6).tolist(), round(fit.r2_, 6)
    ([0.9, 1.9], 0.962667)
    """

    se: str = "classical"
    ci_level: float = 0.95

    def fit(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], where: str = "regression"
    ) -> OLSRegression:
        """Fit; a ModelError (naming ``where``) if the fit is not identified or not defined."""
        if self.se not in SE_TYPES:
            raise ValueError(f"se must be one of {SE_TYPES}; got {self.se!r}")
        X = np.column_stack([np.ones(len(y)), np.asarray(X, dtype=float).reshape(len(y), -1)])
        y = np.asarray(y, dtype=float)
        self.names_ = [INTERCEPT, *names]
        n, p = X.shape
        if n <= p:
            raise ModelError(
                f"{where}.predictors: the model has {p} coefficients (the intercept and "
                f"{p - 1} from the predictors) but only {n} participants with complete "
                "data; ordinary least squares needs more participants than coefficients"
            )
        q, r = scipy.linalg.qr(X, mode="economic")
        _check_aliasing(r, X, self.names_, where)
        self.params_ = scipy.linalg.solve_triangular(r, q.T @ y)
        fitted = X @ self.params_
        resid = y - fitted
        self._certify(X, resid, where)
        self.n_obs_, self.df_resid_ = n, n - p
        self.rss_ = float(resid @ resid)
        self.tss_ = float(((y - y.mean()) ** 2).sum())
        _check_residuals(self.rss_, self.tss_, fitted, n - p, where)
        r_inv = scipy.linalg.solve_triangular(r, np.eye(p))
        self.sigma_ = float(np.sqrt(self.rss_ / self.df_resid_))
        if self.se == "classical":
            self.cov_ = self.sigma_**2 * (r_inv @ r_inv.T)
        else:
            leverage = (q**2).sum(axis=1)
            if leverage.max() >= 1 - _LEVERAGE_ONE:
                raise ModelError(
                    f"{where}.se: HC3 is undefined: participant row {int(leverage.argmax())} "
                    "of the model has leverage 1 (a predictor value nobody else has)"
                )
            weighted = q * (resid / (1 - leverage))[:, None]
            self.cov_ = r_inv @ (weighted.T @ weighted) @ r_inv.T
        self._fit_statistics(X, y, p)
        return self

    def _certify(self, X: np.ndarray, resid: np.ndarray, where: str) -> None:
        """Check the normal equations X'e = 0 and record how well the design is conditioned."""
        norms = np.linalg.norm(X, axis=0)
        scale = max(float(np.linalg.norm(resid)), np.finfo(float).tiny)
        # numpy's pairwise sum rather than BLAS: the same bits however many threads BLAS uses
        self.max_residual_cosine_ = float(
            np.max(np.abs((X * resid[:, None]).sum(axis=0)) / (norms * scale))
        )
        self.condition_number_ = float(np.linalg.cond(X / norms))
        self.status_, self.reason_ = "ok", None
        if self.max_residual_cosine_ > ORTHOGONALITY_TOLERANCE:
            self.status_ = "suspect"
            self.reason_ = (
                f"{where}.predictors: the residuals are not orthogonal to the design (largest |cosine| "
                f"{self.max_residual_cosine_:.1e}; condition number {self.condition_number_:.1e}): "
                "the predictors are nearly collinear or on very different scales; "
                "centre or rescale them (z())"
            )

    def _fit_statistics(self, X: np.ndarray, y: np.ndarray, p: int) -> None:
        n = self.n_obs_
        self.r2_ = 1 - self.rss_ / self.tss_
        self.adj_r2_ = 1 - (1 - self.r2_) * (n - 1) / self.df_resid_
        self.loglik_ = -0.5 * n * (np.log(2 * np.pi) + np.log(self.rss_ / n) + 1)
        self.aic_ = -2 * self.loglik_ + 2 * (p + 1)
        self.bic_ = -2 * self.loglik_ + np.log(n) * (p + 1)
        self.f_ = self.f_df1_ = self.f_df2_ = self.f_p_ = None
        if p > 1:
            if self.se == "classical":
                f = (self.tss_ - self.rss_) / (p - 1) / (self.rss_ / self.df_resid_)
            else:
                slopes = self.params_[1:]
                f = float(slopes @ np.linalg.solve(self.cov_[1:, 1:], slopes)) / (p - 1)
            self.f_, self.f_df1_, self.f_df2_ = float(f), p - 1, self.df_resid_
            self.f_p_ = float(stats.f.sf(f, p - 1, self.df_resid_))
        sd_y = y.std(ddof=1)
        sd_x = X.std(axis=0, ddof=1)
        self.std_params_ = self.params_ * sd_x / sd_y
        self.std_params_[0] = np.nan

    def coefficient_table(self) -> pd.DataFrame:
        """One row per coefficient: term, estimate, se, df, statistic (t), p, ci_low, ci_high, std_estimate."""
        se = np.sqrt(np.diag(self.cov_))
        t = self.params_ / se
        crit = stats.t.ppf(0.5 + self.ci_level / 2, self.df_resid_)
        return pd.DataFrame(
            {
                "term": self.names_,
                "estimate": self.params_,
                "se": se,
                "df": np.full(len(se), self.df_resid_, dtype=np.int64),
                "statistic": t,
                "p": 2 * stats.t.sf(np.abs(t), self.df_resid_),
                "ci_low": self.params_ - crit * se,
                "ci_high": self.params_ + crit * se,
                "std_estimate": self.std_params_,
            },
            columns=list(COEFFICIENT_COLUMNS),
        )


def _check_aliasing(r: np.ndarray, X: np.ndarray, names: list[str], where: str) -> None:
    norms = np.linalg.norm(X, axis=0)
    diag = np.abs(np.diag(r))
    aliased = np.flatnonzero(diag <= ALIAS_TOLERANCE * np.maximum(norms, np.finfo(float).tiny))
    if len(aliased):
        j = int(aliased[0])
        what = (
            "all zero"
            if norms[j] == 0
            else (
                "constant"
                if j > 0 and np.ptp(X[:, j]) == 0
                else "a combination of the terms before it"
            )
        )
        raise ModelError(
            f"{where}.predictors: {names[j]!r} is {what} among the participants in the "
            "model, so its coefficient is not identified; drop it or change the data"
        )


def _check_residuals(rss: float, tss: float, fitted: np.ndarray, df: int, where: str) -> None:
    if tss == 0:
        raise ModelError(
            f"{where}.outcome: the outcome is constant among the participants in the model"
        )
    # R's summary.lm warns of an "essentially perfect fit" below this residual variance.
    if rss / df < (fitted.mean() ** 2 + fitted.var(ddof=1)) * 1e-30:
        raise ModelError(
            f"{where}: the predictors fit the outcome exactly (residuals 0), so "
            "standard errors and tests are undefined"
        )
