"""Fitting one form (linear or quadratic) of the normative line(s) on the cleaned fitting sample.

Three fits: OLS with t CIs (one or more lines), OLS with cluster-robust SEs by participant
(level change, one line), and the Huber M-estimator (outliers ``huber``). Each returns a
:class:`FormFit` holding the coefficients and the JSON entry of every line.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
from scipy import special  # not scipy.stats: its import costs ~0.5 s in every SR job

from srflow.errors import ModelError
from srflow.sr.coefficients import coefficient_table, design, qq_summary, term_names, to_raw_scale
from srflow.sr.ols import OlsFit, RankError, cluster_robust_cov, line_order, ols_lines
from srflow.sr.units import Units, describe_line, line_label

if TYPE_CHECKING:
    from srflow.config import SRSpec


@dataclasses.dataclass
class FittingSample:
    """The units that define the line(s), after the outlier rule (values possibly clipped)."""

    y: np.ndarray
    E: np.ndarray
    covariate: np.ndarray | None
    line: np.ndarray  # line index of every fitting unit
    center: np.ndarray  # (G,) mean E of each line's fitting units
    clusters: np.ndarray | None  # participant code per fitting unit (level change only)


@dataclasses.dataclass
class FormFit:
    """One form fitted on every line of a spec."""

    form: str
    beta: np.ndarray  # (G, p), E centred at `center`
    cov: np.ndarray
    entries: list[dict]  # JSON per line
    loglik: np.ndarray | None  # (G,) ML log-likelihood (OLS) or None (huber)
    quad_z: np.ndarray | None  # (G,) Wald z of the squared term (huber)
    ols: OlsFit | None = None


#: A fitted form, or the reason (a message) why it could not be fitted.
FitOrReason = FormFit | str


def fit_form(units: Units, spec: SRSpec, sample: FittingSample, quadratic: bool) -> FormFit:
    """Fit one form on the cleaned fitting sample.

    ``sample.clusters`` (participant code per fitting unit; level ``change`` only, one line)
    switches the reported SEs and CIs of the OLS fit to cluster-robust ones (CR1, t with
    ``G - 1`` df), because a participant contributes several correlated intervals; the
    conventional SE is kept as ``se_naive``. The coefficients do not depend on it.
    """
    X = design(sample.E - sample.center[sample.line], sample.covariate, quadratic)
    names = term_names(spec, quadratic)
    form = "quadratic" if quadratic else "linear"
    if spec.outliers == "huber":
        return _fit_huber(units, names, form, sample, X, quadratic)
    fit = _ols_or_explain(units, spec, sample, X, form)
    if sample.clusters is None:
        return _t_form(units, names, form, fit, sample.center, quadratic)
    return _clustered_form(units, names, form, fit, X, sample, quadratic)


def _ols_or_explain(
    units: Units, spec: SRSpec, sample: FittingSample, X: np.ndarray, form: str
) -> OlsFit:
    """The OLS fit of every line, or a ModelError that names the lines that cannot be fitted."""
    try:
        return ols_lines(sample.y, X, sample.line, len(units.line_labels))
    except RankError as exc:
        where = ", ".join(describe_line(units, g) for g in exc.lines[:10])
        if exc.too_few:
            raise ModelError(
                f"SR spec '{spec.name}': the {form} line cannot be fitted in {where}: no more "
                f"units than its {X.shape[1] + 1} coefficients."
            ) from None
        raise ModelError(
            f"SR spec '{spec.name}': the {form} line cannot be fitted in {where}: the exposure "
            f"'{spec.exposure}' is constant there (or, for the quadratic form, takes fewer than "
            "3 distinct values; or a predictor is collinear). Use form linear, other waves, or "
            "another exposure."
        ) from None


def _t_form(
    units: Units, names: list[str], form: str, fit: OlsFit, center: np.ndarray, quadratic: bool
) -> FormFit:
    """Conventional OLS SEs and t CIs, per line."""
    raw, raw_cov = to_raw_scale(fit.beta, fit.cov, center, quadratic)
    r2 = 1 - fit.ssr / fit.sst
    r2_adj = 1 - (1 - r2) * (fit.n - 1) / fit.df_resid
    entries = []
    for g in range(len(units.line_labels)):
        crit = float(special.stdtrit(fit.df_resid[g], 0.975))
        entries.append(
            {
                "label": line_label(units, g),
                "n_used": int(fit.n[g]),
                "E_center": float(center[g]),
                "coefficients": coefficient_table(
                    names, raw[g], np.sqrt(np.diag(raw_cov[g])), crit
                ),
                "coefficients_centered": coefficient_table(
                    names, fit.beta[g], np.sqrt(np.diag(fit.cov[g])), crit
                ),
                "ci_method": "t",
                "sigma": float(fit.sigma[g]),
                "r2": float(r2[g]),
                "r2_adj": float(r2_adj[g]),
                "loglik_ml": float(fit.loglik[g]),
            }
        )
    return FormFit(
        form=form,
        beta=fit.beta,
        cov=fit.cov,
        entries=entries,
        loglik=fit.loglik,
        quad_z=None,
        ols=fit,
    )


def _clustered_form(
    units: Units,
    names: list[str],
    form: str,
    fit: OlsFit,
    X: np.ndarray,
    sample: FittingSample,
    quadratic: bool,
) -> FormFit:
    """Cluster-robust (CR1) SEs by participant and t CIs with G - 1 df, for a single line."""
    if len(units.line_labels) != 1:  # level change always has one line
        raise ValueError("cluster-robust SEs are implemented for a single line only")
    center = sample.center
    raw, raw_cov = to_raw_scale(fit.beta, fit.cov, center, quadratic)
    r2 = 1 - fit.ssr / fit.sst
    r2_adj = 1 - (1 - r2) * (fit.n - 1) / fit.df_resid
    cluster_cov, n_clusters = cluster_robust_cov(fit, X, sample.clusters)
    cluster_raw_cov = to_raw_scale(fit.beta, cluster_cov, center, quadratic)[1]
    # Inference with G - 1 df, as statsmodels' cluster fit with use_t=True (df_resid_inference =
    # G - 1; its default use_t=False would give normal quantiles) and Stata's vce(cluster).
    crit = float(special.stdtrit(n_clusters - 1, 0.975))
    entry = {
        "label": line_label(units, 0),
        "n_used": int(fit.n[0]),
        "n_clusters": n_clusters,
        "E_center": float(center[0]),
        "coefficients": coefficient_table(
            names,
            raw[0],
            np.sqrt(np.diag(cluster_raw_cov[0])),
            crit,
            se_naive=np.sqrt(np.diag(raw_cov[0])),
        ),
        "coefficients_centered": coefficient_table(
            names,
            fit.beta[0],
            np.sqrt(np.diag(cluster_cov[0])),
            crit,
            se_naive=np.sqrt(np.diag(fit.cov[0])),
        ),
        "se_type": "cluster-robust (CR1) by participant, t with G-1 df",
        "ci_method": f"t with G-1 = {n_clusters - 1} df (G = participants), cluster-robust SE",
        "se_naive_note": "se_naive: conventional OLS SE, which treats a participant's intervals as "
        "independent (too small)",
        "sigma": float(fit.sigma[0]),
        "r2": float(r2[0]),
        "r2_adj": float(r2_adj[0]),
        "loglik_ml": float(fit.loglik[0]),
    }
    return FormFit(
        form=form,
        beta=fit.beta,
        cov=cluster_cov,
        entries=[entry],
        loglik=fit.loglik,
        quad_z=None,
        ols=fit,
    )


def add_ols_diagnostics(
    form_fit: FormFit, fit_line: np.ndarray, order: np.ndarray, bounds: np.ndarray
) -> None:
    """Cook's distances and residual QQ quantiles per line (only for the fits reported)."""
    fit = form_fit.ols
    if fit is None or "residual_qq" in form_fit.entries[0]:
        return
    p = form_fit.beta.shape[1]
    h = fit.leverage
    sigma = fit.sigma[fit_line]
    with np.errstate(divide="ignore", invalid="ignore"):
        cook = (fit.resid**2 * h / (p * sigma**2 * (1 - h) ** 2))[order]
    std = (fit.resid / sigma)[order]
    for g, entry in enumerate(form_fit.entries):
        part = slice(bounds[g], bounds[g + 1])
        thr = 4.0 / fit.n[g]
        entry["cooks_distance"] = {
            "max": float(np.max(cook[part])),
            "threshold": thr,
            "n_above_threshold": int((cook[part] > thr).sum()),
        }
        entry["residual_qq"] = qq_summary(std[part])


def _fit_huber(
    units: Units, names: list[str], form: str, sample: FittingSample, X: np.ndarray, quadratic: bool
) -> FormFit:
    """Huber M-estimator per line (statsmodels RLM, HuberT, MAD scale), normal CIs."""
    import statsmodels.api as sm  # imported here: only the huber option needs it

    fit_y, fit_line, center = sample.y, sample.line, sample.center
    G = len(units.line_labels)
    p = X.shape[1] + 1
    beta = np.empty((G, p))
    cov = np.empty((G, p, p))
    entries, quad_z = [], np.full(G, np.nan)
    order, bounds = line_order(fit_line, G)
    too_few = np.flatnonzero(np.diff(bounds) <= p)
    if len(too_few):
        where = ", ".join(describe_line(units, g) for g in too_few[:10])
        raise ModelError(
            f"the {form} Huber line cannot be fitted in {where}: no more units than its {p} "
            "coefficients."
        )
    for g in range(G):
        idx = order[bounds[g] : bounds[g + 1]]
        design_g = np.column_stack([np.ones(len(idx)), X[idx]])
        res = sm.RLM(fit_y[idx], design_g, M=sm.robust.norms.HuberT()).fit()
        beta[g], cov[g] = res.params, res.bcov_scaled
        if quadratic:
            quad_z[g] = res.params[2] / res.bse[2]
        resid = fit_y[idx] - design_g @ res.params
        yc = fit_y[idx] - fit_y[idx].mean()
        r2 = 1 - resid @ resid / (yc @ yc)
        raw, raw_cov = to_raw_scale(beta[g : g + 1], cov[g : g + 1], center[g : g + 1], quadratic)
        crit = float(special.ndtri(0.975))
        entries.append(
            {
                "label": line_label(units, g),
                "n_used": int(len(idx)),
                "E_center": float(center[g]),
                "coefficients": coefficient_table(
                    names, raw[0], np.sqrt(np.diag(raw_cov[0])), crit
                ),
                "coefficients_centered": coefficient_table(
                    names, beta[g], np.sqrt(np.diag(cov[g])), crit
                ),
                "ci_method": "normal",
                "scale": float(res.scale),
                "r2": float(r2),
                "r2_adj": float(1 - (1 - r2) * (len(idx) - 1) / (len(idx) - p)),
                "n_downweighted": int((res.weights < 1 - 1e-12).sum()),
                "min_weight": float(res.weights.min()),
                "cooks_distance": None,
                "cooks_note": "not defined for the robust (Huber) fit; see n_downweighted",
                "residual_qq": qq_summary(resid / res.scale),
            }
        )
    return FormFit(form=form, beta=beta, cov=cov, entries=entries, loglik=None, quad_z=quad_z)
