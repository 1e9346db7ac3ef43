"""Fit mixed-model specs to a data table: tidy outputs, failures as data, LR tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from srflow.errors import ModelError
from srflow.mixed.anova import ANOVA_COLUMNS
from srflow.mixed.design import INTERCEPT, MixedModelSpec, _term_key, parse_term
from srflow.mixed.engine import LmmFit, fit_lmm
from srflow.mixed.inference import FIXED_COLUMNS, infer
from srflow.mixed.nested_fit import fit_nested_lmm
from srflow.mixed.recipe import DesignRecipe, design_problem
from srflow.mixed.rows import _check_data, _complete_rows, model_data, nested_in_problem

SUMMARY_COLUMNS = [
    "component",
    "term",
    "estimate",
    "se",
    "df",
    "statistic",
    "p",
    "ci_low",
    "ci_high",
]
_Z95 = float(special.ndtri(0.975))  # scipy.special: much lighter to import than scipy.stats
_IC_NOTE = {
    "REML": "loglik, aic and bic are from the REML criterion (as lme4 reports them): comparable only "
    "between models with the same fixed effects; refit with method 'ml' to compare fixed effects.",
    "ML": "loglik, aic and bic are from the maximised likelihood.",
}


@dataclasses.dataclass
class MixedModelResult:
    """Outcome of :func:`fit_mixed_model`.

    Attributes
    ----------
    spec : MixedModelSpec
    status : {"ok", "suspect", "failed"}
    reason : str or None
        Why the model could not be fitted (failed), or why its optimum could not be
        certified (suspect: the estimates are reported but not to be trusted).
    fixed : DataFrame
        ``term, estimate, se, df, statistic, p, ci_low, ci_high, reference``: t on the
        spec's df (Satterthwaite by default; z with df ``inf`` for ``wald``), 95% CI on
        the same df, and the reference levels a coefficient is relative to.
    fit : dict
        JSON-ready fit information (see :func:`fit_mixed_model`).
    random : DataFrame
        Group id, one column per random effect (conditional mode) and ``<name>_sd``.
    summary : DataFrame
        Fixed effects and variance components in one table.
    lmm : LmmFit or None
        The engine's result.
    recipe : DesignRecipe or None
        How the design was built (for predicting on new rows).
    """

    spec: MixedModelSpec
    status: str
    reason: str | None
    fixed: pd.DataFrame
    fit: dict
    random: pd.DataFrame
    summary: pd.DataFrame
    lmm: LmmFit | None = None
    recipe: DesignRecipe | None = None
    anova: pd.DataFrame = dataclasses.field(
        default_factory=lambda: pd.DataFrame(columns=ANOVA_COLUMNS)
    )

    def predict_fixed(self, data: pd.DataFrame) -> np.ndarray:
        """Population-level prediction for the rows of ``data`` (fixed effects only).

        Parameters
        ----------
        data : DataFrame
            Must hold the fixed-effect columns; categorical levels as in the fitted data.

        Returns
        -------
        ndarray
        """
        if self.lmm is None or self.recipe is None:
            raise ModelError(
                f"Model '{self.spec.name}' was not fitted ({self.reason}); nothing to predict."
            )
        X, _, _, _ = self.recipe.matrices(data)
        return self.lmm.predict_fixed(X)

    def coefficients(self) -> pd.DataFrame:
        """Per-group coefficients (fixed + random effect) for every random term, as lme4's ``coef``.

        A random slope of E gives each participant's own E slope: their stressor reactivity.

        Returns
        -------
        DataFrame
            Group id and one column per random effect.
        """
        if self.lmm is None:
            raise ModelError(f"Model '{self.spec.name}' was not fitted ({self.reason}).")
        out = self.random[[self.spec.group]].copy()
        fixed = dict(zip(self.lmm.x_names, self.lmm.beta, strict=True))
        for j, name in enumerate(self.lmm.z_names):
            out[name] = fixed.get(name, 0.0) + self.lmm.ranef[:, j]
        return out


def _empty_tables(spec: MixedModelSpec) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    random_names = [INTERCEPT, *spec.random]
    random = pd.DataFrame(columns=[spec.group, *random_names, *[f"{n}_sd" for n in random_names]])
    return (pd.DataFrame(columns=FIXED_COLUMNS), random, pd.DataFrame(columns=SUMMARY_COLUMNS))


def _failed(
    spec: MixedModelSpec, reason: str, n_obs: int, n_groups: int, n_dropped: int
) -> MixedModelResult:
    fixed, random, summary = _empty_tables(spec)
    fit = {
        "model": spec.name,
        "status": "failed",
        "reason": reason,
        "method": spec.method,
        "outcome": spec.outcome,
        "fixed_terms": list(spec.fixed),
        "random_terms": list(spec.random),
        "loglik": None,
        "aic": None,
        "bic": None,
        "n_obs": n_obs,
        "n_groups": n_groups,
        "n_dropped_missing": n_dropped,
        "variance_components": None,
        "icc": None,
        "converged": False,
        "singular": None,
        "gradient_norm": None,
        "optimizer": None,
        "warnings": [reason],
        "df_method": spec.df,
        "r2_marginal": None,
        "r2_conditional": None,
    }
    if spec.nested_in is not None:
        fit["nested_in"] = spec.nested_in
    return MixedModelResult(spec, "failed", reason, fixed, fit, random, summary)


def _fixed_table(lmm: LmmFit) -> pd.DataFrame:
    statistic = lmm.beta / lmm.beta_se
    return pd.DataFrame(
        {
            "term": lmm.x_names,
            "estimate": lmm.beta,
            "se": lmm.beta_se,
            "statistic": statistic,
            "p": 2.0 * special.ndtr(-np.abs(statistic)),
            "ci_low": lmm.beta - _Z95 * lmm.beta_se,
            "ci_high": lmm.beta + _Z95 * lmm.beta_se,
        }
    )


def _variance_components(lmm: LmmFit) -> dict:
    corr = {}
    for a in range(len(lmm.z_names)):
        for b in range(a + 1, len(lmm.z_names)):
            value = lmm.corr_re[a, b]
            corr[f"{lmm.z_names[a]}:{lmm.z_names[b]}"] = (
                None if not np.isfinite(value) else float(value)
            )
    out = {
        "sd": {name: float(sd) for name, sd in zip(lmm.z_names, lmm.sd_re, strict=True)},
        "corr": corr,
        "residual_sd": float(lmm.sigma),
    }
    if lmm.upper_sd is not None:  # the upper level's random intercept, shaped as the groups'
        out["nested_in"] = {
            "group": lmm.upper_name,
            "n_groups": len(lmm.upper_labels),
            "sd": {INTERCEPT: float(lmm.upper_sd)},
            # each level's conditional mode and conditional SD (lme4's ranef(condVar = TRUE))
            "effects": {
                "level": [str(label) for label in lmm.upper_labels],
                "estimate": [float(v) for v in lmm.upper_ranef],
                "sd": [float(v) for v in lmm.upper_ranef_sd],
            },
        }
    return out


def _ols_cross_check(y: np.ndarray, X: np.ndarray, lmm: LmmFit) -> list[str]:
    """When a variance collapsed, compare the fixed effects with OLS on the same X.

    Guards against an engine returning between-group effects as exactly zero (a known
    failure of some implementations at the boundary) or far from the pooled estimate.
    """
    beta_ols, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta_ols
    sigma2 = resid @ resid / max(len(y) - X.shape[1], 1)
    se_ols = np.sqrt(np.diag(sigma2 * np.linalg.pinv(X.T @ X)))
    warnings = []
    paired = zip(lmm.x_names, lmm.beta, beta_ols, lmm.beta_se, se_ols, strict=True)
    for name, b, b_ols, se_m, se_o in paired:
        if b == 0.0 and b_ols != 0.0:
            warnings.append(
                f"Fixed effect {name} is exactly 0 in a singular fit while OLS gives {b_ols:.4g}; "
                "the estimate is not trustworthy."
            )
        elif abs(b - b_ols) > 5.0 * max(se_m, se_o):
            warnings.append(
                f"Fixed effect {name} = {b:.4g} differs from OLS ({b_ols:.4g}) by more than 5 SE "
                "in a singular fit; check the random-effects structure."
            )
    return warnings


def _fit_rows(
    spec: MixedModelSpec, rows: pd.DataFrame, n_dropped: int, starts: tuple = ()
) -> MixedModelResult:
    recipe = DesignRecipe.from_data(spec, rows)
    X, x_names, Z, z_names = recipe.matrices(rows)
    n_groups = int(rows[spec.group].nunique()) if len(rows) else 0
    reason = _check_data(spec, recipe, rows, X, x_names, Z, z_names)
    if reason is not None:
        return _failed(spec, reason, len(rows), n_groups, n_dropped)
    y = rows[spec.outcome].to_numpy(dtype=float)
    groups = rows[spec.group].to_numpy()
    common = {"reml": spec.method == "reml", "x_names": x_names, "z_names": z_names}
    try:
        if spec.nested_in is not None:  # starts (an LR test's smaller optimum) are one-level
            upper = rows[spec.nested_in].to_numpy()
            lmm = fit_nested_lmm(y, X, Z, groups, upper, upper_name=spec.nested_in, **common)
        else:
            lmm = fit_lmm(y, X, Z, groups, starts=starts, **common)
    except ModelError as exc:
        return _failed(spec, str(exc), len(rows), n_groups, n_dropped)

    warnings = list(lmm.warnings)
    if n_dropped:
        warnings.append(
            f"{n_dropped} row(s) with missing values in the model's columns were dropped."
        )
    fixed_keys = {_term_key(parse_term(t)) for t in spec.fixed}
    for term in spec.random:
        if _term_key(parse_term(term)) not in fixed_keys:
            warnings.append(
                f"Random slope {term!r} has no matching fixed effect: its random effects are not "
                "centred on a population slope."
            )
    if lmm.singular:
        warnings.extend(_ols_cross_check(y, X, lmm))

    fixed = _fixed_table(lmm)
    random = pd.DataFrame({spec.group: lmm.group_labels})
    for j, name in enumerate(z_names):
        random[name] = lmm.ranef[:, j]
    for j, name in enumerate(z_names):
        random[f"{name}_sd"] = lmm.ranef_sd[:, j]
    summary = lmm.summary.reindex(columns=SUMMARY_COLUMNS)
    is_fixed = summary["component"] == "fixed"
    summary.loc[is_fixed, "ci_low"] = fixed["ci_low"].to_numpy()
    summary.loc[is_fixed, "ci_high"] = fixed["ci_high"].to_numpy()

    # Certification (srflow.mixed.certify): an uncertified optimum is reported, but as suspect.
    status = "ok" if lmm.certified else "suspect"
    suspect = None if lmm.certified else f"the optimum could not be certified: {lmm.suspect_reason}"
    fit = {
        "model": spec.name,
        "status": status,
        "reason": suspect,
        "method": spec.method,
        "outcome": spec.outcome,
        "fixed_terms": list(spec.fixed),
        "random_terms": list(spec.random),
        "loglik": float(lmm.loglik),
        "loglik_type": lmm.criterion,
        "aic": float(lmm.aic),
        "bic": float(lmm.bic),
        "information_criteria_note": _IC_NOTE[lmm.criterion],
        "n_params": lmm.n_params,
        "n_obs": lmm.n_obs,
        "n_groups": lmm.n_groups,
        "n_dropped_missing": n_dropped,
        "variance_components": _variance_components(lmm),
        "icc": None,
        "converged": lmm.converged,
        "singular": lmm.singular if lmm.certified else None,
        "gradient_norm": float(lmm.gradient_norm),
        "optimizer": lmm.optimizer,
        "warnings": warnings,
        "certificates": lmm.certificates,
    }
    if spec.nested_in is not None:
        fit["nested_in"] = spec.nested_in
    return MixedModelResult(spec, status, suspect, fixed, fit, random, summary, lmm, recipe)


def _icc(
    spec: MixedModelSpec, rows: pd.DataFrame, main: MixedModelResult
) -> tuple[float | None, str | None]:
    """Intraclass correlation from the intercept-only model of the outcome on the same rows."""
    if not spec.fixed and not spec.random:
        null = main
    else:
        null_spec = dataclasses.replace(
            spec, fixed=(), random=(), contrasts=(), name=f"{spec.name}_null"
        )
        null = _fit_rows(null_spec, rows[null_spec.used_columns()], 0)
    if null.status != "ok":
        return None, f"ICC not computed: the intercept-only model failed ({null.reason})."
    between = null.lmm.cov_re[0, 0]
    if null.lmm.upper_sd is not None:  # two rows of one participant share its site too
        between += null.lmm.upper_sd**2
    return float(between / (between + null.lmm.sigma**2)), None


def _add_inference(result: MixedModelResult, rows: pd.DataFrame, profile: bool) -> None:
    """Replace the Wald table by the spec's df method and add Type III tests, R2 and profile CIs."""
    spec, lmm, recipe = result.spec, result.lmm, result.recipe
    X, _, Z, _ = recipe.matrices(rows)
    out = infer(
        spec, lmm, recipe, rows, rows[spec.outcome].to_numpy(dtype=float), X, Z, profile=profile
    )
    result.fixed, result.anova = out.fixed, out.anova
    is_fixed = (result.summary["component"] == "fixed").to_numpy()
    for column in ("se", "df", "statistic", "p", "ci_low", "ci_high"):
        result.summary.loc[is_fixed, column] = out.fixed[column].to_numpy()
    ci = out.fit.pop("variance_components_ci")
    result.fit.update(out.fit)
    if ci is not None:
        result.fit["variance_components"]["ci"] = {
            key: ci[key] for key in ("sd", "corr", "residual_sd", "nested_in") if key in ci
        }
        result.fit["variance_components"]["ci_method"] = ci["method"]
    result.fit["warnings"].extend(out.warnings)


def fit_mixed_model(
    data: pd.DataFrame,
    spec: MixedModelSpec | Mapping[str, Any],
    profile: bool = True,
    sr_tables: Mapping[str, pd.DataFrame] | None = None,
    sr_failures: Mapping[str, str] | None = None,
) -> MixedModelResult:
    """Fit a mixed-model spec to a long table (one row per participant and wave).

    Parameters
    ----------
    data : DataFrame
        Must hold the spec's group, outcome and predictor columns. Rows with a missing
        value in any of them are dropped (and counted).
    spec : MixedModelSpec or mapping
        A spec, or a mapping as in the config (validated by
        :meth:`MixedModelSpec.from_config`, name ``"model"``).
    profile : bool, default True
        Compute profile-likelihood intervals of the variance components.
    sr_tables : mapping, optional
        SR spec name -> its table (``results/<cohort>/sr/<spec>.csv``), for ``sr:<spec>``
        and ``sr_z:<spec>`` variables. With them, or when a variable has a transform, the
        variables are resolved first (:func:`model_data`): the model's rows are those
        complete on every variable, and ``z()``, ``within()``, ``between()`` are computed
        over them.
    sr_failures : mapping, optional
        SR spec name -> why it failed: a model naming a failed spec is returned as failed
        with that reason.

    Returns
    -------
    MixedModelResult
        ``status`` is ``"suspect"`` with a ``reason`` when the optimum could not be
        certified (:mod:`srflow.mixed.certify`; ``fit["certificates"]`` lists what was
        checked; ``singular`` is then None, not assessed), and ``"failed"`` with a ``reason`` when the data cannot support the
        model (fewer than 3 participants or no more participants than random effects,
        a constant predictor or outcome, a rank-deficient design, non-finite values,
        a ``contrasts`` reference level that does not occur or names a numeric column,
        a categorical predictor with a single level).
        ``fit`` holds method, loglik (REML criterion for REML fits, as lme4), aic, bic,
        n_obs, n_groups, n_dropped_missing, variance_components (random-effect SDs,
        correlations, residual SD), icc (from the intercept-only model of the outcome on
        the same rows, same method), converged, singular, gradient_norm, optimizer,
        warnings, df_method, r2_marginal, r2_conditional (Nakagawa; as
        performance::r2_nakagawa) and, under variance_components, ``ci``: 95% profile
        intervals shaped as sd/corr/residual_sd (as lme4's confint), with ``ci_method``.
        ``anova`` holds the Type III tests (as lmerTest's ``anova(type = 3)``).

    Raises
    ------
    ConfigError
        An invalid spec, or a column the spec names that is not in the data.
    """
    if not isinstance(spec, MixedModelSpec):
        spec = MixedModelSpec.from_config("model", spec)
    problem = nested_in_problem(spec, data, None)
    if problem is not None:  # an unknown or numeric nested_in column: this model fails alone
        return _failed(spec, problem, 0, 0, 0)
    try:
        data, n_resolved_out = model_data(data, [spec], sr_tables, sr_failures)
    except ModelError as exc:  # a failed SR spec, no complete row, ...: this model fails alone
        return _failed(spec, str(exc), 0, 0, 0)
    # column and type errors are the user's to fix: raise (levels are checked below, per model)
    DesignRecipe.from_data(dataclasses.replace(spec, contrasts=()), data)
    rows, n_dropped = _complete_rows(data, spec)
    n_dropped += n_resolved_out
    problem = (
        design_problem(spec, data)
        or design_problem(spec, rows)
        or nested_in_problem(spec, rows, rows)
    )
    if problem is not None:  # a bad level or a one-level factor: this model fails, others run
        return _failed(spec, problem, len(rows), int(rows[spec.group].nunique()), n_dropped)
    result = _fit_rows(spec, rows, n_dropped)
    if result.lmm is not None:  # every fit that has estimates (ok or suspect) gets its tests
        _add_inference(result, rows, profile)
        icc, note = _icc(spec, rows, result)
        result.fit["icc"] = icc
        if note:
            result.fit["warnings"].append(note)
    return result
