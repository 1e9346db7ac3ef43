"""Inference for a fitted mixed-model spec: fixed-effect t tests, Type III F tests, R^2, profile CIs.

One entry point, :func:`infer`, turns a fit into the tables and fit.json keys srflow
writes. The df method is the spec's ``df``:

* ``satterthwaite`` (default, as lmerTest): t on Satterthwaite df, F with pooled df;
* ``kenward_roger`` (REML only, as pbkrtest/lmerTest): Kenward-Roger adjusted SEs, t on
  Kenward-Roger df, scaled F;
* ``wald``: z and chi-square tests, written with ``df`` infinite (``inf``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy import special
from threadpoolctl import threadpool_limits

from srflow.errors import ModelError
from srflow.mixed.anova import anova_table, type3_contrasts
from srflow.mixed.design import MixedModelSpec
from srflow.mixed.engine import GroupStatistics, LmmFit, fit_lmm, group_statistics
from srflow.mixed.kenward_roger import KenwardRoger
from srflow.mixed.nested import nested_statistics
from srflow.mixed.nested_fit import fit_nested_lmm, nested_satterthwaite
from srflow.mixed.nested_profile import nested_profile_intervals
from srflow.mixed.profile import profile_intervals
from srflow.mixed.r2 import nakagawa_r2
from srflow.mixed.recipe import DesignRecipe
from srflow.mixed.satterthwaite import Satterthwaite

FIXED_COLUMNS = ["term", "estimate", "se", "df", "statistic", "p", "ci_low", "ci_high", "reference"]


@dataclasses.dataclass(frozen=True)
class _Wald:
    """Wald tests need only beta and its covariance."""

    beta: np.ndarray
    vcov_beta: np.ndarray


@dataclasses.dataclass
class Inference:
    """What :func:`infer` returns.

    Attributes
    ----------
    fixed : DataFrame
        ``term, estimate, se, df, statistic, p, ci_low, ci_high, reference``.
    anova : DataFrame
        ``term, num_df, den_df, F, p`` (Type III).
    fit : dict
        ``df_method``, ``r2_marginal``, ``r2_conditional`` and ``variance_components_ci``.
    warnings : list of str
    """

    fixed: pd.DataFrame
    anova: pd.DataFrame
    fit: dict
    warnings: list[str]


def t_table(
    beta: np.ndarray, se: np.ndarray, df: np.ndarray, names: list[str], recipe: DesignRecipe
) -> pd.DataFrame:
    """Fixed-effect table with t statistics, two-sided p and 95% CIs on ``df`` (z when infinite).

    Examples
    --------
    >>> import numpy as np
    >>> from srflow.mixed.design import MixedModelSpec
    >>> recipe = DesignRecipe(MixedModelSpec("P", ["E"]), {})
    >>> row = t_table(np.array([2.0]), np.array([1.0]), np.array([10.0]), ["E"], recipe).iloc[0]
    >>> round(float(row["p"]), 6), round(float(row["ci_high"]), 6)
    (0.073388, 4.228139)
    """
    statistic = beta / se
    finite = np.isfinite(df)
    safe_df = np.where(finite, df, 1.0)
    p = np.where(
        finite,
        2.0 * special.stdtr(safe_df, -np.abs(statistic)),
        2.0 * special.ndtr(-np.abs(statistic)),
    )
    quantile = np.where(finite, special.stdtrit(safe_df, 0.975), special.ndtri(0.975))
    return pd.DataFrame(
        {
            "term": names,
            "estimate": beta,
            "se": se,
            "df": df,
            "statistic": statistic,
            "p": p,
            "ci_low": beta - quantile * se,
            "ci_high": beta + quantile * se,
            "reference": [recipe.references(name) for name in names],
        },
        columns=FIXED_COLUMNS,
    )


def _tester(spec: MixedModelSpec, lmm: LmmFit, s: GroupStatistics, upper=None):
    """The df machinery, the SEs it implies and the per-coefficient df."""
    if spec.df == "wald":
        return _Wald(lmm.beta, lmm.beta_cov), lmm.beta_se, np.full(lmm.beta.size, np.inf)
    if spec.df == "kenward_roger":
        kr = KenwardRoger.at_fit(lmm, s)
        return kr, np.sqrt(np.diag(kr.phi_adjusted)), kr.coefficient_df()
    if upper is not None:  # nested_in (Kenward-Roger is refused for it in the spec)
        sat = nested_satterthwaite(lmm, upper)
        return sat, lmm.beta_se, sat.coefficient_df()
    sat = Satterthwaite.at_fit(lmm, s)
    return sat, lmm.beta_se, sat.coefficient_df()


def infer(
    spec: MixedModelSpec,
    lmm: LmmFit,
    recipe: DesignRecipe,
    rows: pd.DataFrame,
    y: np.ndarray,
    X: np.ndarray,
    Z: np.ndarray,
    profile: bool = True,
) -> Inference:
    """Everything srflow reports about a fitted spec beyond the estimates.

    Parameters
    ----------
    spec : MixedModelSpec
    lmm : LmmFit
        The fit of ``spec`` (its method) to ``rows``.
    recipe : DesignRecipe
    rows : DataFrame
        The rows fitted.
    y, X, Z : ndarray
        Outcome and designs built from ``rows``.
    profile : bool
        Compute the profile-likelihood intervals (an ML refit and a root search per bound).

    Returns
    -------
    Inference
    """
    groups = rows[spec.group].to_numpy()
    with threadpool_limits(limits=1, user_api="blas"):  # tiny products: threads only contend
        s = group_statistics(y, X, Z, groups)
        upper = None
        if spec.nested_in is not None:
            upper = nested_statistics(y, X, Z, groups, rows[spec.nested_in].to_numpy())
        tester, se, df = _tester(spec, lmm, s, upper)
        fixed = t_table(lmm.beta, se, df, lmm.x_names, recipe)
        anova = anova_table(type3_contrasts(recipe, rows, X, lmm.x_names), tester, spec.df)
    warnings: list[str] = []
    r2 = nakagawa_r2(lmm, X)
    if r2["r2_random_terms_dropped"]:
        warnings.append(
            "R2: random slope(s) " + ", ".join(r2["r2_random_terms_dropped"]) + " have no fixed "
            "effect and are left out of the random-effect variance (as performance::r2_nakagawa)."
        )
    fit = {
        "df_method": spec.df,
        "r2_marginal": _finite_or_none(r2["r2_marginal"]),
        "r2_conditional": _finite_or_none(r2["r2_conditional"]),
        "variance_components_ci": None,
    }
    if profile:
        try:
            ci = _profile(lmm, y, X, Z, groups, s, upper, spec.nested_in)
        except (ModelError, np.linalg.LinAlgError, ValueError) as exc:  # the estimates still stand
            warnings.append(f"Profile intervals of the variance components not computed: {exc}")
            return Inference(fixed, anova, fit, warnings)
        if ci["ml_deviance_improved_by"] > 1e-6:
            warnings.append(
                f"Profile intervals: re-minimising the ML deviance lowered it by "
                f"{ci['ml_deviance_improved_by']:.4g}; the intervals are around that better "
                "ML optimum."
            )
        fit["variance_components_ci"] = ci
    return Inference(fixed, anova, fit, warnings)


def _profile(lmm, y, X, Z, groups, s, upper, nested_in) -> dict:
    """Profile intervals around the ML optimum (a REML fit is refitted by ML, as lme4)."""
    names = {"x_names": lmm.x_names, "z_names": lmm.z_names}
    if upper is None:
        ml = lmm if not lmm.reml else fit_lmm(y, X, Z, groups, reml=False, **names)
        return profile_intervals(ml, s)
    sites = upper.site_labels[upper.site_of_group[s.codes]]
    ml = (
        lmm
        if not lmm.reml
        else fit_nested_lmm(y, X, Z, groups, sites, reml=False, upper_name=nested_in, **names)
    )
    return nested_profile_intervals(ml, upper)


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
