"""Mixed-model outputs: ``mixed/{model}.fixed.csv``, ``.fit.json`` and ``.random.csv``.

Written by :func:`srflow.stages.mixed_stage` (rule ``fit_mixed_model``) from
:func:`srflow.mixed.fit_mixed_model` and :func:`srflow.mixed.likelihood_ratio_test`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from srflow.results._record import ABSENT, Json, Record, record
from srflow.results._table import TableContract, col, pattern

#: The rule that writes the three files of a model.
MIXED_RULE = "fit_mixed_model"

#: ``mixed/{model}.fixed.csv``: one row per fixed term ("Intercept" first); Wald z and
#: normal 95% CI. Empty (header only) when the model failed.
FIXED_TABLE = TableContract(
    what="fixed-effects table",
    rule=MIXED_RULE,
    columns=(
        col("term", "text"),
        col("estimate", "float"),
        col("se", "float"),
        col("df", "float", required=False),
        col("statistic", "float"),
        col("p", "float"),
        col("ci_low", "float"),
        col("ci_high", "float"),
        col("reference", "text", required=False),  # treatment-coding reference, e.g. site=A
    ),
)

#: ``mixed/{model}.anova.csv``: Type III F test per fixed term (one row however many columns).
ANOVA_TABLE = TableContract(
    what="Type III tests table",
    rule=MIXED_RULE,
    columns=(
        col("term", "text"),
        col("num_df", "float"),
        col("den_df", "float"),
        col("F", "float"),
        col("p", "float"),
    ),
)

#: ``mixed/{model}.random.csv``: participant_id, one column per random effect (its
#: conditional mode), ``<term>_sd`` (conditional SD) and, for a fitted model,
#: ``<term>_person`` (fixed + random: the person's own coefficient).
RANDOM_TABLE = TableContract(
    what="random-effects table",
    rule=MIXED_RULE,
    columns=(
        col("participant_id", "text"),
        pattern(r".+_sd", "float"),
        pattern(r".+_person", "float"),
        pattern(r".+", "float"),
    ),
)


@record
class VarianceComponents(Record):
    """Random-effect SDs by term, their correlations ("a:b") and the residual SD."""

    sd: Mapping[str, float | None]
    corr: Mapping[str, float | None]
    residual_sd: float | None
    ci: Json = ABSENT  # profile-likelihood intervals: {sd, corr, residual_sd}, [low, high] pairs
    ci_method: str = ABSENT
    # the upper level's random intercept: {group, n_groups, sd: {Intercept},
    # effects: {level, estimate, sd}} (each level's conditional mode and conditional SD)
    nested_in: Json = ABSENT


@record
class Comparison(Record):
    """Likelihood-ratio test of the ``compare_to`` model (small) against this one (large)."""

    small: str
    large: str
    method: str
    refit_with_ml: bool
    n_obs: int
    n_dropped_missing: int
    status: str
    reason: str | None
    chi2: float | None
    df: int | None
    p: float | None
    loglik_small: float | None = ABSENT
    loglik_large: float | None = ABSENT
    aic_small: float | None = ABSENT
    aic_large: float | None = ABSENT
    bic_small: float | None = ABSENT
    bic_large: float | None = ABSENT
    converged: bool = ABSENT
    singular: bool = ABSENT
    p_boundary: float | None = ABSENT  # one added random slope: mixture of chi-squares
    refit_from_smaller: Json = ABSENT  # {loglik_before, loglik_after} when the larger was refitted


@record
class MixedFit(Record):
    """``mixed/{model}.fit.json``: the fit of one mixed model (``status`` ok or failed).

    ``loglik``, ``aic`` and ``bic`` are of the fitting criterion (``loglik_type``: REML or
    ML); the intercept of the fixed effects is at zero of every predictor (no centring).
    """

    RULE: ClassVar[str] = MIXED_RULE
    WHAT: ClassVar[str] = "mixed-model fit file"

    model: str
    status: str
    reason: str | None
    method: str
    outcome: str
    fixed_terms: tuple[str, ...]
    random_terms: tuple[str, ...]
    loglik: float | None
    aic: float | None
    bic: float | None
    n_obs: int
    n_groups: int
    n_dropped_missing: int
    variance_components: VarianceComponents | None
    icc: float | None
    converged: bool
    singular: bool | None
    gradient_norm: float | None
    optimizer: str | None
    warnings: tuple[str, ...]
    loglik_type: str = ABSENT
    information_criteria_note: str = ABSENT
    n_params: int = ABSENT
    comparison: Comparison = ABSENT
    certificates: Json = ABSENT  # every start and bound checked, with the loglik it reached
    df_method: str = ABSENT
    r2_marginal: float | None = ABSENT
    r2_conditional: float | None = ABSENT
    nested_in: str = ABSENT  # the column participants are nested in (mixed_models.<m>.nested_in)

    @property
    def failed(self) -> bool:
        return self.status == "failed"
