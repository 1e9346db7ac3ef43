"""The Methods text of the report, one paragraph per block of the config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from srflow.report.references import cite
from srflow.report.text import (
    describe_sr_spec,
    describe_trajectory_spec,
    instrument_text,
    join_words,
    mixed_formula,
)


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
    text = f"Mental-health problems (P) were measured with {instrument_text(cohort.problems)}."
    if stressors:
        combine = (
            "the sum of the stressor instrument scores"
            if cohort.exposure_combine == "sum"
            else "the mean of the z-scored stressor instrument scores (z over all scored rows), so each stressor type weighs the same"
        )
        several = len(stressors) > 1 or cohort.exposure_combine == "zmean"
        text += f" Stressor exposure (E) was {combine}" + (
            f"; instruments: {'; '.join(instrument_text(s) for s in stressors)}."
            if several
            else f"; instrument: {instrument_text(stressors[0])}."
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
        if spec.get("nested_in"):
            sentence += (
                f", with participants nested in {spec['nested_in']} (a random intercept per "
                f"{spec['nested_in']} level)"
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
        "Classification quality is given as the mean posterior probabilities by assigned class; mixture models' class "
        "curves carry pointwise 95% confidence bands from the observed information of the mixture likelihood. Classes "
        "were named by explicit rules on the class curves: Bonanno's prototypical trajectories "
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
