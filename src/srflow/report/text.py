"""Generated prose for the report: spec descriptions and the methods paragraphs.

Everything here is derived from the validated config, so the text changes when the analysis
does. The reference list is in :mod:`srflow.report.references`, the GRoLTS checklist in
:mod:`srflow.report.grolts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


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


def instrument_text(inst: Any) -> str:
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
