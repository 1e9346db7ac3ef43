"""Generated prose for the report: the methods paragraph, the reference list and the
GRoLTS checklist. Everything here is derived from the validated config, so the text
changes when the analysis does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The reference list; keys are used to cite. DOIs are shown as text, never linked.
REFERENCES: dict[str, dict[str, str]] = {
    "kalisch2017": {
        "cite": "Kalisch et al., 2017",
        "text": (
            "Kalisch R, Baker DG, Basten U, et al. (2017). The resilience framework as a strategy to combat "
            "stress-related disorders. Nature Human Behaviour, 1, 784–790. doi:10.1038/s41562-017-0200-8"
        ),
    },
    "kalisch2021": {
        "cite": "Kalisch et al., 2021",
        "text": (
            "Kalisch R, Köber G, Binder H, et al. (2021). The Frequent Stressor and Mental Health Monitoring-"
            "Paradigm: a proposal for the operationalization and measurement of resilience and the "
            "identification of resilience processes in longitudinal observational studies. Frontiers in "
            "Psychology, 12, 710493. doi:10.3389/fpsyg.2021.710493"
        ),
    },
    "bonanno2004": {
        "cite": "Bonanno, 2004",
        "text": (
            "Bonanno GA (2004). Loss, trauma, and human resilience: have we underestimated the human capacity "
            "to thrive after extremely aversive events? American Psychologist, 59(1), 20–28. "
            "doi:10.1037/0003-066X.59.1.20"
        ),
    },
    "vandeschoot2017": {
        "cite": "van de Schoot et al., 2017",
        "text": (
            "van de Schoot R, Sijbrandij M, Winter SD, Depaoli S, Vermunt JK (2017). The GRoLTS-Checklist: "
            "guidelines for reporting on latent trajectory studies. Structural Equation Modeling, 24(3), "
            "451–467. doi:10.1080/10705511.2016.1247646"
        ),
    },
    "molder2021": {
        "cite": "Mölder et al., 2021",
        "text": (
            "Mölder F, Jablonski KP, Letcher B, et al. (2021). Sustainable data analysis with Snakemake. "
            "F1000Research, 10, 33. doi:10.12688/f1000research.29032.2"
        ),
    },
    "harris2020": {
        "cite": "Harris et al., 2020",
        "text": (
            "Harris CR, Millman KJ, van der Walt SJ, et al. (2020). Array programming with NumPy. Nature, 585, "
            "357–362. doi:10.1038/s41586-020-2649-2"
        ),
    },
    "mckinney2010": {
        "cite": "McKinney, 2010",
        "text": (
            "McKinney W (2010). Data structures for statistical computing in Python. Proceedings of the 9th "
            "Python in Science Conference, 56–61. doi:10.25080/Majora-92bf1922-00a"
        ),
    },
    "seabold2010": {
        "cite": "Seabold & Perktold, 2010",
        "text": (
            "Seabold S, Perktold J (2010). Statsmodels: econometric and statistical modeling with Python. "
            "Proceedings of the 9th Python in Science Conference, 92–96. doi:10.25080/Majora-92bf1922-011"
        ),
    },
    "virtanen2020": {
        "cite": "Virtanen et al., 2020",
        "text": (
            "Virtanen P, Gommers R, Oliphant TE, et al. (2020). SciPy 1.0: fundamental algorithms for scientific "
            "computing in Python. Nature Methods, 17, 261–272. doi:10.1038/s41592-019-0686-2"
        ),
    },
    "hunter2007": {
        "cite": "Hunter, 2007",
        "text": (
            "Hunter JD (2007). Matplotlib: a 2D graphics environment. Computing in Science & Engineering, 9(3), "
            "90–95. doi:10.1109/MCSE.2007.55"
        ),
    },
}


def _cite(key: str, used: list[str]) -> str:
    if key not in used:
        used.append(key)
    return REFERENCES[key]["cite"]


def _join(words: Sequence[str], last: str = "and") -> str:
    words = [str(w) for w in words]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {last} " + words[-1]


def _waves_text(waves: Sequence[int]) -> str:
    waves = list(waves)
    return ("wave " if len(waves) == 1 else "waves ") + _join([str(w) for w in waves])


SCORE_TEXT = {
    "sum": "the sum of its items (missing unless every item was answered)",
    "mean": "the mean of the answered items (missing when fewer than {share} of the items were answered)",
    "prorated_sum": (
        "the prorated sum (mean of the answered items times the number of items; missing when fewer than "
        "{share} of the items were answered)"
    ),
}
SELECTOR_TEXT = {"prefix": "the columns starting with '{sel}'", "regex": "the columns matching '{sel}'", "columns": "the columns {sel}"}


def _instrument_text(inst: Any) -> str:
    selector = inst.selector if inst.selector_kind != "columns" else ", ".join(inst.selector)
    share = f"{100 * inst.min_answered:.0f}%"
    parts = [
        f"{inst.name} ({SELECTOR_TEXT[inst.selector_kind].format(sel=selector)}, valid range "
        f"{inst.range[0]:g}–{inst.range[1]:g}"
    ]
    if inst.reverse:
        parts.append(f", {len(inst.reverse)} item{'s' if len(inst.reverse) != 1 else ''} reverse-scored")
    parts.append(f"), scored as {SCORE_TEXT[inst.score].format(share=share)}")
    if inst.role == "stressors":
        parts.append(
            "; stressor items entered as rated (severity)"
            if inst.method == "severity"
            else "; each stressor item counted as present when rated above the lowest value (count)"
        )
    return "".join(parts)


LEVEL_TEXT = {
    "wave": "fitted by ordinary least squares separately at each wave, giving one SR score per participant and wave",
    "period": (
        "fitted across participants to each participant's mean P and mean E over {waves} (participants with at "
        "least {min_waves} wave{s} with both scores), giving one SR score per participant"
    ),
    "multilevel": (
        "estimated in a linear mixed model of P on E with a random intercept and a random E slope per "
        "participant and predicted from the fixed effects only, giving one SR score per observation"
    ),
    "sliding": (
        "fitted in sliding windows of {window} consecutive waves to per-participant window means (at least "
        "{min_in_window} observed wave{s2} per window), one line per window"
    ),
    "change": (
        "relating the change in P between consecutive waves to E over that interval{adjust}, giving one SR "
        "score per interval"
    ),
}
FORM_TEXT = {
    "linear": "a linear normative line",
    "quadratic": "a quadratic normative line",
    "auto": (
        "a linear or a quadratic normative line, whichever a likelihood-ratio test of the quadratic term at "
        "alpha = {alpha:g} preferred (both fits are reported)"
    ),
}
OUTLIER_TEXT = {
    "none": "no outlier handling",
    "winsorize": "P and E winsorized at the mean ± {k:g} SD while fitting the line",
    "exclude": "observations with |z| ≥ {k:g} on P or E left out of the fit",
    "mahalanobis": "observations with a joint (E, P) Mahalanobis distance at chi-square p ≤ 0.001 left out of the fit",
    "huber": "a robust (Huber) regression fit",
}


def describe_sr_spec(name: str, spec: Mapping[str, Any]) -> str:
    """One sentence describing an SR spec: level, form, outlier handling and reference rows."""
    level = spec.get("level", "wave")
    form = spec.get("form", "linear")
    outliers = spec.get("outliers", "none")
    waves = spec.get("waves")
    level_text = LEVEL_TEXT.get(level, f"computed at level '{level}'").format(
        waves=_waves_text(waves) if waves else "all waves",
        min_waves=spec.get("min_waves", 1),
        s="s" if spec.get("min_waves", 1) != 1 else "",
        window=spec.get("window", 3),
        min_in_window=spec.get("min_in_window", 1),
        s2="s" if spec.get("min_in_window", 1) != 1 else "",
        adjust=", adjusted for the previous wave's P" if spec.get("adjust_previous") else "",
    )
    form_text = FORM_TEXT.get(form, f"a normative line of form '{form}'").format(alpha=float(spec.get("alpha", 0.05)))
    outlier_text = OUTLIER_TEXT.get(outliers, f"outlier handling '{outliers}'").format(k=float(spec.get("k", 3)))
    sentence = f"SR spec '{name}' used {form_text}, {level_text}, with {outlier_text}"
    if outliers != "none":
        sentence += " (the line was then applied to everyone's unaltered values, so no score is censored)"
    reference = spec.get("reference", "all")
    if isinstance(reference, Mapping) and "waves" in reference:
        sentence += f"; the line was defined on {_waves_text(reference['waves'])} and applied to every row"
    elif isinstance(reference, Mapping) and "column" in reference:
        sentence += (
            f"; the line was defined on the rows where {reference['column']} = {reference['value']} and "
            "applied to every row"
        )
    else:
        sentence += "; the line was defined on all rows"
    if level != "period" and waves:
        sentence += f"; only {_waves_text(waves)} were used"
    outcome, exposure = spec.get("outcome", "P"), spec.get("exposure", "E")
    if outcome != "P" or exposure != "E":
        sentence += f"; outcome {outcome}, exposure {exposure}"
    return sentence + "."


def mixed_formula(spec: Mapping[str, Any]) -> str:
    """The model in lme4-style notation, assembled from the spec's validated names."""
    fixed = " + ".join(["1", *spec.get("fixed", [])])
    random = " + ".join(["1", *spec.get("random", [])])
    return f"{spec.get('outcome', 'P')} ~ {fixed} + ({random} | participant)"


TRAJECTORY_METHOD_TEXT = {
    "lcga": "latent class growth analysis (LCGA: each class its own polynomial curve, no random effects within classes)",
    "gmm": "a growth mixture model (each class its own polynomial curve plus a class-specific random intercept)",
    "kmeans": "longitudinal k-means on the participants' series",
}
DEGREE_TEXT = {1: "linear", 2: "quadratic", 3: "cubic"}


def describe_trajectory_spec(name: str, spec: Mapping[str, Any]) -> str:
    """One sentence describing a trajectory spec."""
    method = spec.get("method", "lcga")
    low, high = spec.get("classes", [1, 4])
    degree = int(spec.get("degree", 2))
    variable = spec.get("variable", "P")
    variable_text = f"SR (spec '{variable[3:]}')" if str(variable).startswith("sr:") else variable
    sentence = (
        f"Trajectory spec '{name}' modelled {variable_text} over {'waves' if spec.get('time', 'wave') == 'wave' else 'time'} by "
        f"{TRAJECTORY_METHOD_TEXT.get(method, method)} with {DEGREE_TEXT.get(degree, f'degree-{degree}')} class curves, "
        f"K = {low} to {high} classes"
    )
    if method != "kmeans":
        sentence += (
            f", {spec.get('starts', 50)} random starts per K (best log-likelihood kept), "
            f"{'class-specific' if spec.get('variance', 'class') == 'class' else 'one shared'} residual variance, "
            "and missing waves left out of the likelihood (assumed missing at random)"
        )
    else:
        sentence += f", {spec.get('starts', 50)} random starts per K"
    if int(spec.get("bootstrap", 0) or 0) > 0:
        sentence += f"; a parametric bootstrap likelihood-ratio test with {spec['bootstrap']} replicates compared K with K - 1"
    anchor = spec.get("anchor")
    if anchor:
        sentence += (
            f"; participants were aligned on the first wave at which {anchor['column']} reached {anchor['threshold']:g} "
            f"after a wave below it ({anchor.get('pre', 2)} waves before, {anchor.get('post', 3)} after)"
        )
    return sentence + "."


def methods_paragraphs(cohort: Any, facts: Mapping[str, Any], packages: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """The methods text as paragraphs, and the keys of the references cited (in citing order).

    Parameters
    ----------
    cohort
        The :class:`srflow.config.CohortConfig`.
    facts
        Numbers from the data already formatted for display: ``participants``, ``waves``,
        ``rows``, ``excluded`` (strings, small counts already suppressed).
    packages
        Package name -> version.
    """
    used: list[str] = []
    paragraphs: list[str] = []
    time_text = (
        "assessment times were taken from the column "
        f"'{cohort.columns.time}' ({'days since each participant’s first assessment' if cohort.columns.time_type != 'number' else 'numbers as given'})"
        if cohort.columns.time
        else "no assessment-time column was configured, so waves serve as the time axis"
    )
    paragraphs.append(
        f"Cohort '{cohort.name}' contributed {facts.get('participants', '–')} participants and {facts.get('rows', '–')} "
        f"scored assessments over {facts.get('waves', '–')} waves, read from {cohort.input.name} ({cohort.layout} layout); "
        f"{time_text}."
    )
    problems = cohort.problems
    stressors = cohort.stressors
    text = f"Mental-health problems (P) were measured with {_instrument_text(problems)}."
    if stressors:
        combine = (
            "the sum of the stressor instrument scores"
            if cohort.exposure_combine == "sum"
            else "the mean of the z-scored stressor instrument scores (z over all scored rows), so each stressor type weighs the same"
        )
        text += (
            f" Stressor exposure (E) was {combine}"
            + (f"; instruments: {'; '.join(_instrument_text(s) for s in stressors)}." if len(stressors) > 1 or cohort.exposure_combine == "zmean" else f"; instrument: {_instrument_text(stressors[0])}.")
        )
    else:
        text += " No stressor instrument was configured, so E is missing."
    codes = list(cohort.missing_codes)
    if codes:
        text += (f" The code {codes[0]} was read as missing." if len(codes) == 1
                 else f" The codes {_join([str(c) for c in codes])} were read as missing.")
    paragraphs.append(text)
    policy = (
        "any failure stopped the run, so every analysed row passed every check"
        if cohort.on_invalid == "fail"
        else f"rows failing any check were excluded ({facts.get('excluded', '–')} rows) and listed with the reason in the row ledger"
    )
    careless = cohort.careless
    straight = {
        "flag": "flagged (kept and marked)",
        "exclude": "excluded",
        "off": "not checked",
    }[careless.straightlining]
    careless_text = (
        f"Rows answering every item of {_join(list(careless.instruments))} identically (at least {careless.min_items} answered items) were {straight}."
        if careless.straightlining != "off"
        else "Straightlining was not checked."
    )
    paragraphs.append(
        "The data were validated against a schema built from the configuration (participant ids present, one row per "
        "participant and wave, waves whole numbers from 1, times non-decreasing within a participant, items numeric "
        f"within their range or a declared missing code, covariates of their declared type); {policy}. {careless_text}"
    )
    if cohort.sr:
        intro = (
            "Stressor reactivity (SR) follows the resilience framework's outcome-based view "
            f"({_cite('kalisch2017', used)}) and its operationalisation for frequent monitoring ({_cite('kalisch2021', used)}): "
            "the normative relation between stressor exposure E and mental-health problems P is estimated across the sample, "
            "and a participant's SR is the residual P minus expected P, reported raw (in P's units) and as a z-score over the "
            "scored units. Negative SR means fewer problems than expected for the stressors met, i.e. more resilient."
        )
        paragraphs.append(" ".join([intro, *(describe_sr_spec(n, s) for n, s in cohort.sr.items())]))
    if cohort.mixed_models:
        sentences = []
        for name, spec in cohort.mixed_models.items():
            method = "restricted maximum likelihood (REML)" if spec.get("method", "reml") == "reml" else "maximum likelihood (ML)"
            sentence = f"Model '{name}', {mixed_formula(spec)}, was fitted by {method}"
            if spec.get("compare_to"):
                sentence += f" and compared with model '{spec['compare_to']}' by a likelihood-ratio test on ML fits"
            sentences.append(sentence + ".")
        paragraphs.append(
            "Linear mixed models with participants as the grouping factor were fitted by profiled likelihood, trying "
            "several optimisers and flagging singular fits (a variance near zero or a correlation at ±1). "
            + " ".join(sentences)
        )
    if cohort.trajectories:
        sentences = [describe_trajectory_spec(n, s) for n, s in cohort.trajectories.items()]
        paragraphs.append(
            " ".join(sentences)
            + " The number of classes was chosen as the lowest BIC among solutions without a degenerate class; AIC, "
            "sample-size-adjusted BIC and entropy are reported alongside. Classes were named after the prototypical "
            f"trajectories described by {_cite('bonanno2004', used).replace(', ', ' (')}) (resilient, recovery, chronic, delayed) by explicit rules on the "
            f"class curves, and the analysis is reported along the GRoLTS checklist ({_cite('vandeschoot2017', used)})."
        )
    software = [f"srflow {packages.get('srflow', '(version unknown)')}"]
    if "python" in packages:
        software.append(f"Python {packages['python']}")
    cited = []
    for package, key in (("numpy", "harris2020"), ("pandas", "mckinney2010"), ("scipy", "virtanen2020"),
                         ("statsmodels", "seabold2010"), ("matplotlib", "hunter2007")):
        version = packages.get(package)
        cited.append(f"{package}{' ' + version if version else ''} ({_cite(key, used)})")
    snakemake_version = packages.get("snakemake")
    paragraphs.append(
        f"Analyses used {_join(software)} with {_join(cited)}; the workflow was run with Snakemake"
        f"{' ' + snakemake_version if snakemake_version else ''} ({_cite('molder2021', used)}). "
        "All random numbers derive from the configured seed, and the same configuration and input give a "
        "byte-identical report."
    )
    return paragraphs, used


# --------------------------------------------------------------------------------------
# GRoLTS checklist
# --------------------------------------------------------------------------------------

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
    ("6a", "Alternative forms of within-class heterogeneity (e.g. LCGA against a growth mixture model) were tried and documented, or the choice is justified."),
    ("6b", "Alternative structures for between-class differences in (co)variances were tried and documented, or the choice is justified."),
    ("7", "Alternative shapes of the trajectories (e.g. linear, quadratic) were considered and are described."),
    ("8", "If covariates were used, the analysis can still be replicated."),
    ("9", "The number of random start values and of final optimisation runs is given."),
    ("10", "The statistical tools used to compare and select models are described."),
    ("11", "The total number of models fitted, including a one-class model, is reported."),
    ("12", "The number (or share) of cases per class is reported for each model."),
    ("13", "Entropy is reported when classifying cases is a goal."),
    ("14a", "A plot of the estimated mean trajectories of the final solution is shown."),
    ("14b", "Plots of the estimated mean trajectories of every fitted model are shown."),
    ("14c", "A plot combines the final model's estimated means with observed individual trajectories per class."),
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
        best log-likelihood), ``trajectory_results`` (any trajectory results present).
    """
    specs = dict(cohort.trajectories or {})
    has_time = bool(facts.get("has_time"))
    rows: list[GroltsRow] = []

    def add(item: str, mark: str, where: str, anchor: str, note: str = "") -> None:
        text = dict(GROLTS_ITEMS)[item]
        rows.append(GroltsRow(item, text, mark, where, anchor, note))

    if not specs:
        add("1", PARTLY, "Data overview", "overview", "waves and, if configured, days are shown; no trajectory model is configured")
        add("2", AUTO if has_time else NA, "Data overview: timing per wave", "overview",
            "" if has_time else "no assessment-time column configured")
        for item in ("3a", "3b", "3c"):
            add(item, NA, "", "", "no trajectory model is configured")
        add("4", AUTO, "Scores", "scores")
        add("5", AUTO, "Methods; reproducibility", "methods")
        for item, _ in GROLTS_ITEMS[7:]:
            add(item, NA, "", "", "no trajectory model is configured")
        return rows

    methods = {s.get("method", "lcga") for s in specs.values()}
    variances = {s.get("variance", "class") for s in specs.values() if s.get("method", "lcga") != "kmeans"}
    degrees = {int(s.get("degree", 2)) for s in specs.values()}
    includes_one = any(int(s.get("classes", [1, 4])[0]) == 1 for s in specs.values())
    time_axes = {s.get("time", "wave") for s in specs.values()}
    add("1", AUTO, "Methods; Trajectories", "trajectories",
        "time axis: " + _join(sorted("waves" if t == "wave" else "days/time as given" for t in time_axes)))
    add("2", AUTO if has_time else PARTLY, "Data overview: timing per wave", "overview",
        "" if has_time else "no assessment-time column configured; waves only")
    add("3a", PARTLY, "Methods", "methods",
        "the models assume missing at random; whether that is plausible is the author's judgement")
    add("3b", AUTHOR, "Data overview: retention per wave", "overview",
        "retention is shown; predictors of dropout are not analysed")
    add("3c", AUTO if methods != {"kmeans"} else PARTLY, "Methods", "methods",
        "missing waves drop out of the likelihood" if methods != {"kmeans"} else "k-means needs complete or imputed series")
    add("4", AUTO, "Scores", "scores")
    add("5", AUTO, "Methods; reproducibility", "methods")
    mixture_methods = methods & {"lcga", "gmm"}
    add("6a", AUTO if len(mixture_methods) > 1 else PARTLY, "Methods; Trajectories", "trajectories",
        "" if len(mixture_methods) > 1 else "one form is fitted and stated; justify it or add a spec with another method")
    add("6b", AUTO if len(variances) > 1 else PARTLY, "Methods", "methods",
        "" if len(variances) > 1 else "one variance structure is fitted and stated; justify it or add a spec with the other")
    add("7", AUTO if len(degrees) > 1 else PARTLY, "Methods; Trajectories", "trajectories",
        "" if len(degrees) > 1 else "one polynomial degree is fitted; add a spec with another degree to compare shapes")
    add("8", AUTO, "Methods", "methods", "the class models use no covariates; the config replicates them")
    add("9", AUTO if facts.get("starts_share") else PARTLY, "Methods; selection tables", "trajectories",
        "" if facts.get("starts_share") else "starts per K are stated; the share reaching the best fit is not in the results")
    add("10", AUTO, "Methods; selection tables", "trajectories")
    add("11", AUTO if includes_one else PARTLY, "Trajectories: selection tables", "trajectories",
        "" if includes_one else "no one-class model configured")
    add("12", AUTO, "Trajectories: class sizes", "trajectories", "counts below the report's threshold are suppressed")
    add("13", AUTO if facts.get("entropy") else PARTLY, "Trajectories: selection tables", "trajectories",
        "" if facts.get("entropy") else "entropy is missing from the selection results")
    add("14a", AUTO, "Trajectories: class curves (chosen K framed)", "trajectories")
    add("14b", AUTO, "Trajectories: class curves for every K", "trajectories")
    add("14c", PARTLY, "Trajectories: class curves", "trajectories",
        "observed class means are drawn; individual trajectories are withheld for privacy")
    add("15", PARTLY, "Trajectories: class sizes and posterior probabilities", "trajectories",
        "class n, share and mean posterior probability are given; parameter SEs/CIs are for the author")
    add("16", PARTLY, "Reproducibility", "reproducibility",
        "the config (hash in the footer) and srflow version specify the analysis; the author must share the config")
    if not facts.get("trajectory_results"):
        rows = [
            GroltsRow(r.item, r.text, PARTLY if r.mark == AUTO and r.anchor == "trajectories" else r.mark, r.where, r.anchor,
                      (r.note + "; " if r.note else "") + "trajectory results missing" if r.anchor == "trajectories" else r.note)
            for r in rows
        ]
    return rows
