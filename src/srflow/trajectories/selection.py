"""Fit trajectory models over K and build the selection, classes and curves tables.

Fit indices (``n`` = number of PARTICIPANTS, the independent units; flexmix
and some other programs use the number of rows instead, which penalises more):

* ``aic   = -2 LL + 2 npm``
* ``bic   = -2 LL + npm ln(n)``
* ``sabic = -2 LL + npm ln(n*)`` with ``n* = (n + 2) / 24`` (Sclove's sample-size adjusted BIC)
* ``caic  = -2 LL + npm (ln(n) + 1)``
* ``icl   = bic + 2 EN`` with ``EN = -sum_i sum_k tau_ik ln(tau_ik)`` (classification entropy)
* ``entropy = 1 - EN / (n ln K)`` (relative entropy, 1 = perfect separation; NaN for K = 1)

Per class, from the MAP assignment: average posterior probability
``AvePP_k`` (mean of ``tau_ik`` over participants assigned to k) and odds of
correct classification ``OCC_k = [AvePP_k / (1 - AvePP_k)] / [pi_k / (1 - pi_k)]``
with ``pi_k`` the estimated mixing proportion (Nagin 2005: AvePP >= 0.7 and
OCC >= 5 indicate adequate separation).

A solution is flagged ``degenerate`` (``degenerate_reason`` says why) when a
class holds fewer than 10 participants or under 1% of them (MAP count) or has
a mixing proportion under 1%, or when a residual SD is under 1% of the
outcome's SD (variance collapsed to ~0), or (mixture models) when a class is
assigned by MAP fewer than half the participants its mixing proportion implies
(``n_map < 0.5 pi_k n``: a diffuse component that owns almost nobody, typical
of over-extraction that splits a real class).  ``poorly_separated`` flags a class
with AvePP < 0.7, a sign of over-extraction rather than degeneracy.

Seeds: the model for K is fitted with a seed derived from ``(seed, K)``, so
adding or dropping a K does not change the other fits, and every output is
identical for the same input and seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from srflow.errors import ConfigError, ModelError
from srflow.trajectories.kmeans import LongitudinalKMeans
from srflow.trajectories.labels import LabelThresholds, label_classes
from srflow.trajectories.lcga import GMM, LCGA, PanelData, prepare_panel

__all__ = [
    "fit_trajectory_grid",
    "selection_row",
    "curves_table",
    "classes_table",
    "bootstrap_lrt_replicate",
    "bootstrap_lrt_pvalue",
    "model_seed",
]

METHODS = ("lcga", "gmm", "kmeans")
#: degenerate when a class is smaller than this many participants ...
MIN_CLASS_SIZE = 10
#: ... or this share of participants / mixing proportion
MIN_CLASS_SHARE = 0.01
#: a class given fewer MAP members than this fraction of weight * n is a diffuse component
MIN_MAP_RATIO = 0.5
#: residual SD below this fraction of the outcome SD counts as collapsed
MIN_SIGMA_RATIO = 0.01
#: Nagin's adequacy bound for the average posterior probability
MIN_AVEPP = 0.7
#: at most this many distinct times are tabulated in curves; beyond it a grid is used
MAX_CURVE_TIMES = 60


def model_seed(seed: int | None, n_classes: int, *extra: int) -> int:
    """Seed for one fit, derived from the run seed and K (and optional extra keys)."""
    base = 0 if seed is None else int(seed)
    return int(np.random.SeedSequence([base, int(n_classes), *map(int, extra)]).generate_state(1)[0])


def _make_model(
    method: str,
    n_classes: int,
    degree: int,
    variance: str,
    starts: int,
    random_state: int,
    random_intercept: bool,
    random_slope: bool,
    options: Mapping | None,
):
    options = dict(options or {})
    if method == "lcga":
        return LCGA(n_classes, degree=degree, variance=variance, n_starts=starts,
                    random_state=random_state, **options)
    if method == "gmm":
        return GMM(n_classes, degree=degree, variance=variance, n_starts=starts,
                   random_state=random_state, random_intercept=random_intercept,
                   random_slope=random_slope, **options)
    if method == "kmeans":
        return LongitudinalKMeans(n_classes, n_redraws=starts, random_state=random_state, **options)
    raise ConfigError(f"trajectory method must be one of {METHODS}, got {method!r}.")


def fit_trajectory_grid(
    data: pd.DataFrame,
    participant: str = "participant_id",
    time: str = "time",
    outcome: str = "P",
    classes: Iterable[int] = range(1, 6),
    method: str = "lcga",
    degree: int = 1,
    variance: str = "class",
    starts: int = 50,
    seed: int | None = 0,
    random_intercept: bool = True,
    random_slope: bool = False,
    on_error: str = "raise",
    model_options: Mapping | None = None,
) -> tuple[pd.DataFrame, dict[int, object]]:
    """Fit one trajectory model per number of classes and tabulate fit indices.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table (participant, time, outcome; rows with missing outcome dropped).
    participant, time, outcome : str
        Column names.
    classes : iterable of int, default 1..5
        Numbers of classes K to fit.
    method : {"lcga", "gmm", "kmeans"}
        Latent class growth analysis, growth mixture model, or longitudinal k-means.
    degree : int, default 1
        Polynomial degree in time (mixture models).
    variance : {"class", "shared"}
        Residual variance per class or shared (mixture models).
    starts : int, default 50
        Random starts (mixture models) or redraws (k-means).
    seed : int or None, default 0
        Run seed; each K uses :func:`model_seed` ``(seed, K)``.
    random_intercept, random_slope : bool
        Random effects of the growth mixture model.
    on_error : {"raise", "skip"}
        On a :class:`ModelError` for some K, raise it, or record the message in
        that K's row (``error`` column) and go on.
    model_options : mapping, optional
        Extra keyword arguments for the model class (e.g. ``n_short_iter``).

    Returns
    -------
    selection : pandas.DataFrame
        One row per K; columns described in the module docstring.
    models : dict
        K -> fitted model.

    Raises
    ------
    ModelError
        A fit is impossible (too few participants, one time point, no
        variation) and ``on_error="raise"``.
    ConfigError
        Unknown method or on_error value.
    """
    if method not in METHODS:
        raise ConfigError(f"trajectory method must be one of {METHODS}, got {method!r}.")
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}.")
    ks = sorted({int(k) for k in classes})
    if not ks or ks[0] < 1:
        raise ConfigError(f"classes must be positive integers, got {list(classes)}.")
    panel = None if method == "kmeans" else prepare_panel(data, participant, time, outcome)
    rows: list[dict] = []
    models: dict[int, object] = {}
    for k in ks:  # loop over K; each fit is vectorised over participants
        model = _make_model(method, k, degree, variance, starts, model_seed(seed, k),
                            random_intercept, random_slope, model_options)
        try:
            if method == "kmeans":
                model.fit(data, participant=participant, time=time, outcome=outcome)
            else:
                model.fit(panel)
        except ModelError as exc:
            if on_error == "raise":
                raise
            rows.append({"method": method, "degree": degree, "K": k, "error": str(exc)})
            continue
        models[k] = model
        rows.append(selection_row(model, method=method, degree=degree))
    selection = pd.DataFrame(rows)
    if "error" not in selection.columns:
        selection["error"] = ""
    selection["error"] = selection["error"].fillna("").astype(str)
    return selection, models


def _fmt(values: np.ndarray, digits: int = 3) -> str:
    return ";".join("NA" if not np.isfinite(v) else f"{v:.{digits}f}" for v in values)


def selection_row(model, method: str = "lcga", degree: int | None = None) -> dict:
    """Fit indices and classification diagnostics of one fitted model.

    Parameters
    ----------
    model : LCGA, GMM or LongitudinalKMeans
        A fitted model.
    method : str
        Name recorded in the row.
    degree : int or None
        Polynomial degree recorded in the row (taken from the model if present).

    Returns
    -------
    dict
        One row of the selection table (see the module docstring).
    """
    posterior = np.asarray(model.posterior_)
    n, k = posterior.shape
    classes = model.classes_ - 1
    counts = np.bincount(classes, minlength=k)
    weights = np.asarray(model.weights_)
    with np.errstate(divide="ignore", invalid="ignore"):
        appa = np.array([posterior[classes == c, c].mean() if counts[c] else np.nan for c in range(k)])
        occ = (appa / (1.0 - appa)) / (weights / (1.0 - weights)) if k > 1 else np.full(k, np.nan)
        plogp = np.where(posterior > 0, posterior * np.log(np.where(posterior > 0, posterior, 1.0)), 0.0)
    class_entropy = float(-plogp.sum())
    mixture = hasattr(model, "loglik_")
    row: dict = {"method": method, "degree": getattr(model, "degree", degree), "K": k}
    if mixture:
        ll, npm = float(model.loglik_), int(model.n_params_)
        log_n = math.log(n)
        bic = -2 * ll + npm * log_n
        row.update(
            variance=model.variance,
            loglik=ll,
            npm=npm,
            n_participants=n,
            n_observations=int(model.panel_.n_obs.sum()),
            aic=-2 * ll + 2 * npm,
            bic=bic,
            sabic=-2 * ll + npm * math.log((n + 2) / 24),
            caic=-2 * ll + npm * (log_n + 1),
            icl=bic + 2 * class_entropy,
        )
    else:
        row.update(variance="", loglik=np.nan, npm=np.nan, n_participants=n,
                   n_observations=int(np.isfinite(model.values_).sum()),
                   aic=np.nan, bic=np.nan, sabic=np.nan, caic=np.nan, icl=np.nan)
    row["entropy"] = 1.0 - class_entropy / (n * math.log(k)) if k > 1 else np.nan
    smallest = int(np.argmin(counts))
    row.update(
        smallest_class_size=int(counts[smallest]),
        smallest_class_share=float(counts[smallest] / n),
        smallest_weight=float(weights.min()),
        appa=_fmt(appa),
        appa_min=float(np.nanmin(appa)) if np.isfinite(appa).any() else np.nan,
        occ=_fmt(occ, 2),
        occ_min=float(np.nanmin(occ)) if np.isfinite(occ).any() else np.nan,
        class_sizes="/".join(str(c) for c in counts),
        converged=bool(model.converged_),
        n_iter=int(model.n_iter_),
    )
    if mixture:
        row.update(n_starts=int(model.n_starts if k > 1 else 1),
                   n_final_starts=int(model.n_final_starts_),
                   n_starts_at_best=int(model.n_starts_at_best_))
    else:
        row.update(n_starts=int(model.n_redraws if k > 1 else 1), n_final_starts=np.nan,
                   n_starts_at_best=np.nan)
    reasons = []
    for c in range(k):
        if counts[c] < MIN_CLASS_SIZE or counts[c] / n < MIN_CLASS_SHARE:
            reasons.append(f"class {c + 1} has {counts[c]} participants ({100 * counts[c] / n:.2f}%)")
        elif weights[c] < MIN_CLASS_SHARE:
            reasons.append(f"class {c + 1} has mixing proportion {weights[c]:.4f}")
        elif mixture and k > 1 and counts[c] < MIN_MAP_RATIO * weights[c] * n:
            reasons.append(
                f"class {c + 1} is assigned {counts[c]} participants but its mixing proportion "
                f"implies {weights[c] * n:.0f} (a diffuse component)"
            )
    if mixture:
        low = np.flatnonzero(model.sigma_ < MIN_SIGMA_RATIO * model.outcome_sd_)
        reasons += [f"class {c + 1} residual SD {model.sigma_[c]:.3g} is ~0" for c in low]
    row["degenerate"] = bool(reasons)
    row["degenerate_reason"] = "; ".join(reasons)
    row["poorly_separated"] = bool(k > 1 and np.nanmin(appa) < MIN_AVEPP) if np.isfinite(appa).any() else True
    if not mixture:
        row.update(calinski_harabasz=model.calinski_harabasz_, ray_turi=model.ray_turi_,
                   davies_bouldin=model.davies_bouldin_, inertia=model.inertia_)
    return row


# --------------------------------------------------------------------------------------
# classes and curves tables
# --------------------------------------------------------------------------------------


def _long_observations(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class, time, value) of every observation, with the participant's MAP class."""
    if hasattr(model, "panel_"):
        panel: PanelData = model.panel_
        rows, cols = np.nonzero(panel.mask)
        return model.classes_[rows], panel.time[rows, cols], panel.outcome[rows, cols]
    observed = np.isfinite(model.values_)
    rows, cols = np.nonzero(observed)
    return model.classes_[rows], model.times_[cols], model.values_[rows, cols]


def curves_table(models: Mapping[int, object]) -> pd.DataFrame:
    """Fitted and observed class means over time for every fitted K.

    Times are the distinct observed times (or, with more than 60 of them, 41
    evenly spaced points over the observed range, where observed statistics
    are missing).  Observed statistics use the participants' MAP classes.

    Parameters
    ----------
    models : mapping K -> fitted model

    Returns
    -------
    pandas.DataFrame
        ``K, class, time, fitted, observed_mean, observed_sd, n_observed``.
    """
    frames = []
    for k in sorted(models):
        model = models[k]
        cls, times, values = _long_observations(model)
        distinct = np.unique(times)
        grid = distinct if distinct.shape[0] <= MAX_CURVE_TIMES else np.linspace(distinct[0], distinct[-1], 41)
        fitted = model.predict_curves(grid)  # (K, len(grid))
        frame = pd.DataFrame(
            {
                "K": k,
                "class": np.repeat(np.arange(1, k + 1), grid.shape[0]),
                "time": np.tile(grid, k),
                "fitted": fitted.reshape(-1),
            }
        )
        observed = (
            pd.DataFrame({"class": cls, "time": times, "value": values})
            .groupby(["class", "time"], sort=True)["value"]
            .agg(observed_mean="mean", observed_sd="std", n_observed="size")
            .reset_index()
        )
        frame = frame.merge(observed, on=["class", "time"], how="left", sort=False)
        frame["n_observed"] = frame["n_observed"].fillna(0).astype(int)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def classes_table(
    models: Mapping[int, object],
    curves: pd.DataFrame | None = None,
    thresholds: LabelThresholds | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Per participant and K: MAP class, its label and the posterior probabilities.

    Parameters
    ----------
    models : mapping K -> fitted model
    curves : pandas.DataFrame, optional
        Output of :func:`curves_table` (computed if not given), used for labels.
    thresholds : LabelThresholds or mapping, optional
        Passed to :func:`srflow.trajectories.labels.label_classes`.

    Returns
    -------
    pandas.DataFrame
        ``participant_id, K, class, label, post_1 .. post_Kmax`` (posteriors
        beyond a solution's K are missing).
    """
    if curves is None:
        curves = curves_table(models)
    labels = label_classes(curves, thresholds)
    k_max = max(models)
    frames = []
    for k in sorted(models):
        model = models[k]
        frame = pd.DataFrame({"participant_id": model.participants_, "K": k, "class": model.classes_})
        names = labels.loc[labels["K"] == k].set_index("class")["label"]
        frame["label"] = names.reindex(frame["class"]).to_numpy()
        posterior = np.full((frame.shape[0], k_max), np.nan)
        posterior[:, :k] = model.posterior_
        for j in range(k_max):
            frame[f"post_{j + 1}"] = posterior[:, j]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------
# bootstrap likelihood-ratio test (one replicate per job)
# --------------------------------------------------------------------------------------


def bootstrap_lrt_replicate(
    data: pd.DataFrame,
    n_classes: int,
    replicate: int,
    seed: int | None = 0,
    participant: str = "participant_id",
    time: str = "time",
    outcome: str = "P",
    method: str = "lcga",
    degree: int = 1,
    variance: str = "class",
    starts: int = 20,
    random_intercept: bool = True,
    random_slope: bool = False,
    model_options: Mapping | None = None,
    null_seed: int | None = None,
) -> dict:
    """One parametric-bootstrap replicate of the LR test of K - 1 against K classes.

    The K - 1 class model is fitted to ``data`` with the same seed the grid
    uses (:func:`model_seed` ``(seed, K - 1)``), a data set is simulated from it at
    the observed design (same participants and times), and both K - 1 and K
    class models are fitted to the simulated data.  Each replicate is
    independent and deterministic given ``(seed, K, replicate)``, so replicates
    can run as separate jobs.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table.
    n_classes : int
        K (>= 2), the larger model.
    replicate : int
        Replicate index (0, 1, ...).
    seed : int or None
        Run seed.
    participant, time, outcome, method, degree, variance, starts, random_intercept, random_slope, model_options
        As in :func:`fit_trajectory_grid` (method "lcga" or "gmm").
    null_seed : int or None
        Seed of the K - 1 class fit to ``data`` (the model the replicate simulates
        from); default :func:`model_seed` ``(seed, K - 1)``.  A workflow that gives
        each replicate its own ``seed`` passes the seed its grid fit of K - 1 used,
        so every replicate simulates from the very model whose log-likelihood
        enters the observed LR statistic.

    Returns
    -------
    dict
        ``K, replicate, loglik_null, loglik_alt, lr`` with
        ``lr = 2 (loglik_alt - loglik_null)`` on the simulated data, and
        ``loglik_null_observed``, the K - 1 class fit's log-likelihood on ``data``.
    """
    if method not in ("lcga", "gmm"):
        raise ConfigError("the bootstrap LR test needs a likelihood model: method 'lcga' or 'gmm'.")
    k = int(n_classes)
    if k < 2:
        raise ConfigError(f"the bootstrap LR test compares K - 1 with K >= 2 classes, got K = {k}.")
    panel = prepare_panel(data, participant, time, outcome)
    args = (degree, variance, starts)
    re_args = (random_intercept, random_slope, model_options)
    null_state = model_seed(seed, k - 1) if null_seed is None else int(null_seed)
    null = _make_model(method, k - 1, *args, null_state, *re_args).fit(panel)
    rng = np.random.default_rng(np.random.SeedSequence([0 if seed is None else int(seed), k, int(replicate), 1]))
    simulated = prepare_panel(null.simulate(rng), participant, time, outcome)
    fit_null = _make_model(method, k - 1, *args, model_seed(seed, k, replicate, 2), *re_args).fit(simulated)
    fit_alt = _make_model(method, k, *args, model_seed(seed, k, replicate, 3), *re_args).fit(simulated)
    return {
        "K": k,
        "replicate": int(replicate),
        "loglik_null_observed": float(null.loglik_),
        "loglik_null": float(fit_null.loglik_),
        "loglik_alt": float(fit_alt.loglik_),
        "lr": float(2.0 * (fit_alt.loglik_ - fit_null.loglik_)),
    }


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
    table = pd.DataFrame(list(replicates) if not isinstance(replicates, pd.DataFrame) else replicates)
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
