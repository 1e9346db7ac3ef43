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
    variance_table,
)
from srflow.report.formatting import format_number, format_p, humanize
from srflow.report.inputs import MixedResults

#: Keys of fit.json the fact list leaves out (worded, tabled, or shown in their own block).
_FIT_SKIP = {"status", "reason", "warnings", "variance_components", "converged", "singular", "optimizer",
             "gradient_norm", "icc", "comparison", "model", "outcome"}


def mixed_section(ctx: ReportContext, mixed: dict[str, MixedResults]) -> Section:
    """One subsection per configured mixed model."""
    section = Section("mixed", "Linear mixed models")
    configured = dict(ctx.cohort_config.mixed_models)
    if not configured:
        section.add("note", tone="info", text="Mixed models: not configured (add a mixed_models block to the config).")
        return section
    for name, spec in configured.items():
        section.add("h3", text=f"Model: {name}", id=f"mixed-{slug(name)}")
        section.add("p", text=f"{tx.mixed_formula(spec)}, fitted by {spec.get('method', 'reml').upper()}.")
        result = mixed.get(name)
        if result is None:
            section.add("note", tone="warn", text=f"No results found for this model (expected mixed/{name}.fit.json).")
            continue
        _mixed_model(ctx, section, name, result)
    return section


def diagnostic_words(fit: results.MixedFit) -> list[str]:
    """Convergence and singularity in plain sentences."""
    words = []
    gradient_text = f" (gradient norm {format_number(fit.gradient_norm)})" if fit.gradient_norm is not None else ""
    opt_text = f" ({fit.optimizer})" if fit.optimizer else ""
    if fit.converged:
        words.append(f"The optimiser{opt_text} converged{gradient_text}.")
    else:
        words.append(f"The optimiser{opt_text} did not meet its convergence criterion{gradient_text}; treat the "
                     "estimates with caution or simplify the model.")
    if fit.singular is False:
        words.append("The fit is not singular.")  # a singular fit gets the warning box (blocks.fit_warning)
    return words


def _mixed_model(ctx: ReportContext, section: Section, name: str, result: MixedResults) -> None:
    fit = result.fit
    if fit.failed:
        section.add("note", tone="error", text=f"Could not be computed: {fit.reason or 'no reason given'}")
        return
    section.add("p", text=" ".join(diagnostic_words(fit)))
    fit_warning(section, f"Model '{name}'", singular=fit.singular, status=fit.status, reason=fit.reason)
    if fit.warnings:
        section.add("list", title="Warnings", items=list(fit.warnings))
    _fixed_table(ctx, section, result.fixed, _centre_text(fit))
    details = scalar_items(fit.to_json(), _FIT_SKIP)
    if fit.icc is not None:
        details.append(("ICC (null model)", fit.icc))
    if details:
        section.add("dl", items=[(humanize(k), format_value(k, v, ctx.min_cell)) for k, v in details])
    if fit.variance_components is not None:
        vc_table = variance_table(fit.variance_components.to_json())
        if vc_table is not None:
            vc_table.caption = ("Variance components (standard deviations and correlations as fitted). "
                                + _centre_text(fit) + " The intercept SD is the spread of the intercepts there.")
            section.add("table", table=vc_table)
    if fit.has("comparison"):
        _comparison(section, name, fit.comparison)
    _random_spread(ctx, section, result.random)


def _centre_text(fit: results.MixedFit) -> str:
    """Where the model's intercept is: predictors enter as they are (not centred)."""
    numeric = [t for t in fit.fixed_terms if ":" not in t]
    if not numeric:
        return "The intercept is the mean outcome (no predictors)."
    return ("Predictors are not centred: the intercept is at " + ", ".join(f"{t} = 0" for t in numeric)
            + " (a categorical predictor at its reference level).")


def _fixed_table(ctx: ReportContext, section: Section, fixed: pd.DataFrame, centre: str) -> None:
    if fixed.empty:
        section.add("note", tone="warn", text="The fixed-effects table is empty.")
        return
    order = list(fixed.columns)
    header = {"se": "SE", "statistic": "z", "ci_low": "95% CI low", "ci_high": "95% CI high"}
    rows = [[(format_p(r[c]) if c == "p" else str(r[c]) if c == "term" else format_value(c, r[c], ctx.min_cell))
             for c in order] for _, r in fixed.iterrows()]
    section.add("table", table=Table([header.get(c, c) for c in order], rows, caption=f"Fixed effects. {centre}",
                                     numeric=[c != "term" for c in order]))


def _random_spread(ctx: ReportContext, section: Section, random: pd.DataFrame) -> None:
    """Spread of the conditional modes across participants (never the per-person values)."""
    if random.empty or len(random) < ctx.min_cell:
        return
    value_cols = [c for c in random.columns if c != "participant_id" and pd.api.types.is_numeric_dtype(random[c])]
    rows = []
    for c in value_cols:
        v = finite(random[c])
        if v.size >= ctx.min_cell:
            rows.append([c, ctx.count(v.size), format_number(v.mean()),
                         format_number(v.std(ddof=1) if v.size > 1 else np.nan), format_number(np.quantile(v, 0.25)),
                         format_number(np.median(v)), format_number(np.quantile(v, 0.75))])
    if rows:
        section.add("table", table=Table(
            ["column", "participants", "mean", "SD", "25th pct", "median", "75th pct"], rows,
            caption="Spread of the per-participant random effects (conditional modes) across participants; individual "
                    "values stay in mixed/*.random.csv.",
            numeric=[False] + [True] * 6,
        ))


def _comparison(section: Section, name: str, test: results.Comparison) -> None:
    """A likelihood-ratio test of nested models, in one sentence and a small table."""
    small, large = test.small, test.large
    if test.status == "failed":
        section.add("note", tone="error", text=f"Likelihood-ratio test of '{small}' against '{large}' could not be "
                                               f"computed: {test.reason or 'no reason given'}")
        return
    refit = " (both refitted by ML)" if test.refit_with_ml else " (ML fits)"
    section.add("p", text=(
        f"Likelihood-ratio test of '{small}' against '{large}'{refit}: chi-square = {format_number(test.chi2)}, "
        f"df = {format_number(test.df)}, p {p_clause(test.p)}."
        + (" One of the fits is singular, so the test is approximate." if test.has("singular") and test.singular else "")
    ))
    rows = []
    for which, model in (("small", small), ("large", large)):
        # a failed test has no fit statistics (the keys are absent)
        values = [getattr(test, key) if test.has(key) else None
                  for key in (f"{stat}_{which}" for stat in ("loglik", "aic", "bic"))]
        if any(v is not None for v in values):
            rows.append([str(model)] + [format_number(v) for v in values])
    if rows:
        section.add("table", table=Table(["model", "log-likelihood (ML)", "AIC", "BIC"], rows,
                                         caption="Nested models compared (ML fits on the same rows).",
                                         numeric=[False, True, True, True]))
