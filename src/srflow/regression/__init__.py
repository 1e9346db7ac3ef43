"""Person-level regressions: one row per participant, ordinary least squares.

``person`` builds the participants' values and the design from the variable grammar
(``srflow.variables``), ``ols`` fits (classical or HC3 SEs, R ``lm``'s statistics),
``model`` ties them to a spec of the config's ``regressions`` block and writes the outputs.
"""

from srflow.regression.model import (
    AIC_CONVENTION,
    FIT_STATISTICS,
    RegressionResult,
    failed_regression,
    fit_regression,
    safe_fit_regression,
)
from srflow.regression.ols import COEFFICIENT_COLUMNS, INTERCEPT, SE_TYPES, OLSRegression
from srflow.regression.person import PersonData, person_data

__all__ = [
    "AIC_CONVENTION",
    "COEFFICIENT_COLUMNS",
    "FIT_STATISTICS",
    "INTERCEPT",
    "OLSRegression",
    "PersonData",
    "RegressionResult",
    "SE_TYPES",
    "failed_regression",
    "fit_regression",
    "person_data",
    "safe_fit_regression",
]
