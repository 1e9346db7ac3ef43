"""The OLS levels (wave, period, sliding, change): fitting sample, form choice, line JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from srflow.errors import ModelError
from srflow.sr.coefficients import design
from srflow.sr.form_test import form_test
from srflow.sr.forms import FitOrReason, FittingSample, FormFit, add_ols_diagnostics, fit_form
from srflow.sr.ols import line_order, per_line
from srflow.sr.outliers import clean, rename_outlier_vars
from srflow.sr.units import MIN_UNITS_PER_LINE, Units, check_line_sizes

if TYPE_CHECKING:
    from srflow.config import SRSpec


def fit_ols_level(units: Units, spec: SRSpec) -> tuple[np.ndarray, dict[str, Any]]:
    """Fit the spec's line(s) by OLS (or Huber) and predict the regressand of every unit.

    Returns the fitted regressand of every unit (``P_expected = offset + fitted``) and the
    JSON-ready description of the line(s).
    """
    G = len(units.line_labels)
    sample, keep, outlier_info = _fitting_sample(units, spec)

    def attempt(quadratic: bool) -> FitOrReason:
        try:
            return fit_form(units, spec, sample, quadratic)
        except ModelError as exc:
            return str(exc)

    linear = attempt(False)
    if spec.form == "linear" and isinstance(linear, str):
        raise ModelError(linear)
    quadratic = attempt(True)
    if spec.form == "quadratic" and isinstance(quadratic, str):
        raise ModelError(quadratic)
    if isinstance(linear, str) and isinstance(quadratic, str):
        raise ModelError(linear)
    test = form_test(linear, quadratic, G)
    chosen = _chosen_form(spec, linear, quadratic, test)
    order, bounds = line_order(sample.line, G)
    reported = [linear, quadratic] if spec.form == "auto" else [chosen]
    for form_fit in reported:
        if not isinstance(form_fit, str):
            add_ols_diagnostics(form_fit, sample.line, order, bounds)

    Xall = design(units.E - sample.center[units.line], units.covariate, chosen.form == "quadratic")
    fitted = chosen.beta[units.line, 0] + np.einsum("nk,nk->n", Xall, chosen.beta[units.line, 1:])

    line: dict[str, Any] = {
        "form_used": chosen.form,
        "n": {
            "candidates": units.n_candidates,
            "used": int(len(sample.line)),
            "excluded": {
                **units.excluded,
                "not_reference": int((~units.reference).sum()),
                "outliers": int((~keep).sum()),
            },
        },
        "n_lines": G,
        "line_key": units.line_key,
        "form_test": test,
        "outliers": {"method": spec.outliers, "k": spec.k, **outlier_info},
        "lines": chosen.entries,
    }
    if spec.form == "auto":
        line["fits"] = {
            "linear": None if isinstance(linear, str) else linear.entries,
            "quadratic": None if isinstance(quadratic, str) else quadratic.entries,
        }
    return fitted, line


def _fitting_sample(units: Units, spec: SRSpec) -> tuple[FittingSample, np.ndarray, dict[str, Any]]:
    """The reference units after the outlier rule, the kept mask and the outlier description."""
    G = len(units.line_labels)
    method = spec.outliers
    fitting = units.reference
    check_line_sizes(
        per_line(units.line[fitting], None, G),
        units,
        spec.name,
        "reference units",
        MIN_UNITS_PER_LINE,
    )
    fit_line = units.line[fitting]
    variables = {"y": units.y[fitting], "E": units.E[fitting]}
    if units.covariate is not None:
        variables["covariate"] = units.covariate[fitting]
    if method in ("winsorize", "exclude", "mahalanobis"):
        keep, cleaned, outlier_info = clean(variables, fit_line, G, method, float(spec.k))
        fit_line = fit_line[keep]
        check_line_sizes(
            per_line(fit_line, None, G),
            units,
            spec.name,
            f"units left after the {method} outlier rule",
            MIN_UNITS_PER_LINE,
        )
    else:
        keep, cleaned, outlier_info = np.ones(len(fit_line), bool), variables, {}
    outlier_info = rename_outlier_vars(outlier_info, spec)
    if spec.level == "change":
        # Units are intervals; a normative line still needs several people.
        n_people = len(np.unique(units.groups[fitting][keep]))
        if n_people < MIN_UNITS_PER_LINE:
            raise ModelError(
                f"SR spec '{spec.name}': the fitting intervals come from only {n_people} "
                f"participant(s); at least {MIN_UNITS_PER_LINE} are needed for a normative line."
            )
    center = per_line(fit_line, cleaned["E"], G) / per_line(fit_line, None, G)
    sample = FittingSample(
        y=cleaned["y"],
        E=cleaned["E"],
        covariate=cleaned.get("covariate"),
        line=fit_line,
        center=center,
        # change: several intervals per participant, so SEs are clustered by participant.
        clusters=units.groups[fitting][keep] if spec.level == "change" else None,
    )
    return sample, keep, outlier_info


def _chosen_form(
    spec: SRSpec, linear: FitOrReason, quadratic: FitOrReason, test: dict[str, Any]
) -> FormFit:
    """The form the spec asks for; for ``auto`` quadratic when the form test has p < alpha."""
    if spec.form == "auto":
        use_quadratic = isinstance(linear, str) or (
            not isinstance(quadratic, str) and test["p"] is not None and test["p"] < spec.alpha
        )
        chosen = quadratic if use_quadratic else linear
    else:
        chosen = linear if spec.form == "linear" else quadratic
    assert not isinstance(chosen, str)
    return chosen
