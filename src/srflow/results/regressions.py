"""Person-level regression outputs: ``regressions/{name}.coefficients.csv`` and ``.fit.json``.

Written by :func:`srflow.stages.regression_stage` (rule ``regressions``) from
:func:`srflow.regression.safe_fit_regression`. A failed regression keeps both files: the
coefficients header only, and a fit record whose statistics are all null with the reason.
"""

from __future__ import annotations

from typing import ClassVar

from srflow.results._record import Record, record
from srflow.results._table import TableContract, col

#: The rule that writes the two files of a regression.
REGRESSION_RULE = "regressions"

#: ``regressions/{name}.coefficients.csv``: one row per coefficient ("Intercept" first); t on
#: the residual df, CI on the t distribution, ``std_estimate`` = estimate x SD(design column)
#: / SD(outcome) (empty for the intercept). Header only when the regression failed.
REGRESSION_COEFFICIENTS_TABLE = TableContract(
    what="regression coefficients table",
    rule=REGRESSION_RULE,
    columns=(
        col("term", "text"),
        col("estimate", "float"),
        col("se", "float"),
        col("df", "int"),
        col("statistic", "float"),
        col("p", "float"),
        col("ci_low", "float"),
        col("ci_high", "float"),
        col("std_estimate", "float"),
    ),
)


@record
class RegressionFit(Record):
    """``regressions/{name}.fit.json``: the fit of one person-level OLS regression.

    ``status`` is ok, suspect (the residuals are not orthogonal to the design: ``reason``
    says why) or failed (every statistic null). The spec is echoed (``name``, ``outcome``,
    ``predictors``, ``aggregate``, ``se``) and two conventions are written in words
    (``aic_convention``, ``std_estimate``). ``f`` and its df are null without slopes.

    Examples
    --------
    >>> import pandas as pd
    >>> from srflow.config import RegressionSpec
    >>> from srflow.regression import fit_regression
    >>> scores = pd.DataFrame({"participant_id": list("abcde"), "wave": 1, "P": [1.0, 3, 4, 7, 9],
    ...                        "x": [0.0, 1, 2, 3, 4]})
    >>> result = fit_regression(scores, {}, RegressionSpec.from_config("r", {"outcome": "P", "predictors": ["x"]}))
    >>> fit = RegressionFit.from_json(result.fit, "regressions/r.fit.json")
    >>> fit.status, fit.n_obs, fit.f_df1, fit.to_json() == result.fit
    ('ok', 5, 1, True)
    """

    RULE: ClassVar[str] = REGRESSION_RULE
    WHAT: ClassVar[str] = "regression fit file"

    name: str
    outcome: str
    predictors: tuple[str, ...]
    aggregate: str
    se: str
    aic_convention: str
    std_estimate: str
    status: str
    reason: str | None
    n_obs: int | None
    n_dropped_missing: int | None
    r2: float | None
    adj_r2: float | None
    f: float | None
    f_df1: int | None
    f_df2: int | None
    f_p: float | None
    aic: float | None
    bic: float | None
    sigma: float | None
    loglik: float | None
    condition_number: float | None
    max_residual_cosine: float | None

    @property
    def failed(self) -> bool:
        return self.status == "failed"
