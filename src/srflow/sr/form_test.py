"""The test of the quadratic against the linear form of the OLS levels.

Likelihood ratio ``2 (ll_quadratic - ll_linear)`` of the ML OLS fits; with ``huber`` (a
robust fit has no Gaussian likelihood) the Wald chi-square of the squared term with robust
SEs. For several lines (wave, sliding) the per-line statistics are summed, with one degree
of freedom per line, so that every line of a spec gets the same form.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special  # not scipy.stats: its import costs ~0.5 s in every SR job

from srflow.sr.forms import FitOrReason


def form_test(linear: FitOrReason, quadratic: FitOrReason, G: int) -> dict[str, Any]:
    """Linear vs quadratic over ``G`` lines: LR test on the ML OLS fits (Wald for huber).

    A form that could not be fitted is given as its reason (a str); the test is then not
    computed and its note says why.
    """
    if isinstance(linear, str) or isinstance(quadratic, str):
        return {
            "method": None,
            "statistic": None,
            "df": None,
            "p": None,
            "note": "not computed: " + (quadratic if isinstance(quadratic, str) else linear),
        }
    if quadratic.loglik is None:
        return _chi2_test(
            "wald_robust",
            quadratic.quad_z**2,
            "Huber fits have no Gaussian likelihood: Wald chi-square of the squared term, "
            "robust SE, summed over lines",
        )
    return _chi2_test(
        "likelihood_ratio",
        2 * (quadratic.loglik - linear.loglik),
        "2 (loglik_quadratic - loglik_linear), ML OLS fits on the same units"
        + (", summed over lines (df = number of lines)" if G > 1 else ""),
    )


def _chi2_test(method: str, per_line: np.ndarray, note: str) -> dict[str, Any]:
    """The per-line chi-square statistics summed, with one degree of freedom per line."""
    G = len(per_line)
    stat = float(per_line.sum())
    return {
        "method": method,
        "statistic": stat,
        "df": G,
        "p": float(special.chdtrc(G, stat)),
        "per_line": [float(v) for v in per_line],
        "note": note,
    }
