"""The mixed-model section: per model, diagnostics in words, fixed effects, fit, variance components."""

from __future__ import annotations

import numpy as np
import pandas as pd

from srflow import results
from srflow.report import text as tx
from srflow.report.blocks import (
    ReportContext,
    Section,
    Table,
    finite,
    fit_warning,
    format_value,
    p_clause,
    scalar_items,
    slug,
)
from srflow.report.formatting import DASH, format_number, format_p, humanize
from srflow.report.inputs import MixedResults

#: Keys of fit.json the fact list leaves out (worded, tabled, or shown in their own block).
_FIT_SKIP = {
    "status",
    "reason",
    "warnings",
    "variance_components",
    "converged",
    "singular",
    "optimizer",
    "gradient_norm",
    "icc",
    "comparison",
    "model",
    "outcome",
    "df_method",
    "r2_marginal",
    "r2_conditional",
    "certificates",
}

#: How each df method is said (the fixed-effects and Type III captions and the methods text).
DF_WORDS = {
    "satterthwaite": "t tests on Satterthwaite degrees of freedom (as lmerTest)",
    "kenward_roger": "t tests on Kenward-Roger degrees of freedom, with the Kenward-Roger adjusted SEs (as pbkrtest)",
    "wald": "Wald z tests (normal reference distribution, no degrees of freedom)",
}


def mixed_section(ctx: ReportContext, mixed: dict[str, MixedResults]) -> Section:
    """One subsection per configured mixed model."""
    section = Section("mixed", "Linear mixed models")
    configured = dict(ctx.cohort_config.mixed_models)
    if not configured:
        section.add(
            "note",
            tone="info",
            text="Mixed models: not configured (add a mixed_models block to the config).",
        )
        return section
    for name, spec in configured.items():
        section.add("h3", text=f"Model: {name}", id=f"mixed-{slug(name)}")
        section.add(
            "p", text=f"{tx.mixed_formula(spec)}, fitted by {spec.get('method', 'reml').upper()}."
        )
        result = mixed.get(name)
        if result is None:
            section.add(
                "note",
                tone="warn",
                text=f"No results found for this model (expected mixed/{name}.fit.json).",
            )
            continue
        _mixed_model(ctx, section, name, result)
    return section


def diagnostic_words(fit: results.MixedFit) -> list[str]:
    """Convergence and singularity in plain sentences."""
    words = []
    gradient_text = (
        f" (gradient norm {format_number(fit.gradient_norm)})"
        if fit.gradient_norm is not None
        else ""
    )
    opt_text = f" ({fit.optimizer})" if fit.optimizer else ""
    if fit.converged:
        words.append(f"The optimiser{opt_text} converged{gradient_text}.")
    else:
        words.append(
            f"The optimiser{opt_text} did not meet its convergence criterion{gradient_text}; treat the "
            "estimates with caution or simplify the model."
        )
    if fit.singular is False:
        words.append(
            "The fit is not singular."
        )  # a singular fit gets the warning box (blocks.fit_warning)
    return words


def _mixed_model(ctx: ReportContext, section: Section, name: str, result: MixedResults) -> None:
    fit = result.fit
    if fit.failed:
        section.add(
            "note", tone="error", text=f"Could not be computed: {fit.reason or 'no reason given'}"
        )
        return
    section.add("p", text=" ".join(diagnostic_words(fit)))
    fit_warning(
        section, f"Model '{name}'", singular=fit.singular, status=fit.status, reason=fit.reason
    )
    if fit.warnings:
        section.add("list", title="Warnings", items=list(fit.warnings))
    provisional = (
        " Provisional: the optimum could not be certified." if fit.status == "suspect" else ""
    )
    _fixed_table(ctx, section, result.fixed, fit, _centre_text(fit) + provisional)
    _anova_table(section, result.anova, fit, provisional)
    r2 = r2_sentence(fit)
    if r2:
        section.add("p", text=r2)
    details = scalar_items(fit.to_json(), _FIT_SKIP)
    if fit.icc is not None:
        details.append(("ICC (null model)", fit.icc))
    if details:
        section.add(
            "dl", items=[(humanize(k), format_value(k, v, ctx.min_cell)) for k, v in details]
        )
    if fit.variance_components is not None:
        section.add(
            "table",
            table=variance_ci_table(fit.variance_components, _centre_text(fit) + provisional),
        )
    if fit.has("comparison"):
        _comparison(section, name, fit.comparison)
    _random_spread(ctx, section, result.random)


def df_method(fit: results.MixedFit) -> str:
    """The fit's df method ("wald" for a file written before df methods existed)."""
    return fit.df_method if fit.has("df_method") else "wald"


def r2_sentence(fit: results.MixedFit) -> str:
    """Marginal and conditional R2 in one sentence (empty when the file has neither)."""
    marginal = fit.r2_marginal if fit.has("r2_marginal") else None
    conditional = fit.r2_conditional if fit.has("r2_conditional") else None
    if marginal is None and conditional is None:
        return ""
    return (
        f"R² marginal (variance explained by the fixed effects) = {format_number(marginal)}; R² conditional "
        f"(fixed and random effects) = {format_number(conditional)} (Nakagawa and Schielzeth; random slopes as "
        "Johnson, 2014)."
    )


def _upper_effects_text(vc: results.VarianceComponents) -> str:
    """The range of the upper level's effects (its conditional modes), when there is one."""
    effects = vc.nested_in.get("effects") if vc.has("nested_in") else None
    if not effects or not effects["estimate"]:
        return ""
    values = np.asarray(effects["estimate"], dtype=float)
    low, high = int(np.argmin(values)), int(np.argmax(values))
    group = vc.nested_in["group"]
    return (
        f" The {len(values)} {group} effects (conditional modes) range from "
        f"{format_number(values[low])} ({group} {effects['level'][low]}) to "
        f"{format_number(values[high])} ({group} {effects['level'][high]}); each with its conditional "
        "SD is in the model's fit.json."
    )


def variance_ci_table(vc: results.VarianceComponents, centre: str) -> Table:
    """Each SD, correlation and the residual SD with its 95% profile interval (a dash where there is none)."""
    ci = vc.ci if vc.has("ci") and vc.ci else {}
    rows = []
    for kind, label_text in (("sd", "SD"), ("corr", "correlation")):
        for term, value in getattr(vc, kind).items():
            low, high = _pair(ci.get(kind, {}).get(term))
            rows.append(
                [
                    f"{label_text} {term}",
                    format_number(value),
                    format_number(low),
                    format_number(high),
                ]
            )
    if vc.has("nested_in"):  # participants nested in an upper level: its intercept SD
        upper = vc.nested_in
        low, high = _pair(ci.get("nested_in", {}).get("sd", {}).get("Intercept"))
        rows.append(
            [
                f"SD Intercept ({upper['group']})",
                format_number(upper["sd"]["Intercept"]),
                format_number(low),
                format_number(high),
            ]
        )
    low, high = _pair(ci.get("residual_sd"))
    rows.append(
        ["residual SD", format_number(vc.residual_sd), format_number(low), format_number(high)]
    )
    method = vc.ci_method if vc.has("ci_method") else None
    interval = (
        f"95% intervals: {method}."
        if method and ci
        else "No intervals were computed (see the warnings)."
    )
    return Table(
        ["component", "estimate", "95% CI low", "95% CI high"],
        rows,
        caption=f"Variance components (standard deviations and correlations as fitted). {interval} "
        f"{centre} The intercept SD is the spread of the intercepts there."
        + _upper_effects_text(vc),
        numeric=[False, True, True, True],
    )


def _pair(value) -> tuple:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0], value[1]
    return None, None


def _centre_text(fit: results.MixedFit) -> str:
    """Where the model's intercept is: predictors enter as they are (not centred)."""
    numeric = [t for t in fit.fixed_terms if ":" not in t]
    if not numeric:
        return "The intercept is the mean outcome (no predictors)."
    return (
        "Predictors are not centred: the intercept is at "
        + ", ".join(f"{t} = 0" for t in numeric)
        + " (a categorical predictor at its reference level)."
    )


def _fixed_table(
    ctx: ReportContext, section: Section, fixed: pd.DataFrame, fit: results.MixedFit, caption: str
) -> None:
    """The fixed effects as written, the statistic named t (or z for Wald) and the df method said."""
    if fixed.empty:
        section.add("note", tone="warn", text="The fixed-effects table is empty.")
        return
    method = df_method(fit)
    order = [c for c in fixed.columns if not (c == "reference" and (fixed[c] == "").all())]
    header = {
        "se": "SE",
        "statistic": "z" if method == "wald" else "t",
        "ci_low": "95% CI low",
        "ci_high": "95% CI high",
        "reference": "reference level",
    }
    rows = [[_fixed_cell(c, r[c], ctx.min_cell) for c in order] for _, r in fixed.iterrows()]
    words = DF_WORDS.get(method, f"df method {method}")
    section.add(
        "table",
        table=Table(
            [header.get(c, c) for c in order],
            rows,
            caption=f"Fixed effects: {words}; 95% CIs on the same distribution. {caption}",
            numeric=[c not in ("term", "reference") for c in order],
        ),
    )


def _fixed_cell(column: str, value, min_cell: int) -> str:
    if column == "p":
        return format_p(value)
    if column in ("term", "reference"):
        return str(value) if value != "" else DASH
    if column == "df" and not np.isfinite(float(value)):
        return DASH  # Wald: no df
    return format_value(column, value, min_cell)


def _anova_table(
    section: Section, anova: pd.DataFrame, fit: results.MixedFit, provisional: str
) -> None:
    """Type III tests, one row per term however many columns it takes."""
    if anova.empty:
        return
    method = df_method(fit)
    rows = [
        [
            str(r["term"]),
            format_number(r["num_df"]),
            DASH if not np.isfinite(float(r["den_df"])) else format_number(r["den_df"]),
            format_number(r["F"]),
            format_p(r["p"]),
        ]
        for _, r in anova.iterrows()
    ]
    reference = (
        "chi-square on the numerator df (Wald)"
        if method == "wald"
        else f"F on {'Satterthwaite' if method == 'satterthwaite' else 'Kenward-Roger'} denominator df"
    )
    section.add(
        "table",
        table=Table(
            ["term", "numerator df", "denominator df", "F", "p"],
            rows,
            caption=f"Type III tests of the fixed terms (each term given all others, as lmerTest's anova type 3): "
            f"{reference}.{provisional}",
            numeric=[False, True, True, True, True],
        ),
    )


def _random_spread(ctx: ReportContext, section: Section, random: pd.DataFrame) -> None:
    """Spread of the conditional modes across participants (never the per-person values)."""
    if random.empty or len(random) < ctx.min_cell:
        return
    value_cols = [
        c
        for c in random.columns
        if c != "participant_id" and pd.api.types.is_numeric_dtype(random[c])
    ]
    rows = []
    for c in value_cols:
        v = finite(random[c])
        if v.size >= ctx.min_cell:
            rows.append(
                [
                    c,
                    ctx.count(v.size),
                    format_number(v.mean()),
                    format_number(v.std(ddof=1) if v.size > 1 else np.nan),
                    format_number(np.quantile(v, 0.25)),
                    format_number(np.median(v)),
                    format_number(np.quantile(v, 0.75)),
                ]
            )
    if rows:
        section.add(
            "table",
            table=Table(
                ["column", "participants", "mean", "SD", "25th pct", "median", "75th pct"],
                rows,
                caption="Spread of the per-participant random effects (conditional modes) across participants; individual "
                "values stay in mixed/*.random.csv.",
                numeric=[False] + [True] * 6,
            ),
        )


def _comparison(section: Section, name: str, test: results.Comparison) -> None:
    """A likelihood-ratio test of nested models, in one sentence and a small table."""
    small, large = test.small, test.large
    if test.status == "failed":
        section.add(
            "note",
            tone="error",
            text=f"Likelihood-ratio test of '{small}' against '{large}' could not be "
            f"computed: {test.reason or 'no reason given'}",
        )
        return
    if test.has("refit_from_smaller") and test.refit_from_smaller:
        before, after = (test.refit_from_smaller.get(k) for k in ("loglik_before", "loglik_after"))
        small_loglik = test.loglik_small if test.has("loglik_small") else None
        why = (
            "was below the nested model's, which cannot happen at the optimum"
            if small_loglik is not None and before is not None and before < small_loglik
            else "could not be certified"
        )
        section.add(
            "p",
            text=(
                f"The larger model's first ML fit (log-likelihood {format_number(before)}) {why}, so '{large}' was "
                f"refitted from the nested model's optimum (log-likelihood {format_number(after)})."
            ),
        )
    if test.status == "suspect":
        fit_warning(
            section,
            f"The likelihood-ratio test of '{small}' against '{large}'",
            singular=test.singular if test.has("singular") else None,
            status="suspect",
            reason=test.reason,
        )
        section.add(
            "p", text="No chi-square is reported for a test whose fits could not be certified."
        )
        return
    refit = " (both refitted by ML)" if test.refit_with_ml else " (ML fits)"
    section.add(
        "p",
        text=(
            f"Likelihood-ratio test of '{small}' against '{large}'{refit}: chi-square = {format_number(test.chi2)}, "
            f"df = {format_number(test.df)}, p {p_clause(test.p)}."
            + (
                f" The models differ by one random slope, whose variance is tested at its boundary (zero): the "
                f"50:50 chi-square mixture gives p {p_clause(test.p_boundary)}."
                if test.has("p_boundary") and test.p_boundary is not None
                else ""
            )
            + (
                " One of the fits is singular, so the test is approximate."
                if test.has("singular") and test.singular
                else ""
            )
        ),
    )
    rows = []
    for which, model in (("small", small), ("large", large)):
        # a failed test has no fit statistics (the keys are absent)
        values = [
            getattr(test, key) if test.has(key) else None
            for key in (f"{stat}_{which}" for stat in ("loglik", "aic", "bic"))
        ]
        if any(v is not None for v in values):
            rows.append([str(model)] + [format_number(v) for v in values])
    if rows:
        section.add(
            "table",
            table=Table(
                ["model", "log-likelihood (ML)", "AIC", "BIC"],
                rows,
                caption="Nested models compared (ML fits on the same rows).",
                numeric=[False, True, True, True],
            ),
        )
