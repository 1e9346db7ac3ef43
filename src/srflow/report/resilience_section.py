"""The "Resilience factors" section: what goes with SR, per regression and per SR mixed model.

Each person-level regression (``regressions/{name}.*``) and each mixed model whose outcome
or terms are SR scores gets a forest plot of its effects with their 95% CIs, the table, and
one plain sentence per effect. The sign is said as the SR convention has it: higher SR =
more problems than expected for the stressors met = less resilient.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from srflow.report import figures as fg
from srflow.report.blocks import FigureNumbers, ReportContext, Section, Table, fit_warning, slug
from srflow.report.formatting import DASH, format_number, format_p
from srflow.report.inputs import MixedResults, RegressionResults

_DUMMY = re.compile(r"^(?P<column>.+)\[T\.(?P<level>.+)\]$")
_SR_VARIABLE = re.compile(r"^(?P<kind>sr|sr_z):(?P<spec>[^:()]+)$")
_Z = re.compile(r"^z\((?P<inner>.+)\)$")
_HEADER = {
    "se": "SE",
    "statistic": "t",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "std_estimate": "standardised estimate",
}


def resilience_section(
    ctx: ReportContext,
    figures: FigureNumbers,
    regressions: dict[str, RegressionResults],
    mixed: dict[str, MixedResults],
) -> Section:
    """One subsection per configured regression, then per mixed model on SR scores."""
    section = Section("resilience", "Resilience factors")
    configured = dict(ctx.cohort_config.regressions)
    sr_models = {n: s for n, s in ctx.cohort_config.mixed_models.items() if uses_sr(s)}
    if not configured and not sr_models:
        section.add(
            "note",
            tone="info",
            text="Resilience factors: no regressions configured and no mixed model "
            "on SR scores (add a regressions block to the config).",
        )
        return section
    section.add(
        "p",
        text=(
            "What goes with SR (and with problems). Higher SR = more problems than expected for the stressors met = "
            "less resilient, so a factor with a negative effect on SR goes with more resilience."
        ),
    )
    for name, spec in configured.items():
        section.add("h3", text=f"Regression: {name}", id=f"regression-{slug(name)}")
        predictors = " + ".join(spec.get("predictors", [])) or "1"
        section.add(
            "p",
            text=(
                f"{spec['outcome']} ~ {predictors}, one row per participant (other columns taken at the "
                f"{'first wave with a value' if spec.get('aggregate', 'first') == 'first' else 'participant mean'}), "
                f"ordinary least squares with {'HC3' if spec.get('se') == 'hc3' else 'classical'} standard errors."
            ),
        )
        result = regressions.get(name)
        if result is None:
            section.add(
                "note",
                tone="warn",
                text=f"No results found (expected regressions/{name}.fit.json).",
            )
            continue
        _regression(ctx, figures, section, name, result)
    for name in sr_models:
        section.add("h3", text=f"Mixed model on SR: {name}", id=f"resilience-{slug(name)}")
        result = mixed.get(name)
        if result is None or result.fit.failed or result.fixed.empty:
            section.add(
                "note",
                tone="warn",
                text="No estimates for this model (see the mixed-model section).",
            )
            continue
        _effects(figures, section, name, result.fixed, result.fit.outcome, standardised=None)
        section.add(
            "p",
            text="The table, df method and diagnostics of this model are in the mixed-model section.",
        )
    return section


def uses_sr(spec) -> bool:
    """Whether a mixed model's outcome or any of its terms is an SR score.

    Examples
    --------
    >>> uses_sr({"outcome": "sr_z:observation", "fixed": ["within(OPT)"]}), uses_sr({"fixed": ["E"]})
    (True, False)
    """
    names = [spec.get("outcome", "P"), *spec.get("fixed", []), *spec.get("random", [])]
    return any("sr:" in str(n) or "sr_z:" in str(n) for n in names)


def _regression(
    ctx: ReportContext,
    figures: FigureNumbers,
    section: Section,
    name: str,
    result: RegressionResults,
) -> None:
    fit = result.fit
    if fit.failed:
        section.add(
            "note", tone="error", text=f"Could not be computed: {fit.reason or 'no reason given'}"
        )
        return
    fit_warning(
        section, f"Regression '{name}'", singular=None, status=fit.status, reason=fit.reason
    )
    section.add(
        "dl",
        items=[
            ("Participants", ctx.count(fit.n_obs)),
            ("Left out (a value missing)", ctx.count(fit.n_dropped_missing)),
            ("R²", format_number(fit.r2)),
            ("adjusted R²", format_number(fit.adj_r2)),
            (
                "F test of all slopes",
                DASH
                if fit.f is None
                else f"F({fit.f_df1}, {fit.f_df2}) = {format_number(fit.f)}, p {_p(fit.f_p)}",
            ),
            ("residual SD", format_number(fit.sigma)),
        ],
    )
    _effects(
        figures, section, name, result.coefficients, fit.outcome, standardised=result.coefficients
    )
    _coefficient_table(section, result.coefficients, fit.se, fit.status)


def _effects(
    figures: FigureNumbers,
    section: Section,
    name: str,
    table: pd.DataFrame,
    outcome: str,
    standardised: pd.DataFrame | None,
) -> None:
    """Forest plot and one sentence per non-intercept effect."""
    effects = table[table["term"] != "Intercept"]
    if effects.empty:
        section.add("p", text="The model has no predictors, so there is no effect to show.")
        return
    section.add(
        "figure",
        figure=figures.block(
            fg.forest_plot(
                effects["term"].tolist(),
                effects["estimate"].to_numpy(float),
                effects["ci_low"].to_numpy(float),
                effects["ci_high"].to_numpy(float),
                f"effect on {outcome} (its units), 95% CI",
            ),
            alt=f"Forest plot of the effects of model {name}.",
            caption=f"Effects on {outcome} with 95% confidence intervals (points: estimates; dashed line: no effect).",
        ),
    )
    section.add(
        "bullets",
        items=[
            effect_sentence(
                str(r["term"]),
                outcome,
                float(r["estimate"]),
                float(r["ci_low"]),
                float(r["ci_high"]),
                float(r["p"]),
                float(r["std_estimate"]) if standardised is not None else np.nan,
            )
            for _, r in effects.iterrows()
        ],
    )


def _coefficient_table(section: Section, table: pd.DataFrame, se: str, status: str) -> None:
    columns = list(table.columns)
    rows = [[_cell(c, r[c]) for c in columns] for _, r in table.iterrows()]
    provisional = " Provisional: the fit could not be certified." if status == "suspect" else ""
    section.add(
        "table",
        table=Table(
            [_HEADER.get(c, c) for c in columns],
            rows,
            caption=(
                f"Coefficients: t tests on the residual df with {'HC3' if se == 'hc3' else 'classical'} SEs; "
                "standardised estimate = estimate x SD(predictor) / SD(outcome) over the model's participants."
                + provisional
            ),
            numeric=[c != "term" for c in columns],
        ),
    )


def _cell(column: str, value) -> str:
    if column == "term":
        return str(value)
    if column == "p":
        return format_p(value)
    return format_number(value)


def _p(p: float | None) -> str:
    text = format_p(p)
    return f"< {text[1:]}" if text.startswith("<") else f"= {text}"


def variable_words(name: str) -> tuple[str, bool]:
    """A variable as said in a sentence, and whether its unit is one SD.

    Examples
    --------
    >>> variable_words("z(age)"), variable_words("sr:person")
    (('age', True), ('SR (spec person; higher = less resilient)', False))
    """
    z = _Z.match(name)
    inner = z["inner"] if z else name
    sr = _SR_VARIABLE.match(inner)
    words = f"SR (spec {sr['spec']}; higher = less resilient)" if sr else inner
    return words, bool(z) or bool(sr and sr["kind"] == "sr_z")


def effect_sentence(
    term: str,
    outcome: str,
    estimate: float,
    low: float,
    high: float,
    p: float,
    std_estimate: float = np.nan,
) -> str:
    """One effect in plain words, with its interval, p and, for an SR outcome, what the sign means.

    With ``std_estimate`` (a regression's numeric predictor) the change and its interval are
    in SDs of the outcome per SD of the predictor (the interval rescaled by the same positive
    factor SD(x) / SD(y)); otherwise in the variables' own units.

    Examples
    --------
    >>> effect_sentence("z(OPT)", "sr_z:person", -0.3, -0.5, -0.1, 0.004, -0.3)
    'One SD more OPT goes with an SR 0.300 SD lower (95% CI -0.500 to -0.100 SD, p = 0.004): fewer problems than expected for the stressors met, i.e. more resilient.'
    """
    out_words, out_sd = variable_words(outcome)
    z = _Z.match(outcome)
    is_sr = _SR_VARIABLE.match(z["inner"] if z else outcome) is not None
    dummy = _DUMMY.match(term)
    scale, in_sd = 1.0, out_sd  # the interval is said in the units of the size
    if dummy:
        subject, size = (
            f"The group {dummy['column']} = {dummy['level']} (against the reference level)",
            estimate,
        )
    else:
        words, per_sd = variable_words(term)
        use_std = bool(np.isfinite(std_estimate)) and estimate != 0
        size = std_estimate if use_std else estimate
        scale = (
            std_estimate / estimate if use_std else 1.0
        )  # SD(x) / SD(y) > 0: the CI rescales with it
        in_sd = out_sd or use_std
        subject = f"One {'SD' if per_sd or use_std else 'unit'} more {words}"
    unit = " SD" if in_sd else ""
    suffix = " (in P's units)" if is_sr and not in_sd else ""
    direction = "higher" if size > 0 else "lower"
    sentence = (
        f"{subject} goes with {'an SR' if is_sr else out_words} {format_number(abs(size))}{unit} "
        f"{direction}{suffix}"
    )
    interval = (
        f"95% CI {format_number(low * scale)} to {format_number(high * scale)}{unit}, p {_p(p)}"
    )
    caveat = "; the interval includes zero, i.e. no association" if low <= 0 <= high else ""
    meaning = ""
    if is_sr and size != 0:
        meaning = (
            ": more problems than expected for the stressors met, i.e. less resilient"
            if size > 0
            else ": fewer problems than expected for the stressors met, i.e. more resilient"
        )
    return f"{sentence} ({interval}{caveat}){meaning}."
