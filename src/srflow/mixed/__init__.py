"""Linear mixed models with one grouping factor (participants).

A fast profiled-(RE)ML engine on per-participant sufficient statistics
(:func:`fit_lmm`), model specs declared as data (:class:`MixedModelSpec`), fitting a spec
to a long table with tidy outputs and failures reported as data
(:func:`fit_mixed_model`), and likelihood-ratio tests of nested specs on ML fits
(:func:`likelihood_ratio_test`). statsmodels' MixedLM serves as the cross-check in the
tests, lme4 as the reference.
"""

from srflow.mixed.comparison import likelihood_ratio_test
from srflow.mixed.design import ALLOWED_FORMS, MixedModelSpec, parse_term
from srflow.mixed.engine import (
    GroupStatistics,
    LmmFit,
    fit_lmm,
    group_statistics,
    profiled_deviance,
)
from srflow.mixed.models import MixedModelResult, fit_mixed_model
from srflow.mixed.recipe import DesignRecipe

__all__ = [
    "ALLOWED_FORMS",
    "DesignRecipe",
    "GroupStatistics",
    "LmmFit",
    "MixedModelResult",
    "MixedModelSpec",
    "fit_lmm",
    "fit_mixed_model",
    "group_statistics",
    "likelihood_ratio_test",
    "parse_term",
    "profiled_deviance",
]
