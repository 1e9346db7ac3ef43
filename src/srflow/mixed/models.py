"""Fit mixed-model specs to a data table: tidy outputs, failures as data, LR tests."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from srflow.errors import ConfigError, ModelError
from srflow.mixed.anova import ANOVA_COLUMNS
from srflow.mixed.design import (
    INTERCEPT,
    DesignRecipe,
    MixedModelSpec,
    _term_key,
    design_problem,
    parse_term,
)
from srflow.mixed.engine import LmmFit, fit_lmm, theta_layout, theta_to_lambda
from srflow.mixed.inference import FIXED_COLUMNS, infer
from srflow.mixed.optimise import lower_factor

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
MIN_GROUPS = 3
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
    return {
        "sd": {name: float(sd) for name, sd in zip(lmm.z_names, lmm.sd_re, strict=True)},
        "corr": corr,
        "residual_sd": float(lmm.sigma),
    }


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


def model_data(
    data: pd.DataFrame,
    specs: Sequence[MixedModelSpec],
    sr_tables: Mapping[str, pd.DataFrame] | None = None,
    sr_failures: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, int]:
    """The model's data with one column per variable (named as written), and rows dropped.

    When every variable of ``specs`` is a plain column of ``data`` and no SR tables are
    given, ``data`` is returned as it is (the complete-case filter comes later). Otherwise
    the variables of all ``specs`` together are resolved by
    :func:`srflow.variables.resolve_variables`: the rows are those complete on every one of
    them (and on the group), and ``z()``, ``within()`` and ``between()`` are computed over
    those rows (``within``/``between`` by participant), so models compared by a
    likelihood-ratio test see the same transformed values.

    Parameters
    ----------
    data : DataFrame
        The scores table (``participant_id``, ``wave`` and the columns the specs name).
    specs : sequence of MixedModelSpec
        The model, or the two models of a likelihood-ratio test.
    sr_tables, sr_failures : mapping, optional
        SR spec name -> its table, and -> why it failed.

    Returns
    -------
    frame, n_dropped : DataFrame, int
        ``n_dropped`` counts the rows of ``data`` left out (0 when ``data`` is returned).

    Raises
    ------
    ConfigError
        An unknown column or SR spec, a transform of a non-numeric column.
    ModelError
        A named SR spec failed or has no scores, a lag missing everywhere, no complete row,
        a constant variable under ``z()``.
    """
    if sr_tables is None and not any(spec.needs_resolving() for spec in specs):
        return data, 0
    from srflow.variables import resolve_variables

    groups = [s.group for s in specs if s.group != "participant_id"]
    variables = list(dict.fromkeys([*groups, *(v for s in specs for v in s.variables())]))
    where = f"mixed_models.{specs[-1].name}"
    resolved = resolve_variables(data, sr_tables or {}, variables, where, sr_failures)
    return resolved.frame, len(data) - len(resolved.frame)


def _complete_rows(
    data: pd.DataFrame, spec: MixedModelSpec, extra: list[str] | None = None
) -> tuple[pd.DataFrame, int]:
    columns = list(dict.fromkeys([*spec.used_columns(), *(extra or [])]))
    subset = data[columns]
    keep = subset.notna().all(axis=1).to_numpy()
    return subset.loc[keep].reset_index(drop=True), int((~keep).sum())


def _constant_within_groups(columns: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per column, True when it takes a single value within every group."""
    codes = pd.factorize(groups)[0]
    n = codes.max(initial=-1) + 1
    out = np.zeros(columns.shape[1], bool)
    for j in range(columns.shape[1]):  # over random terms (a handful), not participants
        x = columns[:, j]
        low = np.full(n, np.inf)
        high = np.full(n, -np.inf)
        np.minimum.at(low, codes, x)
        np.maximum.at(high, codes, x)
        out[j] = bool(np.all(high - low <= 1e-12 * max(1.0, float(np.abs(x).max(initial=0)))))
    return out


def _check_data(spec, recipe, rows, X, x_names, Z, z_names) -> str | None:
    """Reason the model cannot be fitted to these rows, or None."""
    if len(rows) == 0:
        return "no complete rows (every row misses the outcome, the group or a predictor)"
    values = np.column_stack([rows[spec.outcome].to_numpy(dtype=float), X, Z])
    if not np.isfinite(values).all():
        return "non-finite data (infinite values in the outcome or a predictor)"
    n_groups = rows[spec.group].nunique()
    if n_groups < MIN_GROUPS:
        return f"too few participants: {n_groups} (at least {MIN_GROUPS} needed)"
    if n_groups <= Z.shape[1]:
        return (
            f"too few participants: {n_groups} for {Z.shape[1]} random effects per participant "
            "(need more participants than random effects)"
        )
    if np.ptp(rows[spec.outcome].to_numpy(dtype=float)) == 0:
        return f"constant outcome: {spec.outcome} takes one value"
    for matrix, names in ((X, x_names), (Z, z_names)):
        for j, name in enumerate(names[1:], start=1):
            if np.ptp(matrix[:, j]) == 0:
                return f"constant predictor: {name} takes one value in the rows used"
    fixed_in_person = _constant_within_groups(Z[:, 1:], rows[spec.group].to_numpy())
    if fixed_in_person.any():
        name = z_names[1 + int(np.flatnonzero(fixed_in_person)[0])]
        return (
            f"random term {name} does not vary within any participant; a random term must be a "
            "row-varying variable"
        )
    for term in (*spec.fixed, *spec.random):
        if not recipe.term_block(rows.iloc[:1], term)[1]:
            return f"constant predictor: {term} has a single level in the rows used"
    if len(rows) <= X.shape[1] + 1 or np.linalg.matrix_rank(X) < X.shape[1]:
        return "singular/rank-deficient design: a fixed-effect column is a linear combination of others"
    return None


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
    try:
        lmm = fit_lmm(
            y,
            X,
            Z,
            rows[spec.group].to_numpy(),
            reml=spec.method == "reml",
            x_names=x_names,
            z_names=z_names,
            starts=starts,
        )
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
        null = _fit_rows(null_spec, rows[[spec.group, spec.outcome]], 0)
    if null.status != "ok":
        return None, f"ICC not computed: the intercept-only model failed ({null.reason})."
    between = null.lmm.cov_re[0, 0]
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
            key: ci[key] for key in ("sd", "corr", "residual_sd")
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
    try:
        data, n_resolved_out = model_data(data, [spec], sr_tables, sr_failures)
    except ModelError as exc:  # a failed SR spec, no complete row, ...: this model fails alone
        return _failed(spec, str(exc), 0, 0, 0)
    # column and type errors are the user's to fix: raise (levels are checked below, per model)
    DesignRecipe.from_data(dataclasses.replace(spec, contrasts=()), data)
    rows, n_dropped = _complete_rows(data, spec)
    n_dropped += n_resolved_out
    problem = design_problem(spec, data) or design_problem(spec, rows)
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


def likelihood_ratio_test(
    data: pd.DataFrame,
    spec_small: MixedModelSpec | Mapping[str, Any],
    spec_large: MixedModelSpec | Mapping[str, Any],
    sr_tables: Mapping[str, pd.DataFrame] | None = None,
    sr_failures: Mapping[str, str] | None = None,
) -> dict:
    """Likelihood-ratio test of a nested (smaller) spec against a larger one.

    Both models are fitted by ML (REML specs are refitted) on the same rows: those
    complete in every column either model uses.

    Parameters
    ----------
    data : DataFrame
    spec_small, spec_large : MixedModelSpec or mapping
        ``spec_small``'s fixed and random terms must be subsets of ``spec_large``'s, with
        the same outcome and group.
    sr_tables, sr_failures : mapping, optional
        As in :func:`fit_mixed_model`; the variables of both models are resolved together.

    Returns
    -------
    dict
        ``chi2`` (= 2 (loglik_large - loglik_small)), ``df``, ``p`` (chi-square), and when
        the models differ only by one random slope also ``p_boundary`` (the 50:50
        chi-square mixture appropriate for a variance tested at zero, which the plain
        ``p`` over-states); both log-likelihoods, AICs and BICs, ``n_obs``, ``status``.
        If the larger model's log-likelihood is below the smaller's (impossible at the
        true optima), the larger is refitted from the smaller's optimum padded with zeros
        (``refit_from_smaller`` records both values); if either fit cannot be certified,
        or the larger is still below, ``status`` is ``"suspect"`` with the ``reason`` and
        no chi-square is reported.

    Raises
    ------
    ConfigError
        The specs are not nested.
    """
    small = (
        spec_small
        if isinstance(spec_small, MixedModelSpec)
        else MixedModelSpec.from_config("small", spec_small)
    )
    large = (
        spec_large
        if isinstance(spec_large, MixedModelSpec)
        else MixedModelSpec.from_config("large", spec_large)
    )
    keys = {
        key: (
            {_term_key(parse_term(t)) for t in getattr(small, key)},
            {_term_key(parse_term(t)) for t in getattr(large, key)},
        )
        for key in ("fixed", "random")
    }
    nested = all(a <= b for a, b in keys.values())
    if (
        (small.outcome, small.group) != (large.outcome, large.group)
        or not nested
        or all(a == b for a, b in keys.values())
    ):
        raise ConfigError(
            f"Likelihood-ratio test {small.name} vs {large.name}: the models must share outcome and group, and "
            f"{small.name}'s fixed and random terms must be a strict subset of {large.name}'s."
        )
    refit = small.method == "reml" or large.method == "reml"
    small_ml, large_ml = small.with_method("ml"), large.with_method("ml")
    try:
        data, n_resolved_out = model_data(data, [small, large], sr_tables, sr_failures)
    except ModelError as exc:
        return {
            "small": small.name,
            "large": large.name,
            "method": "ml",
            "refit_with_ml": refit,
            "n_obs": 0,
            "n_dropped_missing": len(data),
            "status": "failed",
            "reason": str(exc),
            "chi2": None,
            "df": None,
            "p": None,
        }
    DesignRecipe.from_data(small_ml, data)
    DesignRecipe.from_data(large_ml, data)
    rows, n_dropped = _complete_rows(data, large_ml, small_ml.used_columns())
    fits = [_fit_rows(s, rows[s.used_columns()], 0) for s in (small_ml, large_ml)]
    out: dict[str, Any] = {
        "small": small.name,
        "large": large.name,
        "method": "ml",
        "refit_with_ml": refit,
        "n_obs": len(rows),
        "n_dropped_missing": n_dropped + n_resolved_out,
    }
    if any(f.lmm is None for f in fits):
        reasons = "; ".join(f"{f.spec.name}: {f.reason}" for f in fits if f.lmm is None)
        return {**out, "status": "failed", "reason": reasons, "chi2": None, "df": None, "p": None}
    if fits[1].lmm.loglik < fits[0].lmm.loglik or fits[1].status != "ok":
        # A model cannot fit worse than one nested in it: restart the larger from the smaller's optimum.
        before = fits[1].lmm.loglik
        start = (
            "smaller model's optimum (padded with zeros)",
            _padded_theta(fits[0].lmm, fits[1].lmm),
        )
        fits[1] = _fit_rows(large_ml, rows[large_ml.used_columns()], 0, starts=(start,))
        out["refit_from_smaller"] = {"loglik_before": before, "loglik_after": fits[1].lmm.loglik}
    fs, fl = fits[0].lmm, fits[1].lmm
    out.update(
        {
            "loglik_small": fs.loglik,
            "loglik_large": fl.loglik,
            "aic_small": fs.aic,
            "aic_large": fl.aic,
            "bic_small": fs.bic,
            "bic_large": fl.bic,
            "converged": bool(fs.converged and fl.converged),
            "singular": bool(fs.singular or fl.singular),
        }
    )
    suspect = [f"{f.spec.name}: {f.reason}" for f in fits if f.status != "ok"]
    if fl.loglik < fs.loglik - 1e-6:
        suspect.append(
            f"the larger model's ML log-likelihood ({fl.loglik:.6g}) is below the nested "
            f"model's ({fs.loglik:.6g}) even when refitted from the nested optimum"
        )
    if suspect:
        return {
            **out,
            "status": "suspect",
            "reason": "; ".join(suspect),
            "chi2": None,
            "df": None,
            "p": None,
        }
    chi2 = max(0.0, 2.0 * (fl.loglik - fs.loglik))  # only rounding can make it negative here
    df = fl.n_params - fs.n_params
    out.update(
        {
            "status": "ok",
            "reason": None,
            "chi2": chi2,
            "df": int(df),
            "p": float(special.chdtrc(df, chi2)),
        }
    )
    q_small = fs.ranef.shape[1]
    if keys["fixed"][0] == keys["fixed"][1] and fl.ranef.shape[1] == q_small + 1:
        # One added random slope: its variance and q_small covariances, tested at a boundary.
        out["p_boundary"] = float(
            0.5 * special.chdtrc(q_small, chi2) + 0.5 * special.chdtrc(q_small + 1, chi2)
        )
    if not math.isfinite(chi2):  # pragma: no cover
        out["status"] = "failed"
    return out


def _padded_theta(small: LmmFit, large: LmmFit) -> np.ndarray:
    """The smaller model's random-effects covariance in the larger's ``theta`` (zeros elsewhere)."""
    q = len(large.z_names)
    index = [large.z_names.index(name) for name in small.z_names]
    lam = np.zeros((q, q))
    lam[np.ix_(index, index)] = theta_to_lambda(small.theta, len(small.z_names))
    rows, cols = theta_layout(q)
    return lower_factor(lam)[rows, cols]
