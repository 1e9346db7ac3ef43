"""Generated prose for the report: spec descriptions and the methods paragraphs.

Everything here is derived from the validated config, so the text changes when the analysis
does. The reference list is in :mod:`srflow.report.references`, the GRoLTS checklist in
:mod:`srflow.report.grolts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from srflow.report.references import cite


def join_words(words: Sequence[str], last: str = "and") -> str:
    words = [str(w) for w in words]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {last} " + words[-1]


def _waves_text(waves: Sequence[int]) -> str:
    waves = list(waves)
    return ("wave " if len(waves) == 1 else "waves ") + join_words([str(w) for w in waves])


SCORE_TEXT = {
    "sum": "the sum of its items (missing unless every item was answered)",
    "mean": "the mean of the answered items (missing when fewer than {share} of the items were answered)",
    "prorated_sum": (
        "the prorated sum (mean of the answered items times the number of items; missing when fewer than "
        "{share} of the items were answered)"
    ),
}
SELECTOR_TEXT = {
    "prefix": "the columns starting with '{sel}'",
    "regex": "the columns matching '{sel}'",
    "columns": "the columns {sel}",
}


def _instrument_text(inst: Any) -> str:
    selector = inst.selector if inst.selector_kind != "columns" else ", ".join(inst.selector)
    share = f"{100 * inst.min_answered:.0f}%"
    parts = [
        f"{inst.name} ({SELECTOR_TEXT[inst.selector_kind].format(sel=selector)}, valid range "
        f"{inst.range[0]:g}–{inst.range[1]:g}"
    ]
    if inst.reverse:
        parts.append(
            f", {len(inst.reverse)} item{'s' if len(inst.reverse) != 1 else ''} reverse-scored"
        )
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
    form_text = FORM_TEXT.get(form, f"a normative line of form '{form}'").format(
        alpha=float(spec.get("alpha", 0.05))
    )
    outlier_text = OUTLIER_TEXT.get(outliers, f"outlier handling '{outliers}'").format(
        k=float(spec.get("k", 3))
    )
    sentence = f"SR spec '{name}' used {form_text}, {level_text}, with {outlier_text}"
    if outliers != "none":
        sentence += (
            " (the line was then applied to everyone's unaltered values, so no score is censored)"
        )
    reference = spec.get("reference", "all")
    if isinstance(reference, Mapping) and "waves" in reference:
        sentence += (
            f"; the line was defined on {_waves_text(reference['waves'])} and applied to every row"
        )
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
    "gmm": "a growth mixture model ({gmm})",
    "kmeans": "longitudinal k-means on the participants' series",
}
DEGREE_TEXT = {1: "linear", 2: "quadratic", 3: "cubic"}


def gmm_text(spec: Mapping[str, Any]) -> str:
    """The growth mixture model's within-class heterogeneity as configured.

    Examples
    --------
    >>> gmm_text({"random": ["intercept", "slope"], "random_variance": "class"})[:60]
    'each class its own polynomial curve plus a participant-level'
    """
    random = list(spec.get("random", ["intercept"]))
    if "slope" in random:
        effects = (
            "a participant-level random intercept and random slope on linear time, with their full 2 x 2 "
            "covariance"
        )
        what = "covariance"
    else:
        effects, what = "a participant-level random intercept", "variance"
    shared = spec.get("random_variance", "shared") == "shared"
    return f"each class its own polynomial curve plus {effects}; the random-effect {what} " + (
        "shared by all classes"
        if shared
        else "estimated separately in each class (seeded from the "
        "shared-variance optimum, so never below it)"
    )


def describe_trajectory_spec(name: str, spec: Mapping[str, Any]) -> str:
    """One sentence describing a trajectory spec."""
    method = spec.get("method", "lcga")
    low, high = spec.get("classes", [1, 4])
    degree = int(spec.get("degree", 2))
    variable = spec.get("variable", "P")
    variable_text = f"SR (spec '{variable[3:]}')" if str(variable).startswith("sr:") else variable
    sentence = (
        f"Trajectory spec '{name}' modelled {variable_text} over {'waves' if spec.get('time', 'wave') == 'wave' else 'time'} by "
        f"{TRAJECTORY_METHOD_TEXT.get(method, method).format(gmm=gmm_text(spec))} with {DEGREE_TEXT.get(degree, f'degree-{degree}')} class curves, "
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


def methods_paragraphs(
    cohort: Any, facts: Mapping[str, Any], packages: Mapping[str, str]
) -> tuple[list[str], list[str]]:
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
    paragraphs = [
        _cohort_paragraph(cohort, facts),
        _measures_paragraph(cohort),
        _validation_paragraph(cohort, facts),
    ]
    if cohort.sr:
        paragraphs.append(_sr_paragraph(cohort, used))
    if cohort.mixed_models:
        paragraphs.append(_mixed_paragraph(cohort, used))
    if cohort.regressions:
        paragraphs.append(_regression_paragraph(cohort, used))
    if cohort.trajectories:
        paragraphs.append(_trajectory_paragraph(cohort, used))
    paragraphs.append(_software_paragraph(packages, used))
    return paragraphs, used


def _cohort_paragraph(cohort: Any, facts: Mapping[str, Any]) -> str:
    time_text = (
        "assessment times were taken from the column "
        f"'{cohort.columns.time}' ({'days since each participant’s first assessment' if cohort.columns.time_type != 'number' else 'numbers as given'})"
        if cohort.columns.time
        else "no assessment-time column was configured, so waves serve as the time axis"
    )
    return (
        f"Cohort '{cohort.name}' contributed {facts.get('participants', '–')} participants and {facts.get('rows', '–')} "
        f"scored assessments over {facts.get('waves', '–')} waves, read from {cohort.input.name} ({cohort.layout} layout); "
        f"{time_text}."
    )


def _measures_paragraph(cohort: Any) -> str:
    stressors = cohort.stressors
    text = f"Mental-health problems (P) were measured with {_instrument_text(cohort.problems)}."
    if stressors:
        combine = (
            "the sum of the stressor instrument scores"
            if cohort.exposure_combine == "sum"
            else "the mean of the z-scored stressor instrument scores (z over all scored rows), so each stressor type weighs the same"
        )
        several = len(stressors) > 1 or cohort.exposure_combine == "zmean"
        text += f" Stressor exposure (E) was {combine}" + (
            f"; instruments: {'; '.join(_instrument_text(s) for s in stressors)}."
            if several
            else f"; instrument: {_instrument_text(stressors[0])}."
        )
    else:
        text += " No stressor instrument was configured, so E is missing."
    codes = list(cohort.missing_codes)
    if codes:
        text += (
            f" The code {codes[0]} was read as missing."
            if len(codes) == 1
            else f" The codes {join_words([str(c) for c in codes])} were read as missing."
        )
    return text


def _validation_paragraph(cohort: Any, facts: Mapping[str, Any]) -> str:
    policy = (
        "any failure stopped the run, so every analysed row passed every check"
        if cohort.on_invalid == "fail"
        else f"rows failing any check were excluded ({facts.get('excluded', '–')} rows) and listed with the reason in the row ledger"
    )
    careless = cohort.careless
    straight = {"flag": "flagged (kept and marked)", "exclude": "excluded", "off": "not checked"}[
        careless.straightlining
    ]
    careless_text = (
        f"Rows answering every item of {join_words(list(careless.instruments))} identically (at least {careless.min_items} answered items) were {straight}."
        if careless.straightlining != "off"
        else "Straightlining was not checked."
    )
    return (
        "The data were validated against a schema built from the configuration (participant ids present, one row per "
        "participant and wave, waves whole numbers from 1, times non-decreasing within a participant, items numeric "
        f"within their range or a declared missing code, covariates of their declared type); {policy}. {careless_text}"
    )


def _sr_paragraph(cohort: Any, used: list[str]) -> str:
    intro = (
        "Stressor reactivity (SR) follows the resilience framework's outcome-based view "
        f"({cite('kalisch2017', used)}) and its operationalisation for frequent monitoring ({cite('kalisch2021', used)}): "
        "the normative relation between stressor exposure E and mental-health problems P is estimated across the sample, "
        "and a participant's SR is the residual P minus expected P, reported raw (in P's units) and as a z-score over the "
        "scored units. Negative SR means fewer problems than expected for the stressors met, i.e. more resilient."
    )
    return " ".join([intro, *(describe_sr_spec(n, s) for n, s in cohort.sr.items())])


#: How each df method is said in the methods text, and the reference it cites.
DF_METHOD_TEXT = {
    "satterthwaite": ("t tests on Satterthwaite degrees of freedom", "kuznetsova2017"),
    "kenward_roger": (
        "t tests on Kenward-Roger degrees of freedom with the adjusted covariance of the fixed effects",
        "kenward1997",
    ),
    "wald": ("Wald z tests", None),
}


def _mixed_paragraph(cohort: Any, used: list[str]) -> str:
    sentences = []
    for name, spec in cohort.mixed_models.items():
        method = (
            "restricted maximum likelihood (REML)"
            if spec.get("method", "reml") == "reml"
            else "maximum likelihood (ML)"
        )
        words, key = DF_METHOD_TEXT.get(
            spec.get("df", "satterthwaite"), (f"df method {spec.get('df')}", None)
        )
        sentence = (
            f"Model '{name}', {mixed_formula(spec)}, was fitted by {method}, with {words}"
            + (f" ({cite(key, used)})" if key else "")
        )
        if spec.get("compare_to"):
            sentence += f", and compared with model '{spec['compare_to']}' by a likelihood-ratio test on ML fits"
        sentences.append(sentence + ".")
    return (
        "Linear mixed models with participants as the grouping factor were fitted by profiled likelihood "
        f"(the deviance of {cite('bates2015', used)}) from several starts; an optimum was reported as certified only "
        "when the restarts agreed, it was at least as good as the nested and the fixed-effects-only models and its "
        "gradient and curvature passed, otherwise as suspect with the reason. Singular fits (a variance near zero or "
        "a correlation at ±1) were flagged. "
        + " ".join(sentences)
        + " Each fixed term was tested by a Type III F "
        "test (all other terms in the model) on the same df; marginal and conditional R² follow "
        f"{cite('nakagawa2013', used)}, with random slopes as {cite('johnson2014', used)}; 95% intervals of the "
        "random-effect SDs, their correlations and the residual SD are profile-likelihood intervals of the ML "
        "deviance."
    )


def _regression_paragraph(cohort: Any, used: list[str]) -> str:
    sentences = []
    for name, spec in cohort.regressions.items():
        aggregate = (
            "the first wave with a value (baseline)"
            if spec.get("aggregate", "first") == "first"
            else "the participant's mean over the waves"
        )
        se = (
            f"HC3 heteroskedasticity-consistent standard errors ({cite('mackinnon1985', used)})"
            if spec.get("se") == "hc3"
            else "classical standard errors"
        )
        predictors = join_words([str(p) for p in spec.get("predictors", [])]) or "an intercept only"
        sentences.append(
            f"Regression '{name}' related {spec['outcome']} to {predictors}, each predictor taken at "
            f"{aggregate}, with {se}."
        )
    return (
        "Resilience factors were related to SR (and to P) in person-level regressions: one row per participant, "
        "ordinary least squares, t tests and 95% confidence intervals on the residual df, and standardised "
        "coefficients (estimate x SD of the predictor / SD of the outcome). z() marks a predictor z-scored over the "
        "model's participants. Higher SR means more problems than expected for the stressors met, i.e. less "
        "resilience. " + " ".join(sentences)
    )


def _trajectory_paragraph(cohort: Any, used: list[str]) -> str:
    specs = dict(cohort.trajectories)
    sentences = [describe_trajectory_spec(n, s) for n, s in specs.items()]
    text = (
        " ".join(sentences)
        + " Each K's best optimum was certified when several starts replicated it and it was at least as good as the "
        "K - 1 solution nested in it; otherwise it is reported as suspect with the reason. The number of classes "
        "was chosen as the lowest BIC among solutions without a degenerate class; AIC, sample-size-adjusted BIC "
        f"and entropy are reported alongside, a BIC within 2 of another K's is said not to distinguish them "
        f"({cite('raftery1995', used)}), and classes under 5% of the sample or 25 participants are flagged. "
        "Classification quality is given as the mean posterior probabilities by assigned class. Classes were named "
        "by explicit rules on the class curves: Bonanno's prototypical trajectories "
        f"({cite('bonanno2004', used)}: resilient, recovery, chronic, delayed) only where a curve fits one, "
        "descriptive names (such as 'moderate falling') otherwise, no prototype for a one-class solution, and SR "
        "names (better than, as or worse than expected) for SR series."
    )
    text += _membership_sentences(specs, used)
    return (
        text
        + f" The analysis is reported along the GRoLTS checklist ({cite('vandeschoot2017', used)})."
    )


#: How each predictor method is said in the methods text, and the reference it cites.
PREDICTOR_METHOD_TEXT = {
    "ml": (
        "the bias-adjusted three-step maximum-likelihood estimator, which fixes the classification error "
        "estimated from the posteriors and so gives unattenuated effects with SEs that account for it",
        "vermunt2010",
    ),
    "bch": ("the bias-adjusted three-step estimator with BCH weights and sandwich SEs", "bakk2013"),
    "one_step": (
        "a one-step model estimating the class curves and the membership logit jointly",
        None,
    ),
    "modal": (
        "a naive logit of each participant's most likely class (attenuated towards zero; for comparison "
        "only)",
        None,
    ),
}


def _membership_sentences(specs: Mapping[str, Mapping[str, Any]], used: list[str]) -> str:
    """Predictors of class membership and distal outcomes, as configured (empty when neither is)."""
    sentences = []
    for name, spec in specs.items():
        if spec.get("predictors"):
            method = spec.get("predictor_method", "ml")
            words, key = PREDICTOR_METHOD_TEXT.get(method, (f"method '{method}'", None))
            reference = f" ({cite(key, used)})" if key else ""
            sentences.append(
                f"For spec '{name}', the baseline (first-wave) values of {join_words(list(spec['predictors']))} "
                f"predicted class membership in a multinomial logit against class "
                f"{spec.get('reference_class', 1)}, estimated by {words}{reference}; categories were dummy-coded "
                "against their first level."
            )
        if spec.get("distal"):
            sentences.append(
                f"For spec '{name}', the class means of each participant's last observed "
                f"{join_words(list(spec['distal']))} were estimated with BCH weights ({cite('bakk2013', used)}), "
                "which correct for the classification error, and compared by a Wald test of equal means."
            )
    return (" " + " ".join(sentences)) if sentences else ""


def _software_paragraph(packages: Mapping[str, str], used: list[str]) -> str:
    software = [f"srflow {packages.get('srflow', '(version unknown)')}"]
    if "python" in packages:
        software.append(f"Python {packages['python']}")
    cited = []
    for package, key in (
        ("numpy", "harris2020"),
        ("pandas", "mckinney2010"),
        ("scipy", "virtanen2020"),
        ("statsmodels", "seabold2010"),
        ("matplotlib", "hunter2007"),
    ):
        version = packages.get(package)
        cited.append(f"{package}{' ' + version if version else ''} ({cite(key, used)})")
    snakemake_version = packages.get("snakemake")
    return (
        f"Analyses used {join_words(software)} with {join_words(cited)}; the workflow was run with Snakemake"
        f"{' ' + snakemake_version if snakemake_version else ''} ({cite('molder2021', used)}). "
        "All random numbers derive from the configured seed, and the same configuration and input give a "
        "byte-identical report."
    )
