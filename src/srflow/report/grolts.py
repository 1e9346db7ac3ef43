"""The GRoLTS checklist (van de Schoot et al., 2017): each item marked by how far the report answers it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from srflow.report.text import join_words

AUTO, PARTLY, AUTHOR, NA = "filled automatically", "partly", "left to the author", "not applicable"

#: (number, text in our own words) for the 21 items of van de Schoot et al. (2017).
GROLTS_ITEMS: list[tuple[str, str]] = [
    ("1", "The metric of time in the model (waves, days, age, ...) is stated."),
    ("2", "The mean and spread of the assessment times within each wave are given."),
    ("3a", "The assumed mechanism behind the missing data is stated."),
    ("3b", "Variables that relate to attrition or missingness are described."),
    ("3c", "How missing data were handled in the analysis is described."),
    ("4", "The distribution of the observed outcome variables is described."),
    ("5", "The software used (with version) is named."),
    (
        "6a",
        "Alternative forms of within-class heterogeneity (e.g. LCGA against a growth mixture model) were tried and documented, or the choice is justified.",
    ),
    (
        "6b",
        "Alternative structures for between-class differences in (co)variances were tried and documented, or the choice is justified.",
    ),
    (
        "7",
        "Alternative shapes of the trajectories (e.g. linear, quadratic) were considered and are described.",
    ),
    ("8", "If covariates were used, the analysis can still be replicated."),
    ("9", "The number of random start values and of final optimisation runs is given."),
    ("10", "The statistical tools used to compare and select models are described."),
    ("11", "The total number of models fitted, including a one-class model, is reported."),
    ("12", "The number (or share) of cases per class is reported for each model."),
    ("13", "Entropy is reported when classifying cases is a goal."),
    ("14a", "A plot of the estimated mean trajectories of the final solution is shown."),
    ("14b", "Plots of the estimated mean trajectories of every fitted model are shown."),
    (
        "14c",
        "A plot combines the final model's estimated means with observed individual trajectories per class.",
    ),
    ("15", "The final classes are described numerically (means, SD or SE, n, CI, ...)."),
    ("16", "The analysis syntax is available (appendix, supplement or on request)."),
]


@dataclass(frozen=True)
class GroltsRow:
    """One row of the GRoLTS table."""

    item: str
    text: str
    mark: str
    where: str
    anchor: str
    note: str


def grolts_rows(cohort: Any, facts: Mapping[str, Any]) -> list[GroltsRow]:
    """Mark each GRoLTS item by how far the report answers it, given what is configured.

    Parameters
    ----------
    cohort
        The :class:`srflow.config.CohortConfig`.
    facts
        ``has_time`` (a time column with values), ``entropy`` (selection tables report
        entropy), ``starts_share`` (selection tables report the share of starts reaching the
        best log-likelihood), ``trajectory_results`` (any trajectory results present),
        ``classification``, ``predictors``, ``distal`` (the chosen K's classification matrix,
        membership effects, distal means are shown), ``attrition_model`` (a fitted attrition
        model is shown).
    """
    specs = dict(cohort.trajectories or {})
    rows: list[GroltsRow] = []

    def add(item: str, mark: str, where: str, anchor: str, note: str = "") -> None:
        rows.append(GroltsRow(item, dict(GROLTS_ITEMS)[item], mark, where, anchor, note))

    if not specs:
        _rows_without_trajectories(add, bool(facts.get("has_time")))
        return rows
    _rows_with_trajectories(add, specs, facts)
    if not facts.get("trajectory_results"):
        rows = [
            GroltsRow(
                r.item,
                r.text,
                PARTLY if r.mark == AUTO and r.anchor == "trajectories" else r.mark,
                r.where,
                r.anchor,
                (r.note + "; " if r.note else "") + "trajectory results missing"
                if r.anchor == "trajectories"
                else r.note,
            )
            for r in rows
        ]
    return rows


def _rows_without_trajectories(add, has_time: bool) -> None:
    add(
        "1",
        PARTLY,
        "Data overview",
        "overview",
        "waves and, if configured, days are shown; no trajectory model is configured",
    )
    add(
        "2",
        AUTO if has_time else NA,
        "Data overview: timing per wave",
        "overview",
        "" if has_time else "no assessment-time column configured",
    )
    for item in ("3a", "3b", "3c"):
        add(item, NA, "", "", "no trajectory model is configured")
    add("4", AUTO, "Scores", "scores")
    add("5", AUTO, "Methods; reproducibility", "methods")
    for item, _ in GROLTS_ITEMS[7:]:
        add(item, NA, "", "", "no trajectory model is configured")


#: The checklist rows when trajectories are configured, in item order: (item, where, anchor,
#: flag, (mark, note) when the flag holds, (mark, note) when it does not). A flag of None
#: always takes the first pair. Notes are filled in with :func:`_trajectory_words`.
_TRAJECTORY_ROWS: tuple[tuple[str, str, str, str | None, tuple[str, str], tuple[str, str]], ...] = (
    (
        "1",
        "Methods; Trajectories",
        "trajectories",
        None,
        (AUTO, "time axis: {time_axes}"),
        ("", ""),
    ),
    (
        "2",
        "Data overview: timing per wave",
        "overview",
        "has_time",
        (AUTO, ""),
        (PARTLY, "no assessment-time column configured; waves only"),
    ),
    (
        "3a",
        "Methods",
        "methods",
        None,
        (
            PARTLY,
            "the models assume missing at random; whether that is plausible is the author's judgement",
        ),
        ("", ""),
    ),
    (
        "3b",
        "Data overview: retention per wave; attrition",
        "overview",
        "attrition_model",
        (AUTO, "retention per wave and a logistic model of retention on the baseline covariates"),
        (AUTHOR, "retention is shown; no fitted model of dropout on the baseline covariates"),
    ),
    (
        "3c",
        "Methods",
        "methods",
        "not_kmeans_only",
        (AUTO, "missing waves drop out of the likelihood"),
        (PARTLY, "k-means needs complete or imputed series"),
    ),
    ("4", "Scores", "scores", None, (AUTO, ""), ("", "")),
    ("5", "Methods; reproducibility", "methods", None, (AUTO, ""), ("", "")),
    (
        "6a",
        "Methods; Trajectories",
        "trajectories",
        "several_mixtures",
        (AUTO, ""),
        (
            PARTLY,
            "{gmm_prefix}one form is fitted and stated; justify it or add a spec with another method",
        ),
    ),
    (
        "6b",
        "Methods",
        "methods",
        "several_structures",
        (AUTO, ""),
        (
            PARTLY,
            "one (co)variance structure (residual and, for GMM, random-effect: shared or class-specific) is fitted "
            "and stated; justify it or add a spec with the other",
        ),
    ),
    (
        "7",
        "Methods; Trajectories",
        "trajectories",
        "several_degrees",
        (AUTO, ""),
        (
            PARTLY,
            "one polynomial degree is fitted; add a spec with another degree to compare shapes",
        ),
    ),
    (
        "8",
        "Methods",
        "methods",
        "covariates",
        (
            AUTO,
            "covariates enter after the classes are fixed (bias-adjusted three-step or BCH; the estimator and "
            "reference are named), so the classes use none; the config replicates both",
        ),
        (AUTO, "the class models use no covariates; the config replicates them"),
    ),
    (
        "9",
        "Methods; selection tables",
        "trajectories",
        "starts_share",
        (AUTO, ""),
        (PARTLY, "starts per K are stated; the share reaching the best fit is not in the results"),
    ),
    ("10", "Methods; selection tables", "trajectories", None, (AUTO, ""), ("", "")),
    (
        "11",
        "Trajectories: selection tables",
        "trajectories",
        "includes_one",
        (AUTO, ""),
        (PARTLY, "no one-class model configured"),
    ),
    (
        "12",
        "Trajectories: class sizes",
        "trajectories",
        None,
        (AUTO, "counts below the report's threshold are suppressed"),
        ("", ""),
    ),
    (
        "13",
        "Trajectories: selection tables",
        "trajectories",
        "entropy",
        (AUTO, "{classification_note}"),
        (PARTLY, "entropy is missing from the selection results"),
    ),
    (
        "14a",
        "Trajectories: class curves (chosen K framed)",
        "trajectories",
        None,
        (AUTO, ""),
        ("", ""),
    ),
    ("14b", "Trajectories: class curves for every K", "trajectories", None, (AUTO, ""), ("", "")),
    (
        "14c",
        "Trajectories: class curves",
        "trajectories",
        None,
        (
            PARTLY,
            "observed class means are drawn; individual trajectories are withheld for privacy",
        ),
        ("", ""),
    ),
    (
        "15",
        "Trajectories: class sizes, classification, predictors and distal outcomes",
        "trajectories",
        "distal",
        (AUTO, "{described} are given"),
        (PARTLY, "{described} are given; SEs/CIs of the class curves are for the author"),
    ),
    (
        "16",
        "Reproducibility",
        "reproducibility",
        None,
        (
            PARTLY,
            "the config (hash in the footer) and srflow version specify the analysis; the author must share the "
            "config",
        ),
        ("", ""),
    ),
)


def _trajectory_flags(specs: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, bool]:
    """The conditions the rows of :data:`_TRAJECTORY_ROWS` switch on."""
    methods = {s.get("method", "lcga") for s in specs.values()}
    fitted = [s for s in specs.values() if s.get("method", "lcga") != "kmeans"]
    variances = {s.get("variance", "class") for s in fitted}
    structures = {
        (
            s.get("variance", "class"),
            s.get("random_variance", "shared") if s.get("method") == "gmm" else "",
        )
        for s in fitted
    }
    return {
        "has_time": bool(facts.get("has_time")),
        "not_kmeans_only": methods != {"kmeans"},
        "several_mixtures": len(methods & {"lcga", "gmm"}) > 1,
        "several_structures": len(variances) > 1 or len(structures) > 1,
        "several_degrees": len({int(s.get("degree", 2)) for s in specs.values()}) > 1,
        "covariates": any(s.get("predictors") or s.get("distal") for s in specs.values()),
        "starts_share": bool(facts.get("starts_share")),
        "includes_one": any(int(s.get("classes", [1, 4])[0]) == 1 for s in specs.values()),
        "entropy": bool(facts.get("entropy")),
        "distal": bool(facts.get("distal")),
        "attrition_model": bool(facts.get("attrition_model")),
    }


def _trajectory_words(specs: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, str]:
    """The computed parts of the notes of :data:`_TRAJECTORY_ROWS`."""
    time_axes = {s.get("time", "wave") for s in specs.values()}
    gmm = any(s.get("method", "lcga") == "gmm" for s in specs.values())
    described = ["class n, share and mean posterior probability"]
    if facts.get("classification"):
        described.append("the classification matrix")
    if facts.get("predictors"):
        described.append("odds ratios of membership with 95% CIs")
    if facts.get("distal"):
        described.append("distal-outcome class means with SEs and 95% CIs")
    return {
        "time_axes": join_words(
            sorted("waves" if t == "wave" else "days/time as given" for t in time_axes)
        ),
        "gmm_prefix": "the within-class random effects of the growth mixture model are stated; "
        if gmm
        else "",
        "classification_note": "the chosen K's classification matrix (mean posteriors by assigned class) is given too"
        if facts.get("classification")
        else "",
        "described": join_words(described),
    }


def _rows_with_trajectories(add, specs: Mapping[str, Any], facts: Mapping[str, Any]) -> None:
    flags = _trajectory_flags(specs, facts)
    words = _trajectory_words(specs, facts)
    for item, where, anchor, flag, when_true, when_false in _TRAJECTORY_ROWS:
        mark, note = when_true if flag is None or flags[flag] else when_false
        add(item, mark, where, anchor, note.format(**words))
