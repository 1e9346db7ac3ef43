"""Level multilevel: ``P ~ E + (1 + E | participant)`` by REML, SR from the fixed effects only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special  # not scipy.stats: its import costs ~0.5 s in every SR job

from srflow.errors import ModelError
from srflow.sr.coefficients import coefficient_table, design, qq_summary, term_names, to_raw_scale
from srflow.sr.outliers import clean, rename_outlier_vars
from srflow.sr.units import MIN_UNITS_PER_LINE, Units

if TYPE_CHECKING:
    from srflow.config import SRSpec


def fit_multilevel(units: Units, spec: SRSpec) -> tuple[np.ndarray, dict[str, Any]]:
    """Fit the mixed model on the (cleaned) reference rows; predict everyone's fixed part.

    Returns the fixed-effect prediction of every unit and the JSON-ready line description.
    For form ``auto`` two extra ML fits give the likelihood-ratio test of the E^2 term.
    """
    if spec.outliers == "huber":
        raise ModelError(
            f"SR spec '{spec.name}': outliers 'huber' is not available for level multilevel (there is "
            "no robust mixed model); use winsorize, exclude or mahalanobis."
        )
    fit_y, fit_E, fit_groups, keep, outlier_info = _fitting_rows(units, spec)
    n_people = len(np.unique(fit_groups))
    if n_people < MIN_UNITS_PER_LINE:
        raise ModelError(
            f"SR spec '{spec.name}': only {n_people} participant(s) to fit the mixed model; at least "
            f"{MIN_UNITS_PER_LINE} are needed."
        )
    if len(fit_E) == 0 or np.ptp(fit_E) == 0:
        raise ModelError(
            f"SR spec '{spec.name}': the exposure '{spec.exposure}' is constant in the fitting sample, "
            "so no line can be fitted."
        )
    center = float(fit_E.mean())
    Ec = fit_E - center
    Z = np.column_stack([np.ones_like(Ec), Ec])

    def lmm(quadratic: bool, reml: bool):
        return _fit_lmm(spec, fit_y, Ec, Z, fit_groups, quadratic, reml)

    if spec.form == "auto":
        quadratic, test, fits_json = _auto_form(lmm, spec.alpha, fit_y, Ec, Z, center)
    else:
        quadratic, test, fits_json = spec.form == "quadratic", _NO_TEST, None
    fit = lmm(quadratic, True)
    X_fit = np.column_stack([np.ones_like(Ec), design(Ec, None, quadratic)])
    entry = _lmm_entry(fit, fit_y, X_fit, Z, center, quadratic)
    E_all = units.E - center
    X_all = np.column_stack([np.ones_like(E_all), design(E_all, None, quadratic)])
    fitted = fit.predict_fixed(X_all)
    line: dict[str, Any] = {
        "form_used": "quadratic" if quadratic else "linear",
        "n": {
            "candidates": units.n_candidates,
            "used": int(len(fit_y)),
            "participants_used": int(n_people),
            "excluded": {
                **units.excluded,
                "not_reference": int((~units.reference).sum()),
                "outliers": int((~keep).sum()),
            },
        },
        "n_lines": 1,
        "line_key": None,
        "form_test": dict(test),
        "outliers": {"method": spec.outliers, "k": spec.k, **outlier_info},
        "lines": [entry],
    }
    if fits_json is not None:
        line["fits"] = fits_json
    return fitted, line


#: The form test entry of a multilevel spec whose form is fixed.
_NO_TEST: dict[str, Any] = {
    "method": None,
    "statistic": None,
    "df": None,
    "p": None,
    "note": "computed only for form auto (needs two extra ML fits)",
}


def _fit_lmm(
    spec: SRSpec,
    y: np.ndarray,
    Ec: np.ndarray,
    Z: np.ndarray,
    groups: np.ndarray,
    quadratic: bool,
    reml: bool,
) -> Any:
    """``P ~ E (+ E^2) + (1 + E | participant)`` on centred E; a failure names the spec."""
    from srflow.mixed import fit_lmm  # the engine is only needed here

    X = np.column_stack([np.ones_like(Ec), design(Ec, None, quadratic)])
    try:
        return fit_lmm(
            y,
            X,
            Z,
            groups,
            reml=reml,
            x_names=term_names(spec, quadratic),
            z_names=["Intercept", spec.exposure],
        )
    except ModelError as exc:
        raise ModelError(
            f"SR spec '{spec.name}': the mixed model P ~ E cannot be fitted: {exc}"
        ) from None


def _auto_form(
    lmm: Any, alpha: float, y: np.ndarray, Ec: np.ndarray, Z: np.ndarray, center: float
) -> tuple[bool, dict[str, Any], dict[str, Any]]:
    """Form ``auto``: LR test of the ML fits with and without E^2; (quadratic?, test, both fits)."""
    ml_lin, ml_quad = lmm(False, False), lmm(True, False)
    stat = float(2 * (ml_quad.loglik - ml_lin.loglik))
    test = {
        "method": "likelihood_ratio",
        "statistic": stat,
        "df": 1,
        "p": float(special.chdtrc(1, stat)),
        "note": "2 (loglik_quadratic - loglik_linear) of ML mixed-model fits",
    }
    fits_json = {
        "linear": _lmm_entry(ml_lin, y, np.column_stack([np.ones_like(Ec), Ec]), Z, center, False),
        "quadratic": _lmm_entry(
            ml_quad, y, np.column_stack([np.ones_like(Ec), Ec, Ec**2]), Z, center, True
        ),
    }
    return test["p"] < alpha, test, fits_json


def _fitting_rows(
    units: Units, spec: SRSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """P, E and participant of the reference rows after the outlier rule; kept mask; description."""
    fitting = units.reference
    fit_groups = units.groups[fitting]
    variables = {"y": units.y[fitting], "E": units.E[fitting]}
    line0 = np.zeros(len(fit_groups), np.int64)
    keep = np.ones(len(fit_groups), bool)
    outlier_info: dict[str, Any] = {}
    if spec.outliers != "none":
        keep, variables, outlier_info = clean(variables, line0, 1, spec.outliers, float(spec.k))
        fit_groups = fit_groups[keep]
    return variables["y"], variables["E"], fit_groups, keep, rename_outlier_vars(outlier_info, spec)


def _lmm_entry(
    fit: Any, y: np.ndarray, X: np.ndarray, Z: np.ndarray, center: float, quadratic: bool
) -> dict[str, Any]:
    """The line JSON of one mixed-model fit: coefficients, random effects, R2, diagnostics."""
    beta = fit.beta[None, :]
    raw, raw_cov = to_raw_scale(beta, fit.beta_cov[None], np.array([center]), quadratic)
    crit = float(special.ndtri(0.975))
    fixed = X @ fit.beta
    marginal = y - fixed
    var_fixed = float(np.var(fixed))
    # Random-effect variance at each observation: z' Sigma z, averaged (random-slope R2).
    var_random = float(np.mean(np.einsum("na,ab,nb->n", Z, fit.cov_re, Z)))
    total = var_fixed + var_random + fit.sigma**2
    yc = y - y.mean()
    z_names = list(fit.z_names)
    return {
        "label": "all",
        "model": "P ~ E + (1 + E | participant)" + (" with E^2 fixed" if quadratic else ""),
        "criterion": fit.criterion,
        "n_used": int(fit.n_obs),
        "n_groups": int(fit.n_groups),
        "E_center": center,
        "coefficients": coefficient_table(
            list(fit.x_names), raw[0], np.sqrt(np.diag(raw_cov[0])), crit
        ),
        "coefficients_centered": coefficient_table(list(fit.x_names), fit.beta, fit.beta_se, crit),
        "ci_method": "normal (Wald)",
        "sigma": float(fit.sigma),
        "random_effects": {
            "sd": {n: float(v) for n, v in zip(z_names, fit.sd_re, strict=True)},
            "corr": float(fit.corr_re[0, 1]) if len(z_names) > 1 else None,
            "note": f"random slope on E centred at {center:.6g}",
        },
        "r2": float(1 - marginal @ marginal / (yc @ yc)),
        "r2_note": "r2 = 1 - SS(P - fixed prediction) / SS(P); r2_marginal / r2_conditional after "
        "Nakagawa & Schielzeth with the random-slope variance averaged over observations",
        "r2_marginal": var_fixed / total,
        "r2_conditional": (var_fixed + var_random) / total,
        "r2_adj": None,
        "loglik": float(fit.loglik),
        "aic": float(fit.aic),
        "bic": float(fit.bic),
        "converged": bool(fit.converged),
        "singular": bool(fit.singular),
        "optimizer": getattr(fit, "optimizer", None),
        "warnings": list(fit.warnings),
        "cooks_distance": None,
        "cooks_note": "observation-level Cook's distance is not defined for the mixed model",
        "residual_qq": qq_summary(marginal / np.std(marginal, ddof=1)),
        "residual_qq_note": "marginal residuals P - fixed prediction (the SR of the fitting rows), "
        "standardised",
    }
