"""Parametric bootstrap likelihood-ratio test of K - 1 against K classes (one replicate per job)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from srflow.errors import ConfigError, ConvergenceWarning, ModelError
from srflow.trajectories.panel import prepare_panel
from srflow.trajectories.selection import _below, clone, make_model, model_seed

__all__ = ["bootstrap_lrt_pvalue", "bootstrap_lrt_replicate"]


def bootstrap_lrt_replicate(
    data: pd.DataFrame,
    n_classes: int,
    replicate: int,
    random_state: int | None = 0,
    participant: str = "participant_id",
    time: str = "time",
    outcome: str = "P",
    method: str = "lcga",
    degree: int = 1,
    variance: str = "class",
    n_init: int = 20,
    random: Sequence[str] = ("intercept",),
    random_variance: str = "shared",
    model_options: Mapping | None = None,
    null_seed: int | None = None,
) -> dict:
    """One parametric-bootstrap replicate of the LR test of K - 1 against K classes.

    The K - 1 class model is fitted to ``data`` with the same seed the grid
    uses (:func:`model_seed` ``(random_state, K - 1)``), a data set is simulated from it at
    the observed design (same participants and times), and both K - 1 and K
    class models are fitted to the simulated data.  Each replicate is
    independent and deterministic given ``(random_state, K, replicate)``, so replicates
    can run as separate jobs.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table.
    n_classes : int
        K (>= 2), the larger model.
    replicate : int
        Replicate index (0, 1, ...).
    random_state : int or None
        Run seed.
    participant, time, outcome, method, degree, variance, n_init, random, random_variance
    model_options
        As in :func:`fit_trajectory_grid` (method "lcga" or "gmm").
    null_seed : int or None
        Seed of the K - 1 class fit to ``data`` (the model the replicate simulates
        from); default :func:`model_seed` ``(random_state, K - 1)``.  A workflow that gives
        each replicate its own ``random_state`` passes the seed its grid fit of K - 1 used,
        so every replicate simulates from the very model whose log-likelihood
        enters the observed LR statistic.

    Returns
    -------
    dict
        ``K, replicate, loglik_null, loglik_alt, lr`` with
        ``lr = 2 (loglik_alt - loglik_null)`` on the simulated data,
        ``loglik_null_observed``, the K - 1 class fit's log-likelihood on ``data``, and the
        certification: ``refitted`` (the K fit was below the K - 1 fit or not converged and was
        refitted from the K - 1 optimum, classes split), ``status`` ("ok", or "excluded" when
        even so the two fits are not certified optima: not converged, K below K - 1, a GMM
        below a nested model) and ``reason`` (None when ok). Excluded replicates do not enter
        :func:`bootstrap_lrt_pvalue`.
    """
    if method not in ("lcga", "gmm"):
        raise ConfigError("the bootstrap LR test needs a likelihood model: method 'lcga' or 'gmm'.")
    k = int(n_classes)
    if k < 2:
        raise ConfigError(f"the bootstrap LR test compares K - 1 with K >= 2 classes, got K = {k}.")
    panel = prepare_panel(data, participant, time, outcome)
    seed = random_state
    settings = dict(
        degree=degree,
        variance=variance,
        n_init=n_init,
        random=random,
        random_variance=random_variance,
        options=model_options,
    )
    null_state = model_seed(seed, k - 1) if null_seed is None else int(null_seed)
    null = make_model(method, k - 1, random_state=null_state, **settings).fit(panel)
    base = 0 if seed is None else int(seed)
    rng = np.random.default_rng(np.random.SeedSequence([base, k, int(replicate), 1]))
    simulated = prepare_panel(null.simulate(rng), participant, time, outcome)
    fit_null = make_model(method, k - 1, random_state=model_seed(seed, k, replicate, 2), **settings)
    fit_null.fit(simulated)
    fit_alt = make_model(method, k, random_state=model_seed(seed, k, replicate, 3), **settings)
    fit_alt.fit(simulated)
    fit_alt, refitted = _refit_if_uncertified(fit_alt, fit_null, simulated)
    problems = _problems(fit_null, fit_alt)
    return {
        "K": k,
        "replicate": int(replicate),
        "loglik_null_observed": float(null.loglik_),
        "loglik_null": float(fit_null.loglik_),
        "loglik_alt": float(fit_alt.loglik_),
        "lr": float(2.0 * (fit_alt.loglik_ - fit_null.loglik_)),
        "refitted": refitted,
        "status": "excluded" if problems else "ok",
        "reason": "; ".join(problems) if problems else None,
    }


def _refit_if_uncertified(fit_alt, fit_null, panel) -> tuple[object, bool]:
    """The K fit, or its refit from the K - 1 optimum (classes split) when it is not certified.

    A K fit below the K - 1 fit (impossible at a true maximum: K nests K - 1) or not converged
    is refitted with starts seeded from the K - 1 optimum; the refit is kept when it is better
    (converged first, then higher log-likelihood).
    """
    if fit_alt.converged_ and not _below(fit_alt.loglik_, fit_null.loglik_):
        return fit_alt, False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # said in the replicate's reason
        refit = clone(fit_alt).fit(panel, init_from=fit_null)
    if (refit.converged_, refit.loglik_) > (fit_alt.converged_, fit_alt.loglik_):
        return refit, True
    return fit_alt, False


def _problems(fit_null, fit_alt) -> list[str]:
    """Why a replicate's LR is not that of two certified optima (empty: use it)."""
    problems = []
    if not fit_null.converged_:
        problems.append("the K - 1 fit did not converge")
    if not fit_alt.converged_:
        problems.append("the K fit did not converge, even refitted from the K - 1 optimum")
    if _below(fit_alt.loglik_, fit_null.loglik_):
        problems.append(
            f"the K fit's log-likelihood {fit_alt.loglik_:.4f} is below the K - 1 fit's "
            f"{fit_null.loglik_:.4f}, even refitted from its optimum (not a maximum)"
        )
    for name, fit in (("K - 1", fit_null), ("K", fit_alt)):
        for nested in getattr(fit, "below_nested_models_", []):
            problems.append(f"the {name} fit is below the nested {nested} model")
    return problems


def bootstrap_lrt_pvalue(
    loglik_null: float,
    loglik_alt: float,
    replicates: pd.DataFrame | Sequence[Mapping],
) -> dict:
    """Combine bootstrap replicates into a p-value for K - 1 against K classes.

    ``p = (1 + #{lr_b >= lr_obs}) / (B + 1)`` with ``lr_obs = 2 (loglik_alt - loglik_null)``
    from the real data (e.g. the selection table's logliks for K - 1 and K).

    Parameters
    ----------
    loglik_null, loglik_alt : float
        Observed log-likelihoods of the K - 1 and K class models.
    replicates : DataFrame or sequence of dicts
        Outputs of :func:`bootstrap_lrt_replicate` (column ``lr``).

    Returns
    -------
    dict
        ``lr_observed, n_replicates, n_exceeding, p_value``.
    """
    table = pd.DataFrame(
        list(replicates) if not isinstance(replicates, pd.DataFrame) else replicates
    )
    if table.empty or "lr" not in table.columns:
        raise ModelError("no bootstrap replicates with an 'lr' value to combine.")
    lr_boot = table["lr"].to_numpy(dtype=float)
    lr_obs = 2.0 * (float(loglik_alt) - float(loglik_null))
    exceed = int(np.sum(lr_boot >= lr_obs))
    return {
        "lr_observed": lr_obs,
        "n_replicates": int(lr_boot.shape[0]),
        "n_exceeding": exceed,
        "p_value": (1 + exceed) / (lr_boot.shape[0] + 1),
    }
