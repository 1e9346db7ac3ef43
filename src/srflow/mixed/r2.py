"""Marginal and conditional R^2 of a linear mixed model (Nakagawa & Schielzeth 2013).

With random slopes the random-effect variance is Johnson's (2014) mean over the
observations of ``z_j' D z_j`` (``D`` the random-effects covariance, ``z_j`` the row of the
random-effects design), computed as ``performance::r2_nakagawa`` does: the random-effect
columns are taken from the fixed design, so a random slope without a matching fixed
effect is left out of that variance (with a warning in srflow, since performance drops
it silently).
"""

from __future__ import annotations

import numpy as np

from srflow.mixed.engine import LmmFit


def nakagawa_r2(lmm: LmmFit, X: np.ndarray) -> dict:
    """``r2_marginal`` and ``r2_conditional`` of a fit.

    Parameters
    ----------
    lmm : LmmFit
    X : ndarray
        The fixed-effects design the model was fitted with (n, p).

    Returns
    -------
    dict
        ``r2_marginal`` = var_f / (var_f + var_r + sigma^2) and ``r2_conditional`` =
        (var_f + var_r) / (var_f + var_r + sigma^2), with var_f the sample variance
        (n - 1) of ``X beta``; ``r2_random_terms_dropped``: random terms left out of var_r.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> fit = SimpleNamespace(beta=np.array([0.0, 1.0]), x_names=["Intercept", "E"],
    ...                       z_names=["Intercept"], cov_re=np.array([[2.0]]), sigma=1.0)
    >>> r2 = nakagawa_r2(fit, X)   # var_f = 5/3, var_r = 2, sigma^2 = 1
    >>> round(r2["r2_marginal"], 6), round(r2["r2_conditional"], 6)
    (0.357143, 0.785714)
    """
    fixed_part = X @ lmm.beta
    var_fixed = float(np.var(fixed_part, ddof=1))
    kept = [j for j, name in enumerate(lmm.z_names) if name in lmm.x_names]
    dropped = [name for name in lmm.z_names if name not in lmm.x_names]
    z = X[:, [lmm.x_names.index(lmm.z_names[j]) for j in kept]]
    cov = lmm.cov_re[np.ix_(kept, kept)]
    var_random = float(np.einsum("na,ab,nb->", z, cov, z) / X.shape[0])
    if getattr(lmm, "upper_sd", None) is not None:  # nested_in: the site intercept's variance
        var_random += float(lmm.upper_sd) ** 2
    total = var_fixed + var_random + lmm.sigma**2
    return {
        "r2_marginal": var_fixed / total,
        "r2_conditional": (var_fixed + var_random) / total,
        "r2_random_terms_dropped": dropped,
    }
