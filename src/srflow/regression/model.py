"""Fit one person-level regression of the ``regressions`` block, and its output files."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from srflow.config import RegressionSpec
from srflow.errors import ModelError
from srflow.regression.ols import COEFFICIENT_COLUMNS, OLSRegression
from srflow.regression.person import design, outcome_values, parse_spec_terms, person_data
from srflow.tables import jsonable, write_json, write_table

#: Keys of ``<name>.fit.json`` filled with null when the regression failed.
FIT_STATISTICS = (
    "n_obs",
    "n_dropped_missing",
    "r2",
    "adj_r2",
    "f",
    "f_df1",
    "f_df2",
    "f_p",
    "aic",
    "bic",
    "sigma",
    "loglik",
    "condition_number",
    "max_residual_cosine",
)
AIC_CONVENTION = (
    "R AIC(lm): -2 logLik + 2 (p + 1), BIC with log(n) (p + 1); the residual "
    "variance counts as a parameter"
)
STD_CONVENTION = (
    "estimate x SD(design column) / SD(outcome), SDs with ddof 1 over the model's participants"
)


@dataclasses.dataclass
class RegressionResult:
    """A fitted (or failed) person-level regression.

    Attributes
    ----------
    name : str
        The key under ``regressions``.
    coefficients : pandas.DataFrame
        Columns :data:`~srflow.regression.ols.COEFFICIENT_COLUMNS`; the header only if failed.
    fit : dict
        JSON-ready fit statistics, ``status`` and ``reason``.
    status : str
        ``"ok"``, ``"suspect"`` (fitted, but the optimum could not be certified: see ``reason``)
        or ``"failed"``.
    reason : str or None
        Why it failed (names the block and key).
    """

    name: str
    coefficients: pd.DataFrame
    fit: dict
    status: str = "ok"
    reason: str | None = None

    def write(self, coefficients_path: str | Path, fit_path: str | Path) -> None:
        """Write ``results/<cohort>/regressions/<name>.coefficients.csv`` and ``.fit.json``."""
        write_table(self.coefficients, coefficients_path)
        write_json(self.fit, fit_path)


def _header(spec: RegressionSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "outcome": spec.outcome,
        "predictors": list(spec.predictors),
        "aggregate": spec.aggregate,
        "se": spec.se,
        "aic_convention": AIC_CONVENTION,
        "std_estimate": STD_CONVENTION,
    }


def fit_regression(
    scores: pd.DataFrame,
    sr_tables: Mapping[str, pd.DataFrame],
    spec: RegressionSpec,
    sr_failures: Mapping[str, str] | None = None,
) -> RegressionResult:
    """Fit one person-level OLS regression.

    Parameters
    ----------
    scores : pandas.DataFrame
        The scores table (``participant_id``, ``wave``, the columns the spec names).
    sr_tables : mapping
        SR spec name -> its table (``participant_id`` read as text), for the specs named.
    spec : RegressionSpec
        The regression (see :class:`srflow.config.RegressionSpec`).
    sr_failures : mapping, optional
        SR spec name -> why it failed (from its ``.line.json``).

    Returns
    -------
    RegressionResult
        ``status`` is ``"ok"``, or ``"suspect"`` with the reason when the residuals are not
        orthogonal to the design to 1e-8 (an ill-conditioned design).

    Raises
    ------
    ConfigError
        The spec cannot be read (grammar, unknown column, a transform other than z()).
    ModelError
        The data cannot support it: a failed SR spec, too few participants, a collinear or
        constant predictor, a constant outcome.

    Examples
    --------
    >>> scores = pd.DataFrame({"participant_id": list("aabbccdd"), "wave": [1, 2] * 4,
    ...                        "P": [1.0, 9, 2, 9, 2, 9, 4, 9], "x": [0.0, 5, 1, 5, 2, 5, 3, 5]})
    >>> spec = RegressionSpec.from_config("r", {"outcome": "P", "predictors": ["x"]})
    >>> result = fit_regression(scores, {}, spec)
    >>> result.coefficients["estimate"].round(6).tolist(), result.fit["n_obs"]
    ([0.9, 0.9], 4)
    """
    where = f"regressions.{spec.name}"
    terms = parse_spec_terms(spec.outcome, list(spec.predictors), where)
    data = person_data(scores, sr_tables, terms, spec.aggregate, sr_failures)
    if len(data.frame) == 0:
        raise ModelError(f"{where}: no participant has a value for the outcome and every predictor")
    y = outcome_values(data.frame, terms[f"{where}.outcome"][0], f"{where}.outcome")
    X, names = design(data.frame, terms[f"{where}.predictors"], f"{where}.predictors")
    model = OLSRegression(se=spec.se).fit(X, y, names, where)
    fit = _header(spec)
    fit.update(
        status=model.status_,
        reason=model.reason_,
        n_obs=model.n_obs_,
        n_dropped_missing=data.n_participants - model.n_obs_,
        r2=model.r2_,
        adj_r2=model.adj_r2_,
        f=model.f_,
        f_df1=model.f_df1_,
        f_df2=model.f_df2_,
        f_p=model.f_p_,
        aic=model.aic_,
        bic=model.bic_,
        sigma=model.sigma_,
        loglik=model.loglik_,
        condition_number=model.condition_number_,
        max_residual_cosine=model.max_residual_cosine_,
    )
    return RegressionResult(
        spec.name,
        model.coefficient_table(),
        jsonable(fit),
        status=model.status_,
        reason=model.reason_,
    )


def failed_regression(spec: RegressionSpec, reason: str) -> RegressionResult:
    """A failed result: the coefficient header only, null statistics, the reason."""
    fit = _header(spec)
    fit.update({key: None for key in FIT_STATISTICS})
    fit.update(status="failed", reason=reason)
    empty = pd.DataFrame({column: pd.Series([], dtype="float64") for column in COEFFICIENT_COLUMNS})
    empty["term"] = empty["term"].astype(str)
    return RegressionResult(spec.name, empty, jsonable(fit), status="failed", reason=reason)


def safe_fit_regression(
    scores: pd.DataFrame,
    sr_tables: Mapping[str, pd.DataFrame],
    spec: RegressionSpec,
    sr_failures: Mapping[str, str] | None = None,
) -> RegressionResult:
    """Like :func:`fit_regression`, but data that cannot support the model give a failed result.

    A :class:`~srflow.errors.ModelError` becomes ``status="failed"`` with its message as the
    reason, so the other regressions still run; a configuration error still raises.

    Examples
    --------
    >>> scores = pd.DataFrame({"participant_id": ["a", "b"], "wave": [1, 1], "P": [1.0, 2.0],
    ...                        "x": [0.0, 1.0]})
    >>> spec = RegressionSpec.from_config("tiny", {"outcome": "P", "predictors": ["x"]})
    >>> result = safe_fit_regression(scores, {}, spec)
    >>> result.status, result.reason[:52]
    ('failed', 'regressions.tiny.predictors: the model has 2 coeffic')
    """
    try:
        return fit_regression(scores, sr_tables, spec, sr_failures)
    except ModelError as exc:
        reason = str(exc)
        if f"regressions.{spec.name}" not in reason:
            reason = f"regressions.{spec.name}: {reason}"
        return failed_regression(spec, reason)
