"""Attrition (GRoLTS item 3b): who is still observed at the last wave, by baseline covariates.

One row per participant with a row at the cohort's first wave. The outcome is 1 when the
participant's P is scored at the cohort's last wave, else 0. The predictors are the numeric
(``numeric``, ``integer``) and ``category`` covariates at the first wave; a category is
treatment coded against its first level in sorted order (``arm[T.control]``); ``string``
and ``date`` covariates are left out. Participants with a missing covariate are dropped
(``n_dropped_missing``).

The logistic regression is fitted by iteratively reweighted least squares (Fisher scoring,
as R's ``glm(family = binomial)``), certified by the score (gradient of the
log-likelihood) at the estimate. SEs from the inverse Fisher information; Wald z tests and
95 % Wald CIs (R's ``confint.default``), odds ratios exp(estimate); a likelihood-ratio test
against the intercept-only model.

Status: ``ok``; ``suspect`` when fitted probabilities are numerically 0 or 1 (quasi-complete
separation: the estimates of the separating terms are not finite in truth); ``failed`` with
the reason for a single wave, no dropout or nobody retained, no covariate, collinear
predictors, complete separation or no convergence. Never an exception for the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ATTRITION_COLUMNS", "AttritionResult", "LogisticRegression", "fit_attrition"]

ATTRITION_COLUMNS = (
    "term",
    "estimate",
    "se",
    "statistic",
    "p",
    "ci_low",
    "ci_high",
    "odds_ratio",
    "or_ci_low",
    "or_ci_high",
)
INTERCEPT = "Intercept"
OUTCOME = "P observed at the last wave"
_NUMERIC_TYPES = ("numeric", "integer")
_MAX_ITERATIONS = 100
_DEVIANCE_TOLERANCE = 1e-12  # relative change; R's glm uses 1e-8
_GRADIENT_TOLERANCE = 1e-6  # max |score| relative to n
_BOUNDARY = 1e-10  # fitted probability this close to 0 or 1: separation
_Z = stats.norm.ppf(0.975)


class LogisticRegression:
    """Logistic regression by IRLS, with the intercept as the design's first column.

    Parameters
    ----------
    max_iter : int, default 100
        IRLS iterations at most.

    Attributes
    ----------
    coef_, se_ : numpy.ndarray
        Estimates and SEs (inverse Fisher information).
    loglik_ : float
        Log-likelihood at the estimate.
    n_iter_ : int
        Iterations used.
    converged_ : bool
        Whether the deviance settled (relative change below 1e-12 in two iterations running).
    max_gradient_ : float
        Largest absolute score X'(y - p) / n at the estimate.
    fitted_ : numpy.ndarray
        Fitted probabilities.

    Examples
    --------
    >>> x = np.array([0.0, 0, 0, 0, 1, 1, 1, 1])
    >>> y = np.array([0.0, 0, 0, 1, 0, 1, 1, 1])
    >>> fit = LogisticRegression().fit(np.column_stack([np.ones(8), x]), y)
    >>> np.round(fit.coef_, 10).tolist()  # log(1/3) and log(3) - log(1/3)
    [-1.0986122887, 2.1972245773]
    """

    def __init__(self, max_iter: int = _MAX_ITERATIONS) -> None:
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticRegression:
        """Fit by IRLS from the start R's ``binomial()$mustart`` gives ((y + 0.5) / 2)."""
        mu = (y + 0.5) / 2
        eta = np.log(mu / (1 - mu))
        deviance = np.inf
        beta = np.zeros(X.shape[1])
        self.converged_ = False
        settled = 0
        for iteration in range(1, self.max_iter + 1):
            weights = mu * (1 - mu)
            working = eta + (y - mu) / weights
            root = np.sqrt(weights)
            beta = np.linalg.lstsq(X * root[:, None], working * root, rcond=None)[0]
            eta = X @ beta
            mu = _inverse_logit(eta)
            new = _deviance(y, eta)
            self.n_iter_ = iteration
            # settled twice in a row: the step after the deviance settles is a full Newton
            # step near the optimum, which takes the estimates to machine precision
            settled = (
                settled + 1 if abs(new - deviance) / (abs(new) + 0.1) < _DEVIANCE_TOLERANCE else 0
            )
            deviance = new
            if settled == 2:
                self.converged_ = True
                break
        weights = mu * (1 - mu)
        information = X.T @ (X * weights[:, None])
        self.coef_ = beta
        self.se_ = np.sqrt(np.diag(np.linalg.pinv(information)))
        self.loglik_ = -deviance / 2
        self.fitted_ = mu
        self.max_gradient_ = float(np.abs(X.T @ (y - mu)).max() / len(y))
        return self


def _inverse_logit(eta: np.ndarray) -> np.ndarray:
    """exp(eta) / (1 + exp(eta)) kept within machine epsilon of 0 and 1, as R's binomial()."""
    eps = np.finfo(np.float64).eps
    return np.clip(1 / (1 + np.exp(-np.clip(eta, -500, 500))), eps, 1 - eps)


def _deviance(y: np.ndarray, eta: np.ndarray) -> float:
    """-2 log-likelihood of 0/1 outcomes at linear predictor eta (stable for large |eta|)."""
    return float(2 * np.sum(np.logaddexp(0, eta) - y * eta))


@dataclass(frozen=True)
class AttritionResult:
    """The attrition model: the coefficient table and the fit record's mapping."""

    coefficients: pd.DataFrame
    fit: dict = field(default_factory=dict)


def _baseline(
    scores: pd.DataFrame, covariates: Mapping[str, str]
) -> tuple[pd.DataFrame, list[str], int, int]:
    """One row per participant at the first wave: retained (0/1) and the usable covariates."""
    waves = scores["wave"].to_numpy()
    first, last = int(waves.min()), int(waves.max())
    used = [c for c, kind in covariates.items() if kind in _NUMERIC_TYPES or kind == "category"]
    base = scores.loc[waves == first, ["participant_id", *used]].reset_index(drop=True)
    at_last = scores.loc[(waves == last) & scores["P"].notna(), "participant_id"]
    base.insert(1, "retained", base["participant_id"].isin(set(at_last)).astype(np.float64))
    return base, used, first, last


def _design(frame: pd.DataFrame, used: list[str], covariates: Mapping[str, str]):
    """Intercept, numeric columns as they are, categories as treatment dummies."""
    columns, names = [np.ones(len(frame))], [INTERCEPT]
    for name in used:
        if covariates[name] == "category":
            text = frame[name].astype(str).to_numpy()
            levels = sorted(pd.unique(text), key=str)
            columns += [(text == level).astype(np.float64) for level in levels[1:]]
            names += [f"{name}[T.{level}]" for level in levels[1:]]
        else:
            columns.append(frame[name].to_numpy(dtype=np.float64))
            names.append(name)
    return np.column_stack(columns), names


def fit_attrition(scores: pd.DataFrame, covariates: Mapping[str, str]) -> AttritionResult:
    """Fit the attrition model of a scores table.

    Parameters
    ----------
    scores : pandas.DataFrame
        The scores table (participant_id, wave, P, the covariates).
    covariates : mapping of str to str
        Covariate -> its type (``columns.covariates`` of the config).

    Returns
    -------
    AttritionResult
        Coefficient rows (empty when the fit failed) and the fit mapping of
        :class:`srflow.results.AttritionFit`.
    """
    if not len(scores):
        return _failed({}, "the scores table has no rows")
    base, used, first, last = _baseline(scores, covariates)
    complete = base[used].notna().all(axis=1).to_numpy()
    frame = base.loc[complete].reset_index(drop=True)
    y = frame["retained"].to_numpy()
    header = {
        "first_wave": first,
        "last_wave": last,
        "covariates": used,
        "n_obs": int(len(y)),
        "n_retained": int(y.sum()),
        "n_dropped_missing": int((~complete).sum()),
    }
    reason = _unfit_reason(first, last, used, y)
    if reason:
        return _failed(header, reason)
    X, names = _design(frame, used, covariates)
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1] or X.shape[0] <= X.shape[1]:
        return _failed(header, _rank_reason(X, names, rank))
    model = LogisticRegression().fit(X, y)
    return _result(header, model, names, y)


def _unfit_reason(first: int, last: int, used: list[str], y: np.ndarray) -> str | None:
    if first == last:
        return f"the cohort has one wave only ({first}): there is no later wave to drop out of"
    if not used:
        return "the cohort has no numeric or category covariate to model attrition with"
    if not len(y):
        return "no participant has every covariate at the first wave"
    if y.min() == y.max():
        kept = "every" if y[0] == 1 else "no"
        return (
            f"{kept} participant of the first wave is observed at the last wave: nothing to model"
        )
    return None


def _rank_reason(X: np.ndarray, names: list[str], rank: int) -> str:
    if X.shape[0] <= X.shape[1]:
        return f"{X.shape[0]} participants for {X.shape[1]} coefficients"
    constant = [n for n, c in zip(names[1:], X[:, 1:].T, strict=True) if np.ptp(c) == 0]
    detail = f"constant: {', '.join(constant)}" if constant else "some predictors are collinear"
    return f"the design has rank {rank} for {X.shape[1]} coefficients ({detail})"


def _result(header: dict, model: LogisticRegression, names: list[str], y: np.ndarray):
    n1, n = y.sum(), len(y)
    null = float(n1 * np.log(n1 / n) + (n - n1) * np.log((n - n1) / n))
    boundary = (model.fitted_ < _BOUNDARY) | (model.fitted_ > 1 - _BOUNDARY)
    status, reason = "ok", None
    if boundary.all():
        return _failed(header, "complete separation: the covariates predict retention exactly")
    if not model.converged_ or model.max_gradient_ > _GRADIENT_TOLERANCE:
        return _failed(
            header,
            f"IRLS did not converge in {model.n_iter_} iterations (max score "
            f"{model.max_gradient_:.3g})",
        )
    if boundary.any():
        status = "suspect"
        reason = (
            f"quasi-complete separation: {int(boundary.sum())} fitted probabilities are "
            "numerically 0 or 1, so some estimates and SEs are not finite in truth"
        )
    statistic = 2 * (model.loglik_ - null)
    df = len(names) - 1
    table = _coefficient_table(names, model.coef_, model.se_)
    fit = {
        **header,
        "loglik": model.loglik_,
        "null_loglik": null,
        "lr_statistic": statistic,
        "lr_df": df,
        "lr_p": float(stats.chi2.sf(statistic, df)),
        "aic": -2 * model.loglik_ + 2 * len(names),
        "iterations": model.n_iter_,
        "max_gradient": model.max_gradient_,
        "status": status,
        "reason": reason,
    }
    return AttritionResult(table, _with_outcome(fit))


def _coefficient_table(names: list[str], estimate: np.ndarray, se: np.ndarray) -> pd.DataFrame:
    z = estimate / se
    low, high = estimate - _Z * se, estimate + _Z * se
    with np.errstate(over="ignore"):  # odds ratios of a separated term are infinite
        odds = np.exp(estimate), np.exp(low), np.exp(high)
    return pd.DataFrame(
        {
            "term": names,
            "estimate": estimate,
            "se": se,
            "statistic": z,
            "p": 2 * stats.norm.sf(np.abs(z)),
            "ci_low": low,
            "ci_high": high,
            "odds_ratio": odds[0],
            "or_ci_low": odds[1],
            "or_ci_high": odds[2],
        }
    )


def _with_outcome(fit: dict) -> dict:
    return {"outcome": OUTCOME, **fit}


def _failed(header: dict, reason: str) -> AttritionResult:
    empty = {c: pd.Series(dtype="str" if c == "term" else "float64") for c in ATTRITION_COLUMNS}
    fit = {
        "first_wave": None,
        "last_wave": None,
        "covariates": [],
        "n_obs": 0,
        "n_retained": 0,
        "n_dropped_missing": 0,
        **header,
        "loglik": None,
        "null_loglik": None,
        "lr_statistic": None,
        "lr_df": None,
        "lr_p": None,
        "aic": None,
        "iterations": None,
        "max_gradient": None,
        "status": "failed",
        "reason": reason,
    }
    return AttritionResult(pd.DataFrame(empty), _with_outcome(fit))
