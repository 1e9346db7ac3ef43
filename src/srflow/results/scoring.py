"""Score-stage outputs beside the scores table: how P and E were made, reliability, attrition.

Written by :func:`srflow.stages.score_stage` (rule ``score``):

* ``scoring.json`` (:class:`ScoringSummary`) from :func:`srflow.scoring.composite_p`;
* ``reliability.csv`` (:data:`RELIABILITY_TABLE`) from :func:`srflow.reliability.reliability_table`;
* ``attrition.csv`` (:data:`ATTRITION_TABLE`) and ``attrition.json`` (:class:`AttritionFit`)
  from :func:`srflow.attrition.fit_attrition`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from srflow.results._record import ABSENT, Record, record
from srflow.results._table import TableContract, col

__all__ = [
    "ATTRITION_TABLE",
    "RELIABILITY_TABLE",
    "AttritionFit",
    "ExposureScore",
    "ProblemsScore",
    "ScoringSummary",
]

SCORE_RULE = "score"


@record
class ProblemsScore(Record):
    """How P was made: one instrument (``single``), or a composite (``zmean``, ``pca1``)."""

    combine: str
    instruments: tuple[str, ...]
    status: str
    reason: str | None
    n_complete: int = ABSENT
    z_mean: Mapping[str, float | None] = ABSENT
    z_sd: Mapping[str, float | None] = ABSENT
    # pca1 only
    weights: Mapping[str, float | None] = ABSENT
    loadings: Mapping[str, float | None] = ABSENT
    eigenvalues: tuple[float | None, ...] = ABSENT
    explained_variance: float | None = ABSENT
    scale: str = ABSENT


@record
class ExposureScore(Record):
    """How E was made: the stressor instruments and exposure.combine."""

    combine: str
    instruments: tuple[str, ...]


@record
class ScoringSummary(Record):
    """``scoring.json``: how the scores table's P and E were made."""

    RULE: ClassVar[str] = SCORE_RULE
    WHAT: ClassVar[str] = "scoring summary"

    cohort: str
    P: ProblemsScore
    E: ExposureScore


#: ``reliability.csv``: per instrument (roles problems and covariate) and wave, on the rows
#: with every item answered: n, the number of items, Cronbach's alpha (item covariances) and
#: McDonald's omega total (one-factor minres on the item correlations, as psych::omega), and a
#: note saying why a value is missing (empty otherwise).
RELIABILITY_TABLE = TableContract(
    what="reliability table",
    rule=SCORE_RULE,
    columns=(
        col("instrument", "text"),
        col("wave", "int"),
        col("n", "int"),
        col("n_items", "int"),
        col("alpha", "float"),
        col("omega", "float"),
        col("note", "text"),
    ),
)

#: ``attrition.csv``: the logistic regression of "P observed at the last wave" on the
#: baseline covariates: one row per coefficient (Wald z tests, 95 % Wald CIs, odds ratios).
ATTRITION_TABLE = TableContract(
    what="attrition table",
    rule=SCORE_RULE,
    columns=(
        col("term", "text"),
        col("estimate", "float"),
        col("se", "float"),
        col("statistic", "float"),
        col("p", "float"),
        col("ci_low", "float"),
        col("ci_high", "float"),
        col("odds_ratio", "float"),
        col("or_ci_low", "float"),
        col("or_ci_high", "float"),
    ),
)


@record
class AttritionFit(Record):
    """``attrition.json``: the attrition model's fit, its LR test against the null, status."""

    RULE: ClassVar[str] = SCORE_RULE
    WHAT: ClassVar[str] = "attrition fit"

    outcome: str
    first_wave: int | None
    last_wave: int | None
    covariates: tuple[str, ...]
    n_obs: int
    n_retained: int
    n_dropped_missing: int
    loglik: float | None
    null_loglik: float | None
    lr_statistic: float | None
    lr_df: int | None
    lr_p: float | None
    aic: float | None
    iterations: int | None
    max_gradient: float | None
    status: str
    reason: str | None
