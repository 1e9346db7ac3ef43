"""Starting values of a mixture fit taken from the optima of the models nested in it.

A richer mixture contains a poorer one as a special case, so its maximised log-likelihood can
never be lower: K classes contain K - 1 (one class doubled), class-specific variances
contain shared ones, a growth mixture contains the LCGA (random-effect covariance ``D = 0``)
and a random intercept and slope contain the random intercept alone (slope variance and
covariance 0). EM from random starts can still end below the nested optimum (a local
maximum), so the richer fit also starts at the nested optimum, mapped into its own parameters
here; from there EM can only climb. What remains below (a bound such as the variance floor
keeps the start just off the nested point) is reported by the certification.
"""

from __future__ import annotations

import numpy as np

from srflow.trajectories.em import MixtureParams

__all__ = [
    "SLOPE_START_SHARES",
    "at_random_intercept",
    "at_zero_random_effects",
    "below_nested",
    "duplicate_class",
    "nesting_tolerance",
    "one_hot",
    "split_class",
    "stack_params",
]

#: slope variances of the starts at a random-intercept optimum, as shares of the intercept
#: variance: 0 (at the nested point itself, up to the variance floor) and a small one inside
SLOPE_START_SHARES = (0.0, 0.02)


def one_hot(assignment: np.ndarray, k: int) -> np.ndarray:
    """Posteriors ``(..., K)`` putting all weight on the assigned (0-based) class.

    Examples
    --------
    >>> one_hot(np.array([1, 0]), 2).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    posterior = np.zeros((*assignment.shape, k))
    np.put_along_axis(posterior, assignment[..., None], 1.0, axis=-1)
    return posterior


def split_class(model, stats, j: int) -> np.ndarray:
    """Posteriors (n, K + 1) of a fitted K-class model with class ``j`` split in two.

    Members of class j go to j or to the new class by the sign of their mean residual from
    class j's curve (above or below the median), so the two halves differ in level.
    """
    posterior = model.posterior_
    fitted_sum = stats.xx[:, 0, :] @ model.coef_legendre_[j]  # Legendre column 0 is 1
    residual = (stats.xy[:, 0] - fitted_sum) / stats.n_obs
    weight = posterior[:, j]
    centre = np.median(residual[weight > 0.5]) if np.any(weight > 0.5) else np.median(residual)
    upper = residual > centre
    split = np.concatenate((posterior, np.zeros((posterior.shape[0], 1))), axis=1)
    split[upper, -1] = weight[upper]
    split[upper, j] = 0.0
    return split


def stack_params(params: MixtureParams, extra: MixtureParams) -> MixtureParams:
    """Append the starts of ``extra`` to ``params``."""
    return MixtureParams(
        np.concatenate((params.weights, extra.weights)),
        np.concatenate((params.beta, extra.beta)),
        np.concatenate((params.sigma2, extra.sigma2)),
        None if params.d is None else np.concatenate((params.d, extra.d)),
    )


def duplicate_class(params: MixtureParams, j: int) -> MixtureParams:
    """A K-class model equal to the K - 1 class ``params``: class ``j`` doubled, weight halved.

    The two copies share class j's curve and variances and half its weight each, so every
    participant's likelihood, hence the log-likelihood, is that of the K - 1 model.

    Examples
    --------
    >>> nested = MixtureParams(np.array([[0.6, 0.4]]), np.array([[[1.0], [5.0]]]),
    ...                        np.array([[1.0, 2.0]]))
    >>> doubled = duplicate_class(nested, 0)
    >>> doubled.weights.tolist(), doubled.beta[..., 0].tolist(), doubled.d is None
    ([[0.3, 0.4, 0.3]], [[1.0, 5.0, 1.0]], True)
    """
    order = np.append(np.arange(params.weights.shape[1]), j)
    weights = params.weights[:, order].copy()
    weights[:, [j, -1]] *= 0.5
    return MixtureParams(
        weights,
        params.beta[:, order],
        params.sigma2[:, order],
        None if params.d is None else params.d[:, order],
    )


def at_zero_random_effects(lcga: MixtureParams, engine) -> MixtureParams:
    """The LCGA optimum as a growth mixture: ``D = 0`` (held at the engine's variance floor)."""
    k = lcga.weights.shape[1]
    d = engine.floor_d(np.zeros((lcga.weights.shape[0], k, engine.q, engine.q)))
    return MixtureParams(lcga.weights, lcga.beta, lcga.sigma2, d)


def at_random_intercept(
    intercept: MixtureParams, engine, shares: tuple[float, ...] = SLOPE_START_SHARES
) -> MixtureParams:
    """Random-intercept optima as random intercept-and-slope starts, one per slope share.

    The intercept variance, class curves, residual variances and weights are the nested
    optimum's; the slope variance is ``share`` times the intercept variance (0 lands on the
    engine's floor) and the intercept-slope covariance 0.

    Examples
    --------
    >>> class Floor:
    ...     def floor_d(self, d):
    ...         d = d.copy(); d[..., 1, 1] = np.maximum(d[..., 1, 1], 1e-8); return d
    >>> nested = MixtureParams(np.ones((1, 1)), np.zeros((1, 1, 2)), np.ones((1, 1)),
    ...                        np.full((1, 1, 1, 1), 4.0))
    >>> at_random_intercept(nested, Floor(), (0.0, 0.5)).d[:, 0].tolist()
    [[[4.0, 0.0], [0.0, 1e-08]], [[4.0, 0.0], [0.0, 2.0]]]
    """
    n_shares = len(shares)
    d00 = np.repeat(intercept.d[..., 0, 0], n_shares, axis=0)  # (S * shares, K)
    d = np.zeros((*d00.shape, 2, 2))
    d[..., 0, 0] = d00
    d[..., 1, 1] = d00 * np.tile(np.asarray(shares, dtype=float), intercept.d.shape[0])[:, None]
    return MixtureParams(
        np.repeat(intercept.weights, n_shares, axis=0),
        np.repeat(intercept.beta, n_shares, axis=0),
        np.repeat(intercept.sigma2, n_shares, axis=0),
        engine.floor_d(d),
    )


def nesting_tolerance(name: str, nested_loglik: float) -> float:
    """How far a fit may lie below the nested model ``name`` and still count as not below it.

    A nested point inside the parameter space is reached exactly (``max(1e-6, 1e-9 |LL|)``).
    The random-intercept optimum is not: the slope variance cannot go below the engine's floor
    (1e-8 of the outcome variance), so a fit whose slope variance belongs at 0 ends a little
    below it; 1e-6 of ``|LL|`` allows for that (the deficit seen is < 2e-4 on ``|LL|`` ~ 1600).

    Examples
    --------
    >>> nesting_tolerance("variance=shared", -500.0), nesting_tolerance("random=intercept", -500.0)
    (1e-06, 0.0005)
    """
    if name == "random=intercept":
        return 1e-6 * abs(nested_loglik)
    return max(1e-6, 1e-9 * abs(nested_loglik))


def below_nested(loglik: float, nested_logliks: dict[str, float]) -> list[str]:
    """The nested models (keys of ``nested_logliks``) a fit's ``loglik`` is below.

    Examples
    --------
    >>> below_nested(-100.5, {"lcga": -101.0, "variance=shared": -100.0})
    ['variance=shared']
    """
    return [
        name
        for name, nested in nested_logliks.items()
        if loglik < nested - nesting_tolerance(name, nested)
    ]
