"""Fit trajectory models over K and tabulate their fit indices (the selection table).

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

Seeds: the model for K is fitted with a seed derived from ``(random_state, K)``, so
adding or dropping a K does not change the other fits, and every output is
identical for the same input and seed.

Certification (mixture models): a K-class model nests the K - 1 one (a class doubled), so its
maximised log-likelihood is never below it. A K fit that is below is refitted with starts
seeded from the K - 1 optimum (its classes split in turn, its largest doubled); a fit still
below, or a fit below a nested model whose optimum seeded it (the LCGA, shared variances, a
random intercept without the slope: :func:`srflow.trajectories.nesting.nesting_tolerance`),
is marked ``suspect`` (``certification`` says why) rather than reported as ``ok``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from srflow.errors import ConfigError, ModelError
from srflow.trajectories.gmm import GMM
from srflow.trajectories.kmeans import LongitudinalKMeans
from srflow.trajectories.mixture import LCGA
from srflow.trajectories.panel import prepare_panel

__all__ = [
    "METHODS",
    "certify_fit",
    "clone",
    "fit_trajectory_grid",
    "make_model",
    "model_seed",
    "selection_row",
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


def model_seed(seed: int | None, n_classes: int, *extra: int) -> int:
    """Seed for one fit, derived from the run seed and K (and optional extra keys).

    Examples
    --------
    >>> model_seed(1, 3) == model_seed(1, 3) != model_seed(1, 4)
    True
    """
    base = 0 if seed is None else int(seed)
    return int(
        np.random.SeedSequence([base, int(n_classes), *map(int, extra)]).generate_state(1)[0]
    )


def make_model(
    method: str,
    n_classes: int,
    *,
    degree: int = 2,
    variance: str = "class",
    n_init: int = 50,
    random_state: int | None = None,
    random: Sequence[str] = ("intercept",),
    random_variance: str = "shared",
    options: Mapping | None = None,
):
    """An unfitted trajectory estimator for one method and K.

    Parameters
    ----------
    method : {"lcga", "gmm", "kmeans"}
    n_classes : int
    degree, variance, n_init, random_state
        Estimator parameters (k-means takes ``n_init`` and ``random_state`` only).
    random, random_variance
        Random effects of the growth mixture model.
    options : mapping, optional
        Extra keyword arguments for the estimator (e.g. ``n_short_iter``).

    Returns
    -------
    LCGA, GMM or LongitudinalKMeans
    """
    options = dict(options or {})
    if method == "lcga":
        return LCGA(
            n_classes,
            degree=degree,
            variance=variance,
            n_init=n_init,
            random_state=random_state,
            **options,
        )
    if method == "gmm":
        return GMM(
            n_classes,
            degree=degree,
            variance=variance,
            random=tuple(random),
            random_variance=random_variance,
            n_init=n_init,
            random_state=random_state,
            **options,
        )
    if method == "kmeans":
        return LongitudinalKMeans(n_classes, n_init=n_init, random_state=random_state, **options)
    raise ConfigError(f"trajectory method must be one of {METHODS}, got {method!r}.")


def fit_trajectory_grid(
    data: pd.DataFrame,
    participant: str = "participant_id",
    time: str = "time",
    outcome: str = "P",
    classes: Iterable[int] = range(1, 5),
    method: str = "lcga",
    degree: int = 2,
    variance: str = "class",
    n_init: int = 50,
    random_state: int | None = 0,
    random: Sequence[str] = ("intercept",),
    random_variance: str = "shared",
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
    classes : iterable of int, default 1..4
        Numbers of classes K to fit.
    method : {"lcga", "gmm", "kmeans"}
        Latent class growth analysis, growth mixture model, or longitudinal k-means.
    degree : int, default 2
        Polynomial degree in time (mixture models).
    variance : {"class", "shared"}
        Residual variance per class or shared (mixture models).
    n_init : int, default 50
        Random starts (mixture models and k-means).
    random_state : int or None, default 0
        Run seed; each K uses :func:`model_seed` ``(random_state, K)``.
    random, random_variance
        Random effects of the growth mixture model (see :class:`GMM`).
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
    settings = dict(
        degree=degree,
        variance=variance,
        n_init=n_init,
        random=random,
        random_variance=random_variance,
        options=model_options,
    )
    rows: list[dict] = []
    models: dict[int, object] = {}
    for k in ks:  # loop over K; each fit is vectorised over participants
        model = make_model(method, k, random_state=model_seed(random_state, k), **settings)
        try:
            if method == "kmeans":
                model.fit(data, participant=participant, time=time, outcome=outcome)
            else:
                model.fit(panel)
                model, note = certify_fit(model, models.get(k - 1), panel)
        except ModelError as exc:
            if on_error == "raise":
                raise
            rows.append({"method": method, "degree": degree, "K": k, "error": str(exc)})
            continue
        models[k] = model
        row = selection_row(model, method=method, degree=degree)
        if method != "kmeans":
            row["certification"] = note
        rows.append(row)
    selection = pd.DataFrame(rows)
    if "error" not in selection.columns:
        selection["error"] = ""
    selection["error"] = selection["error"].fillna("").astype(str)
    if "certification" in selection.columns:
        selection["certification"] = selection["certification"].fillna("").astype(str)
    return selection, models


def _below(loglik: float, reference: float) -> bool:
    return loglik < reference - max(1e-6, 1e-9 * abs(reference))


def certify_fit(model, nested_k, panel) -> tuple[object, str]:
    """Check a mixture fit against the models nested in it; refit from the K - 1 optimum if below.

    Parameters
    ----------
    model : LCGA or GMM
        A fitted K-class model.
    nested_k : LCGA or GMM or None
        The fitted K - 1 class model of the same kind on the same data (None: not fitted).
    panel : PanelData
        The data both were fitted to.

    Returns
    -------
    model : LCGA or GMM
        ``model``, or its refit with starts seeded from ``nested_k`` when that is better.
    note : str
        Empty when certified; otherwise why the fit is ``suspect``.
    """
    notes = []
    if nested_k is not None and _below(model.loglik_, nested_k.loglik_):
        first = model.loglik_
        refit = clone(model).fit(panel, init_from=nested_k)
        if refit.loglik_ > model.loglik_:
            model = refit
        if _below(model.loglik_, nested_k.loglik_):
            notes.append(
                f"log-likelihood {model.loglik_:.4f} is below K - 1's {nested_k.loglik_:.4f} "
                f"(first fit {first:.4f}, refitted from the K - 1 optimum); a local optimum: "
                "raise starts"
            )
    for name in getattr(model, "below_nested_models_", []):
        notes.append(
            f"log-likelihood {model.loglik_:.4f} is below the nested {name} model's "
            f"{model.nested_logliks_[name]:.4f} (its optimum seeded this fit)"
        )
    return model, "; ".join(notes)


def clone(model):
    """An unfitted copy of an estimator with the same parameters."""
    names = inspect.signature(type(model)).parameters
    return type(model)(**{name: getattr(model, name) for name in names})


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
    classes = model.labels_ - 1
    counts = np.bincount(classes, minlength=k)
    weights = np.asarray(model.weights_)
    with np.errstate(divide="ignore", invalid="ignore"):
        appa = np.array(
            [posterior[classes == c, c].mean() if counts[c] else np.nan for c in range(k)]
        )
        occ = (appa / (1.0 - appa)) / (weights / (1.0 - weights)) if k > 1 else np.full(k, np.nan)
        plogp = np.where(
            posterior > 0, posterior * np.log(np.where(posterior > 0, posterior, 1.0)), 0.0
        )
    class_entropy = float(-plogp.sum())
    mixture = hasattr(model, "loglik_")
    row: dict = {"method": method, "degree": getattr(model, "degree", degree), "K": k}
    row.update(
        _likelihood_indices(model, n, class_entropy) if mixture else _kmeans_indices(model, n)
    )
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
        row.update(
            n_starts=int(model.n_init if k > 1 else 1),
            n_final_starts=int(model.n_final_starts_),
            n_starts_at_best=int(model.n_starts_at_best_),
        )
    else:
        row.update(
            n_starts=int(model.n_init if k > 1 else 1),
            n_final_starts=np.nan,
            n_starts_at_best=np.nan,
        )
    reasons = _degeneracy(model, counts, weights, mixture)
    row["degenerate"] = bool(reasons)
    row["degenerate_reason"] = "; ".join(reasons)
    row["poorly_separated"] = (
        bool(k > 1 and np.nanmin(appa) < MIN_AVEPP) if np.isfinite(appa).any() else True
    )
    if not mixture:
        row.update(
            calinski_harabasz=model.calinski_harabasz_,
            ray_turi=model.ray_turi_,
            davies_bouldin=model.davies_bouldin_,
            inertia=model.inertia_,
        )
    return row


def _likelihood_indices(model, n: int, class_entropy: float) -> dict:
    """Log-likelihood, parameter count and information criteria of a mixture model."""
    ll, npm = float(model.loglik_), int(model.n_params_)
    log_n = math.log(n)
    bic = -2 * ll + npm * log_n
    return dict(
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


def _kmeans_indices(model, n: int) -> dict:
    """The likelihood columns of a k-means row: not defined."""
    return dict(
        variance="",
        loglik=np.nan,
        npm=np.nan,
        n_participants=n,
        n_observations=int(np.isfinite(model.values_).sum()),
        aic=np.nan,
        bic=np.nan,
        sabic=np.nan,
        caic=np.nan,
        icl=np.nan,
    )


def _degeneracy(model, counts: np.ndarray, weights: np.ndarray, mixture: bool) -> list[str]:
    """Why a solution is degenerate (see the module docstring); empty when it is not."""
    n, k = int(counts.sum()), counts.shape[0]
    reasons = []
    for c in range(k):
        if counts[c] < MIN_CLASS_SIZE or counts[c] / n < MIN_CLASS_SHARE:
            reasons.append(
                f"class {c + 1} has {counts[c]} participants ({100 * counts[c] / n:.2f}%)"
            )
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
    return reasons
