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
        membership effects, distal means are shown).
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


def _rows_with_trajectories(add, specs: Mapping[str, Any], facts: Mapping[str, Any]) -> None:
    has_time = bool(facts.get("has_time"))
    methods = {s.get("method", "lcga") for s in specs.values()}
    variances = {
        s.get("variance", "class") for s in specs.values() if s.get("method", "lcga") != "kmeans"
    }
    degrees = {int(s.get("degree", 2)) for s in specs.values()}
    includes_one = any(int(s.get("classes", [1, 4])[0]) == 1 for s in specs.values())
    time_axes = {s.get("time", "wave") for s in specs.values()}
    add(
        "1",
        AUTO,
        "Methods; Trajectories",
        "trajectories",
        "time axis: "
        + join_words(sorted("waves" if t == "wave" else "days/time as given" for t in time_axes)),
    )
    add(
        "2",
        AUTO if has_time else PARTLY,
        "Data overview: timing per wave",
        "overview",
        "" if has_time else "no assessment-time column configured; waves only",
    )
    add(
        "3a",
        PARTLY,
        "Methods",
        "methods",
        "the models assume missing at random; whether that is plausible is the author's judgement",
    )
    add(
        "3b",
        AUTHOR,
        "Data overview: retention per wave",
        "overview",
        "retention is shown; predictors of dropout are not analysed",
    )
    add(
        "3c",
        AUTO if methods != {"kmeans"} else PARTLY,
        "Methods",
        "methods",
        "missing waves drop out of the likelihood"
        if methods != {"kmeans"}
        else "k-means needs complete or imputed series",
    )
    add("4", AUTO, "Scores", "scores")
    add("5", AUTO, "Methods; reproducibility", "methods")
    mixture_methods = methods & {"lcga", "gmm"}
    gmm_words = (
        "the within-class random effects of the growth mixture model are stated"
        if "gmm" in methods
        else ""
    )
    add(
        "6a",
        AUTO if len(mixture_methods) > 1 else PARTLY,
        "Methods; Trajectories",
        "trajectories",
        ""
        if len(mixture_methods) > 1
        else "; ".join(
            w
            for w in (
                gmm_words,
                "one form is fitted and stated; justify it or add a spec with another method",
            )
            if w
        ),
    )
    structures = {
        (
            s.get("variance", "class"),
            s.get("random_variance", "shared") if s.get("method") == "gmm" else "",
        )
        for s in specs.values()
        if s.get("method", "lcga") != "kmeans"
    }
    add(
        "6b",
        AUTO if len(variances) > 1 or len(structures) > 1 else PARTLY,
        "Methods",
        "methods",
        ""
        if len(variances) > 1 or len(structures) > 1
        else "one (co)variance structure (residual and, for GMM, random-effect: shared or class-specific) is fitted and "
        "stated; justify it or add a spec with the other",
    )
    add(
        "7",
        AUTO if len(degrees) > 1 else PARTLY,
        "Methods; Trajectories",
        "trajectories",
        ""
        if len(degrees) > 1
        else "one polynomial degree is fitted; add a spec with another degree to compare shapes",
    )
    covariates = any(s.get("predictors") or s.get("distal") for s in specs.values())
    add(
        "8",
        AUTO,
        "Methods",
        "methods",
        "covariates enter after the classes are fixed (bias-adjusted three-step or BCH; the estimator and "
        "reference are named), so the classes use none; the config replicates both"
        if covariates
        else "the class models use no covariates; the config replicates them",
    )
    add(
        "9",
        AUTO if facts.get("starts_share") else PARTLY,
        "Methods; selection tables",
        "trajectories",
        ""
        if facts.get("starts_share")
        else "starts per K are stated; the share reaching the best fit is not in the results",
    )
    add("10", AUTO, "Methods; selection tables", "trajectories")
    add(
        "11",
        AUTO if includes_one else PARTLY,
        "Trajectories: selection tables",
        "trajectories",
        "" if includes_one else "no one-class model configured",
    )
    add(
        "12",
        AUTO,
        "Trajectories: class sizes",
        "trajectories",
        "counts below the report's threshold are suppressed",
    )
    add(
        "13",
        AUTO if facts.get("entropy") else PARTLY,
        "Trajectories: selection tables",
        "trajectories",
        (
            "the chosen K's classification matrix (mean posteriors by assigned class) is given too"
            if facts.get("classification")
            else ""
        )
        if facts.get("entropy")
        else "entropy is missing from the selection results",
    )
    add("14a", AUTO, "Trajectories: class curves (chosen K framed)", "trajectories")
    add("14b", AUTO, "Trajectories: class curves for every K", "trajectories")
    add(
        "14c",
        PARTLY,
        "Trajectories: class curves",
        "trajectories",
        "observed class means are drawn; individual trajectories are withheld for privacy",
    )
    described = ["class n, share and mean posterior probability"]
    if facts.get("classification"):
        described.append("the classification matrix")
    if facts.get("predictors"):
        described.append("odds ratios of membership with 95% CIs")
    if facts.get("distal"):
        described.append("distal-outcome class means with SEs and 95% CIs")
    add(
        "15",
        AUTO if facts.get("distal") else PARTLY,
        "Trajectories: class sizes, classification, predictors and distal outcomes",
        "trajectories",
        join_words(described)
        + " are given"
        + ("" if facts.get("distal") else "; SEs/CIs of the class curves are for the author"),
    )
    add(
        "16",
        PARTLY,
        "Reproducibility",
        "reproducibility",
        "the config (hash in the footer) and srflow version specify the analysis; the author must share the config",
    )
