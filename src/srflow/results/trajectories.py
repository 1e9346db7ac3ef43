"""Trajectory outputs under ``trajectories/{name}/``.

``selection.csv``, ``classes.csv`` and ``curves.csv`` are written by
:func:`srflow.stages.trajectory_select_stage` (rule ``select_trajectories``); ``anchors.csv``
by :func:`srflow.stages.trajectory_series_stage` (rule ``trajectory_series_anchored``); the
per-K ``fits/K{k}.json`` by :func:`srflow.stages.trajectory_fit_stage` (rule
``fit_trajectories``).
"""

from __future__ import annotations

from typing import ClassVar

from srflow.results._record import ABSENT, Json, Record, record
from srflow.results._table import TableContract, col, pattern

SELECT_RULE = "select_trajectories"
FIT_RULE = "fit_trajectories"
ANCHOR_RULE = "trajectory_series_anchored"
PREDICTOR_RULE = "trajectory_predictors"
DISTAL_RULE = "trajectory_distal"

#: ``selection.csv``: one row per K. A K whose fit failed has only method, degree, K,
#: status ("failed") and error; fit indices are those of mixture models (LCGA, GMM) or, for
#: k-means, its cluster indices (loglik and information criteria empty).
SELECTION_TABLE = TableContract(
    what="trajectory selection table",
    rule=SELECT_RULE,
    columns=(
        col("method", "text"),
        col("degree", "int"),
        col("K", "int"),
        col("variance", "text", required=False),
        col("loglik", "float", required=False),
        col("npm", "float", required=False),
        col("n_participants", "int", required=False),
        col("n_observations", "int", required=False),
        col("aic", "float", required=False),
        col("bic", "float", required=False),
        col("sabic", "float", required=False),
        col("caic", "float", required=False),
        col("icl", "float", required=False),
        col("entropy", "float", required=False),
        col("smallest_class_size", "int", required=False),
        col("smallest_class_share", "float", required=False),
        col("smallest_weight", "float", required=False),
        col("appa", "text", required=False),  # per class, ";"-separated
        col("appa_min", "float", required=False),
        col("occ", "text", required=False),  # per class, ";"-separated; "NA" for K = 1
        col("occ_min", "float", required=False),
        col("class_sizes", "text", required=False),  # "n1/n2/..."
        col("converged", "bool", required=False),
        col("n_iter", "int", required=False),
        col("n_starts", "int", required=False),
        col("n_final_starts", "float", required=False),
        col("n_starts_at_best", "float", required=False),
        col("degenerate", "bool", required=False),
        col("degenerate_reason", "text", required=False),
        col("poorly_separated", "bool", required=False),
        col("calinski_harabasz", "float", required=False),  # k-means
        col("ray_turi", "float", required=False),
        col("davies_bouldin", "float", required=False),
        col("inertia", "float", required=False),
        col("blrt_lr", "float", required=False),  # with a bootstrap: K - 1 against K
        col("blrt_p", "float", required=False),
        col("blrt_replicates", "int", required=False),  # replicates used in blrt_p
        col("blrt_excluded_replicates", "int", required=False),  # not certified or failed
        col("blrt_refitted_replicates", "int", required=False),  # used after a refit from K - 1
        col("n_anchored", "int", required=False),  # anchored specs
        col("n_unanchored", "int", required=False),
        col("certification", "text", required=False),  # why a fit is suspect ("" when certified)
        col("bic_near", "text", required=False),  # the other K whose BIC is within 2
        col("small_classes", "text", required=False),  # classes under 5% or 25 participants
        col("status", "text"),
        col("error", "text"),
    ),
)

#: ``classes.csv``: each participant's class at every K, its label and the posteriors.
CLASSES_TABLE = TableContract(
    what="trajectory classes table",
    rule=SELECT_RULE,
    columns=(
        col("participant_id", "text"),
        col("K", "int"),
        col("class", "int"),
        col("label", "text"),
        pattern(r"post_[0-9]+", "float"),
    ),
)

#: ``curves.csv``: the fitted mean curve of every class at every K, with its standard error and
#: pointwise 95% band from the observed information (``se_status`` "ok" or why they are empty:
#: k-means, a boundary estimate, a singular information matrix), and the observed class
#: means (MAP classes) where there are observations.
CURVES_TABLE = TableContract(
    what="trajectory curves table",
    rule=SELECT_RULE,
    columns=(
        col("K", "int"),
        col("class", "int"),
        col("time", "float"),
        col("fitted", "float"),
        col("se", "float"),
        col("ci_low", "float"),
        col("ci_high", "float"),
        col("se_status", "text"),
        col("observed_mean", "float"),
        col("observed_sd", "float"),
        col("n_observed", "float"),
        col("label", "text"),
    ),
)

#: ``classification.csv``: per K, the mean posterior of every class among those assigned to each
#: class (a K x K matrix per K; the diagonal is the average posterior of the assigned class).
CLASSIFICATION_TABLE = TableContract(
    what="trajectory classification table",
    rule=SELECT_RULE,
    columns=(
        col("K", "int"),
        col("assigned_class", "int"),
        col("label", "text"),
        col("n", "int"),
        pattern(r"mean_post_[0-9]+", "float"),
    ),
)

#: ``predictors.csv``: log-odds of each class against the reference class, per K >= 2 and term;
#: ``status`` "ok" (optimum certified), "suspect" or "failed" (estimates NaN), ``reason`` why.
PREDICTORS_TABLE = TableContract(
    what="class-membership predictors table",
    rule=PREDICTOR_RULE,
    columns=(
        col("K", "int"),
        col("class", "int"),
        col("reference_class", "int"),
        col("label", "text"),
        col("term", "text"),
        col("estimate", "float"),
        col("se", "float"),
        col("statistic", "float"),
        col("p", "float"),
        col("ci_low", "float"),
        col("ci_high", "float"),
        col("odds_ratio", "float"),
        col("method", "text"),
        col("status", "text"),
        col("reason", "text"),
    ),
)

#: ``distal.csv``: BCH-weighted class means of each distal outcome, with a Wald test of equality.
DISTAL_TABLE = TableContract(
    what="distal-outcomes table",
    rule=DISTAL_RULE,
    columns=(
        col("K", "int"),
        col("class", "int"),
        col("label", "text"),
        col("outcome", "text"),
        col("mean", "float"),
        col("se", "float"),
        col("ci_low", "float"),
        col("ci_high", "float"),
        col("n", "float"),
        col("wald_chi2", "float"),
        col("wald_df", "float"),
        col("wald_p", "float"),
        col("method", "text"),
    ),
)

#: ``anchors.csv`` of an anchored spec: one row per participant of the series.
ANCHORS_TABLE = TableContract(
    what="trajectory anchors table",
    rule=ANCHOR_RULE,
    columns=(
        col("participant_id", "text"),
        col("anchored", "bool"),
        col("anchor_wave", "int"),
        pattern(
            r"[A-Za-z_0-9]+", "flexible"
        ),  # what anchor_on_event reports, then n_pre/n_peri/n_post
    ),
)


@record
class SplitFrame(Record):
    """A table stored in JSON as pandas ``orient="split"`` (column order kept)."""

    columns: tuple[str, ...]
    data: tuple[tuple[Json, ...], ...]


@record
class TrajectorySeriesDefinition(Record):
    """How a fit's series is built from a scores table (``parameters.series`` of a fit).

    ``variable`` is the spec's (P, E, an instrument, a covariate or ``"sr:<spec>"``),
    ``outcome`` its column in the series (``sr`` for SR), ``axis`` the spec's ``time``
    (``wave`` or ``time``), ``anchor`` the spec's anchor block (null: none).
    """

    variable: str
    outcome: str
    participant: str
    wave: str
    axis: str
    anchor: Json


@record
class TrajectoryBasis(Record):
    """How times enter a fit (``parameters.basis``).

    ``coding`` is ``legendre`` (mixtures: ``time`` mapped linearly from ``domain`` onto
    [-1, 1], then Legendre polynomials of degrees 0..``degree``) or ``grid`` (k-means: the
    series compared time point by time point at ``grid``).
    """

    coding: str
    time: str
    degree: int = ABSENT
    domain: tuple[float, ...] = ABSENT
    grid: tuple[float, ...] = ABSENT


@record
class TrajectoryParameters(Record):
    """Fitted parameters of a fit (``parameters``), enough to classify new participants.

    Mixtures (``lcga``, ``gmm``): ``weights`` (K), ``coefficients`` (K x (degree + 1), in the
    basis: ``coefficients_raw`` are the same curves in powers of raw time), residual
    ``sigma2`` (K), and for a GMM ``random`` effects with covariances ``random_cov`` (K x q x
    q, in the basis's scale). K-means: ``centres`` (K x grid). ``labels`` are the class labels.
    """

    srflow_version: str
    method: str
    series: TrajectorySeriesDefinition
    basis: TrajectoryBasis
    labels: tuple[str, ...]
    weights: tuple[float, ...]
    variance: str = ABSENT
    coefficients: tuple[tuple[float, ...], ...] = ABSENT
    coefficients_raw: tuple[tuple[float, ...], ...] = ABSENT
    sigma2: tuple[float, ...] = ABSENT
    random: tuple[str, ...] = ABSENT
    random_variance: str = ABSENT
    random_cov: tuple[tuple[tuple[float, ...], ...], ...] = ABSENT
    centres: tuple[tuple[float, ...], ...] = ABSENT


@record
class TrajectoryFit(Record):
    """``fits/K{k}.json``: one K of a spec; a fit also has its selection row and curves."""

    RULE: ClassVar[str] = FIT_RULE
    WHAT: ClassVar[str] = "trajectory fit file"

    spec: str
    K: int
    status: str
    reason: str | None
    selection: SplitFrame = ABSENT
    curves: SplitFrame = ABSENT
    parameters: TrajectoryParameters = ABSENT  # fitted parameters (not for a failed fit)
