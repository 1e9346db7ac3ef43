"""SR outputs: ``sr/{spec}.csv`` (one row per scored unit) and ``sr/{spec}.line.json``.

Written by :func:`srflow.stages.sr_stage` (rule ``sr_scores``) from :mod:`srflow.sr`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from srflow.results._record import ABSENT, Json, Record, record
from srflow.results._table import TableContract, col

#: The rule that writes both SR files.
SR_RULE = "sr_scores"

#: ``sr/{spec}.csv``: participant_id, the level's key columns, E, (P_previous), P,
#: P_expected, sr, sr_z. Key columns: ``wave`` (wave, multilevel), ``window`` (sliding),
#: ``wave_from`` and ``wave`` (change), none (period).
SR_TABLE = TableContract(
    what="SR table",
    rule=SR_RULE,
    columns=(
        col("participant_id", "text"),
        col("wave_from", "int", required=False),
        col("wave", "int", required=False),
        col("window", "int", required=False),
        col("E", "float"),
        col("P_previous", "float", required=False),
        col("P", "float"),
        col("P_expected", "float"),
        col("sr", "float"),
        col("sr_z", "float"),
    ),
)


@record
class Coefficient(Record):
    """One coefficient of a normative line (raw scale, or with E centred)."""

    term: str
    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    se_naive: float | None = ABSENT  # level change: the conventional OLS SE beside the CR1 one


@record
class ResidualQQ(Record):
    """Quantiles of the standardised residuals against the normal distribution."""

    probabilities: tuple[float, ...]
    theoretical: tuple[float, ...]
    sample: tuple[float, ...] | None


@record
class CooksDistance(Record):
    """Cook's distances of an OLS line: the largest, the 4/n threshold and how many exceed it."""

    max: float | None
    threshold: float | None
    n_above_threshold: int


@record
class RandomEffects(Record):
    """SDs (and the intercept-slope correlation) of the multilevel line's random effects."""

    sd: Mapping[str, float | None]
    corr: float | None
    note: str


@record
class LineFit(Record):
    """One normative line (one wave, window, or all units), as fitted.

    The intercept of ``coefficients`` is at E = 0; that of ``coefficients_centered`` at
    ``E_center`` (the mean E of the line's fitting units).
    """

    label: str | int | Mapping[str, int | str]
    n_used: int
    E_center: float | None
    coefficients: tuple[Coefficient, ...]
    coefficients_centered: tuple[Coefficient, ...]
    ci_method: str
    r2: float | None
    r2_adj: float | None
    sigma: float | None = ABSENT
    loglik_ml: float | None = ABSENT
    cooks_distance: CooksDistance | None = ABSENT
    cooks_note: str = ABSENT
    residual_qq: ResidualQQ = ABSENT
    residual_qq_note: str = ABSENT
    # level change (cluster-robust SEs)
    n_clusters: int = ABSENT
    se_type: str = ABSENT
    se_naive_note: str = ABSENT
    # outliers huber
    scale: float | None = ABSENT
    n_downweighted: int = ABSENT
    min_weight: float | None = ABSENT
    # level multilevel
    model: str = ABSENT
    criterion: str = ABSENT
    n_groups: int = ABSENT
    random_effects: RandomEffects = ABSENT
    r2_note: str = ABSENT
    r2_marginal: float | None = ABSENT
    r2_conditional: float | None = ABSENT
    loglik: float | None = ABSENT
    aic: float | None = ABSENT
    bic: float | None = ABSENT
    converged: bool = ABSENT
    singular: bool = ABSENT
    optimizer: str | None = ABSENT
    warnings: tuple[str, ...] = ABSENT

    def intercept_centre(self) -> str:
        """Where the intercept of ``coefficients_centered`` is: "E = <mean>" in words."""
        return (
            "at E = 0"
            if self.E_center is None
            else f"at E = {self.E_center:.4g} (the mean E of its units)"
        )


@record
class FormTest(Record):
    """Linear against quadratic form (computed for form auto; otherwise all null with a note)."""

    method: str | None
    statistic: float | None
    df: int | None
    p: float | None
    note: str
    per_line: tuple[float | None, ...] = ABSENT


@record
class Excluded(Record):
    """Candidate units left out of the fit, by reason."""

    missing: int = ABSENT
    too_few_waves: int = ABSENT
    not_reference: int = ABSENT
    outliers: int = ABSENT


@record
class Counts(Record):
    """Unit counts of a spec (``scored`` only once the table is built)."""

    candidates: int = ABSENT
    used: int = ABSENT
    participants_used: int = ABSENT
    excluded: Excluded = ABSENT
    scored: int = ABSENT


@record
class Outliers(Record):
    """The outlier rule and what it did (keys by method; per line where a list)."""

    method: str
    k: float
    bounds: Mapping[str, tuple[tuple[float | None, ...], ...]] = ABSENT  # winsorize
    n_winsorized: Mapping[str, tuple[int, ...]] = ABSENT  # winsorize
    variables: tuple[str, ...] = ABSENT  # mahalanobis
    df: int = ABSENT
    p_threshold: float = ABSENT
    d2_threshold: float = ABSENT
    n_excluded: tuple[int, ...] = ABSENT  # exclude, mahalanobis


@record
class SRSettings(Record):
    """The level-specific settings of the spec, echoed."""

    min_waves: int
    window: int
    min_in_window: int
    adjust_previous: bool


@record
class SRLine(Record):
    """``sr/{spec}.line.json``: the normative line(s) of one SR spec and their diagnostics.

    A failed spec has ``status: failed``, its ``reason``, the echoed settings and an empty
    ``n``; the fit keys are then absent.
    """

    RULE: ClassVar[str] = SR_RULE
    WHAT: ClassVar[str] = "SR line file"

    spec: str
    status: str
    reason: str | None
    level: str
    outcome: str
    exposure: str
    form_requested: str
    form_used: str | None
    alpha: float
    outliers: Outliers
    reference: str | Mapping[str, Json]
    waves: tuple[int, ...] | None
    settings: SRSettings
    sign_convention: str
    sr_z: str
    n: Counts
    standardize: str = (
        ABSENT  # "line" (sr_z within each normative line) or "pooled" (over all lines)
    )
    n_lines: int = ABSENT
    line_key: str | None = ABSENT
    form_test: FormTest = ABSENT
    lines: tuple[LineFit, ...] = ABSENT
    # form auto: both forms as fitted; a list of lines (OLS levels) or one line (multilevel)
    fits: Mapping[str, tuple[LineFit, ...] | LineFit | None] = ABSENT

    @property
    def failed(self) -> bool:
        return self.status == "failed"
