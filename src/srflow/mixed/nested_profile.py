"""Profile-likelihood intervals of the variance components with participants nested in sites.

The profiler of :mod:`srflow.mixed.profile` (lme4's ``confint(method = "profile")``: the ML
deviance in SDs, correlations and the residual SD) with one more parameter, the site SD,
placed before the residual SD. The deviance is :func:`srflow.mixed.nested.nested_varpar_deviance`
at ``(theta, tau / sigma, sigma)``.
"""

from __future__ import annotations

import math

import numpy as np
from threadpoolctl import threadpool_limits

from srflow.mixed.engine import LmmFit, theta_layout
from srflow.mixed.nested import NestedStatistics, nested_varpar_deviance
from srflow.mixed.profile import SdCorrLayout, _Profiler, all_intervals


class NestedProfiler(_Profiler):
    """The ML deviance in (participant SDs and correlations, site SD, residual SD)."""

    def __init__(self, lmm_ml: LmmFit, ns: NestedStatistics):
        self.layout = SdCorrLayout(lmm_ml.cov_re.shape[0])
        self.s = ns.groups
        self.ns = ns
        one_level = self.layout.from_fit(lmm_ml)
        estimate = np.concatenate([one_level[:-1], [lmm_ml.upper_sd, lmm_ml.sigma]])
        kinds = self.layout.kinds
        self._start(estimate, [*kinds[:-1], "sd", kinds[-1]])

    def _rms_z(self) -> np.ndarray:
        return np.append(super()._rms_z(), 1.0)  # the site's design column is 1

    def deviance(self, phi: np.ndarray) -> float:
        phi = np.asarray(phi, dtype=float)
        varpar = self.layout.to_varpar(np.append(phi[:-2], phi[-1]))
        if varpar is None or phi[-2] < 0:
            return math.inf
        full = np.concatenate([varpar[:-1], [phi[-2] / varpar[-1]], varpar[-1:]])
        return nested_varpar_deviance(full, self.ns, False)


def nested_profile_intervals(lmm_ml: LmmFit, ns: NestedStatistics, level: float = 0.95) -> dict:
    """Profile intervals of every SD, correlation, the site SD and the residual SD.

    Parameters
    ----------
    lmm_ml : LmmFit
        The nested model fitted by **ML** (``upper_sd`` set).
    ns : NestedStatistics
    level : float

    Returns
    -------
    dict
        As :func:`srflow.mixed.profile.profile_intervals`, plus ``nested_in``:
        ``{"sd": {"Intercept": [low, high]}}``.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        profiler = NestedProfiler(lmm_ml, ns)
        intervals = all_intervals(profiler, level)
    rows, cols = theta_layout(profiler.layout.q)
    names = lmm_ml.z_names
    out: dict = {"sd": {}, "corr": {}, "residual_sd": intervals[-1]}
    for pair, r, c in zip(intervals[:-2], rows, cols, strict=True):
        if r == c:
            out["sd"][names[r]] = pair
        else:
            out["corr"][f"{names[c]}:{names[r]}"] = pair
    out["nested_in"] = {"sd": {"Intercept": intervals[-2]}}
    out["method"] = f"profile likelihood ({level:.0%}), ML deviance as lme4's confint"
    out["ml_deviance_improved_by"] = profiler.improvement
    return out
