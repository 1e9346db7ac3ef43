"""Baseline resilience-factor traits with a known relation to the latent person values.

Each trait is a T-score (mean 50, SD 10) measured once, at baseline, and built from the
standardised latent person values the simulator already draws (``z_b`` of the reactivity
``b_i``, ``z_0`` of the baseline offset ``baseline_i``; both Gaussian and independent)::

    trait_k = 50 + 10 (a_k z_b + c_k z_0 + sqrt(1 - a_k^2 - c_k^2) e_k),   e_k ~ N(0, 1)

so the person values and the traits are jointly Gaussian with a covariance known exactly.
The traits come from their own random stream (a child of the cohort's seed), so every
other column of the simulated cohort is the same as without them.

What "effect" means
-------------------
The *effect* of trait k on a latent person value ``v`` (``reactivity`` or ``baseline``) is
the population coefficient of trait k in the linear regression of ``v`` on all the traits
together (with an intercept): ``beta = Cov(T)^-1 Cov(T, v)``, computed exactly from the joint
Gaussian, in units of ``v`` per trait point. ``effect_per_sd`` is ``10 beta`` (per SD of the
trait). Traits are written rounded to 2 decimals; that rounding changes the coefficients by
less than 1e-6 relative and is ignored.

The reactivity effect is the moderation of the E slope of P by the trait: in the mixed model
``P ~ E * trait + (1 + E | participant)`` the ``E:trait`` coefficient estimates it. The
baseline effect is the trait's effect on the person's problem level at mean exposure: in a
regression of person-level SR (level ``period``, whose residual centres E) on the traits it is
the trait's coefficient, on the P scale, up to what the item rounding and the 0..36 clipping of
P take away. Because the simulator centres E at its expected value, reactivity adds to period
SR only as ``(b_i - mean b) (mean E_i - E_mean)``, whose mean given the traits is 0: a trait
that acts only on reactivity has no effect on period SR in this cohort.

Examples
--------
>>> effects = trait_effects()
>>> sorted(effects["reactivity"])
['neuroticism', 'openness', 'optimism']
>>> round(effects["reactivity"]["optimism"], 6), effects["reactivity"]["openness"]
(-0.012402, 0.0)
"""

from __future__ import annotations

import numpy as np

from srflow.synthetic.design import BASELINE_SD, REACTIVITY_MEAN, REACTIVITY_SD

#: Trait -> (loading on standardised reactivity, loading on standardised baseline offset).
TRAIT_LOADINGS: dict[str, tuple[float, float]] = {
    "optimism": (-0.6, -0.3),  # lower reactivity and fewer problems
    "neuroticism": (0.0, 0.6),  # more problems, same reactivity
    "openness": (0.0, 0.0),  # no effect
}
TRAITS: tuple[str, ...] = tuple(TRAIT_LOADINGS)
TRAIT_MEAN, TRAIT_SD = 50.0, 10.0
#: The key of the traits' child stream of the cohort seed (``SeedSequence(seed).spawn``).
TRAIT_STREAM = 0


def draw_traits(seed: int, reactivity: np.ndarray, baseline: np.ndarray) -> dict[str, np.ndarray]:
    """The traits of every participant (see the module docstring), rounded to 2 decimals.

    Parameters
    ----------
    seed : int
        The cohort's seed; the traits use its child stream ``TRAIT_STREAM``, so the main
        stream of draws (and every other column) is unchanged.
    reactivity, baseline : numpy.ndarray
        The true person values ``b_i`` and ``baseline_i`` (length N).

    Returns
    -------
    dict
        Trait name -> values (length N), in the order of ``TRAITS``.

    Examples
    --------
    >>> traits = draw_traits(1, np.array([0.5, 0.9, 0.1]), np.array([0.0, -2.0, 2.0]))
    >>> list(traits), traits["openness"].shape
    (['optimism', 'neuroticism', 'openness'], (3,))
    >>> bool((draw_traits(1, np.array([0.5]), np.array([0.0]))["optimism"]
    ...       == draw_traits(1, np.array([0.5]), np.array([0.0]))["optimism"]).all())
    True
    """
    child = np.random.SeedSequence(seed).spawn(TRAIT_STREAM + 1)[TRAIT_STREAM]
    rng = np.random.default_rng(child)
    # Standardised with the population mean and SD (not the sample's), so the joint
    # distribution is exactly the one trait_effects describes.
    z_reactivity = (reactivity - REACTIVITY_MEAN) / REACTIVITY_SD
    z_baseline = baseline / BASELINE_SD
    noise = rng.standard_normal((len(TRAITS), len(reactivity)))
    traits = {}
    for k, (name, (a, c)) in enumerate(TRAIT_LOADINGS.items()):
        z = a * z_reactivity + c * z_baseline + np.sqrt(1.0 - a * a - c * c) * noise[k]
        traits[name] = np.round(TRAIT_MEAN + TRAIT_SD * z, 2)
    return traits


def trait_effects() -> dict[str, dict[str, float]]:
    """The exact effect of every trait on ``reactivity`` and ``baseline`` (trait points).

    Returns
    -------
    dict
        ``{"reactivity": {trait: beta}, "baseline": {trait: beta}}``: the population
        coefficients of the joint regression of the latent value on all traits (module
        docstring), in units of the latent value per trait point.
    """
    loadings = np.array(list(TRAIT_LOADINGS.values()))  # traits x (reactivity, baseline)
    # Covariance of the standardised traits: loadings' products plus unit total variance.
    cov_z = loadings @ loadings.T
    np.fill_diagonal(cov_z, 1.0)
    cov_traits = TRAIT_SD**2 * cov_z
    effects = {}
    for j, (value, sd) in enumerate((("reactivity", REACTIVITY_SD), ("baseline", BASELINE_SD))):
        cov_with_value = TRAIT_SD * sd * loadings[:, j]
        beta = np.linalg.solve(cov_traits, cov_with_value)
        # + 0.0 turns a -0.0 (no effect) into 0.0 in the JSON.
        effects[value] = {name: float(b) + 0.0 for name, b in zip(TRAITS, beta, strict=True)}
    return effects
