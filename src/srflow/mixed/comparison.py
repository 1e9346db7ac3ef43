"""Likelihood-ratio tests of nested mixed-model specs on ML fits, refitting when needed.

A larger model can never have a lower ML log-likelihood than a model nested in it; when it does,
its optimiser stopped short, so it is refitted from the smaller model's optimum before anything
is reported, and a comparison that still cannot be certified is ``suspect`` with no chi-square.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from srflow.errors import ConfigError, ModelError
from srflow.mixed.design import MixedModelSpec, _term_key, parse_term
from srflow.mixed.engine import LmmFit, theta_layout, theta_to_lambda
from srflow.mixed.models import _fit_rows
from srflow.mixed.optimise import lower_factor
from srflow.mixed.recipe import DesignRecipe
from srflow.mixed.rows import _complete_rows, model_data


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
    small = _as_spec(spec_small, "small")
    large = _as_spec(spec_large, "large")
    keys = _nested_terms(small, large)
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
        fits[1] = _refit_from(fits[0].lmm, fits[1].lmm, large_ml, rows)
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
    return {**out, **_chi_square_test(fs, fl, same_fixed=keys["fixed"][0] == keys["fixed"][1])}


def _padded_theta(small: LmmFit, large: LmmFit) -> np.ndarray:
    """The smaller model's random-effects covariance in the larger's ``theta`` (zeros elsewhere)."""
    q = len(large.z_names)
    index = [large.z_names.index(name) for name in small.z_names]
    lam = np.zeros((q, q))
    lam[np.ix_(index, index)] = theta_to_lambda(small.theta, len(small.z_names))
    rows, cols = theta_layout(q)
    return lower_factor(lam)[rows, cols]


def _as_spec(spec: MixedModelSpec | Mapping[str, Any], name: str) -> MixedModelSpec:
    return spec if isinstance(spec, MixedModelSpec) else MixedModelSpec.from_config(name, spec)


def _nested_terms(small: MixedModelSpec, large: MixedModelSpec) -> dict[str, tuple[set, set]]:
    """Each model's fixed and random term keys; a ConfigError unless ``small`` is nested in ``large``."""
    keys = {
        key: (
            {_term_key(parse_term(t)) for t in getattr(small, key)},
            {_term_key(parse_term(t)) for t in getattr(large, key)},
        )
        for key in ("fixed", "random")
    }
    nested = all(a <= b for a, b in keys.values())
    # nested_in: the same upper level in both, or only in the larger (testing its variance)
    upper_nested = small.nested_in in (None, large.nested_in)
    same_upper = small.nested_in == large.nested_in
    if (
        (small.outcome, small.group) != (large.outcome, large.group)
        or not nested
        or not upper_nested
        or (same_upper and all(a == b for a, b in keys.values()))
    ):
        upper = (
            f" (or the same, with nested_in {large.nested_in!r} only in {large.name}); "
            f"{small.name}'s nested_in must be {large.name}'s or absent"
            if small.nested_in or large.nested_in
            else ""
        )
        raise ConfigError(
            f"Likelihood-ratio test {small.name} vs {large.name}: the models must share outcome "
            f"and group, and {small.name}'s fixed and random terms must be a strict subset of "
            f"{large.name}'s{upper}."
        )
    return keys


def _refit_from(small: LmmFit, large: LmmFit, large_ml: MixedModelSpec, rows: pd.DataFrame):
    """The larger model refitted from the smaller's optimum, padded with zeros."""
    start = ("smaller model's optimum (padded with zeros)", _padded_theta(small, large))
    return _fit_rows(large_ml, rows[large_ml.used_columns()], 0, starts=(start,))


def _chi_square_test(fs: LmmFit, fl: LmmFit, same_fixed: bool) -> dict[str, Any]:
    """The LR statistic, its df and p; ``p_boundary`` when one random slope is added."""
    chi2 = max(0.0, 2.0 * (fl.loglik - fs.loglik))  # only rounding can make it negative here
    df = fl.n_params - fs.n_params
    out: dict[str, Any] = {
        "status": "ok",
        "reason": None,
        "chi2": chi2,
        "df": int(df),
        "p": float(special.chdtrc(df, chi2)),
    }
    q_small = fs.ranef.shape[1]
    same_upper = (fs.upper_sd is None) == (fl.upper_sd is None)
    if same_fixed and not same_upper and fl.ranef.shape[1] == q_small:
        # Only the upper level's intercept added: one variance tested at 0 (chi2_0 : chi2_1).
        out["p_boundary"] = float(0.5 * special.chdtrc(1, chi2))
    elif same_fixed and same_upper and fl.ranef.shape[1] == q_small + 1:
        # One added random slope: its variance and q_small covariances, tested at a boundary.
        out["p_boundary"] = float(
            0.5 * special.chdtrc(q_small, chi2) + 0.5 * special.chdtrc(q_small + 1, chi2)
        )
    if not math.isfinite(chi2):  # pragma: no cover
        out["status"] = "failed"
    return out
