"""A random intercept and slope nests the random intercept alone: its fit is never below it.

Known answer: the GMM with ``random: [intercept, slope]`` contains the one with
``random: [intercept]`` (slope variance and covariance 0) at the same K and variance settings,
so its maximised log-likelihood is at least the latter's. The slope variance cannot go below
the engine's floor (1e-8 of the outcome variance), so the tolerance is 1e-6 of |LL|
(:func:`srflow.trajectories.nesting.nesting_tolerance`).

Where the seeding matters (benchmarks/trajectories_nesting.py --part a: simulated cohorts of
tests/trajectory_cohorts.py, seeds 0-5, n 120-200, 4-6 waves, K 3-6, 3 random starts: 26 of
216 slope fits without the seed ended below the random-intercept fit, by up to 81.2
log-likelihood units; seeded, 4 ended below by at most 1.7e-4, the slope variance floor, all
within the tolerance). The clearest case: cohort seed 2,
n = 200, intercept SD 0.5, 4 waves, shared variances, K = 4, model seed 24. Without the seed
the slope fit is 81.2 below; seeded from the intercept optimum it is 0.05 above.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from srflow.trajectories import GMM, fit_trajectory_grid
from srflow.trajectories.nesting import nesting_tolerance
from trajectory_cohorts import growth_mixture_cohort

COLUMNS = {"participant": "id", "time": "time", "outcome": "P"}
SLOPE = ("intercept", "slope")


def _without_intercept_seed(monkeypatch) -> None:
    """Drop the random-intercept model from the nested models (the fit before this change)."""
    specs = GMM._nested_specs

    def only_same_random(self):
        return [s for s in specs(self) if len(s[0]) == self._n_random]

    monkeypatch.setattr(GMM, "_nested_specs", only_same_random)


def test_slope_fit_falls_below_the_intercept_fit_without_the_seed(monkeypatch):
    data = growth_mixture_cohort(n=200, intercept_sd=0.5, n_waves=4, seed=2)
    settings = dict(variance="shared", random_variance="shared", n_init=3, random_state=24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        intercept = GMM(4, **settings).fit(data, **COLUMNS)
        seeded = GMM(4, random=SLOPE, **settings).fit(data, **COLUMNS)
        with monkeypatch.context() as patch:
            _without_intercept_seed(patch)
            unseeded = GMM(4, random=SLOPE, **settings).fit(data, **COLUMNS)
    assert unseeded.loglik_ - intercept.loglik_ == pytest.approx(-81.2, abs=0.1)
    assert "random=intercept" not in unseeded.nested_logliks_
    # the nested fit inside the slope model is the standalone intercept fit (same seed)
    assert seeded.nested_logliks_["random=intercept"] == intercept.loglik_
    assert seeded.loglik_ - intercept.loglik_ == pytest.approx(0.052, abs=0.005)
    assert not seeded.below_nested_ and seeded.below_nested_models_ == []


COHORTS = [  # (cohort seed, n, intercept SD, waves, variance, random_variance)
    (2, 200, 0.5, 4, "shared", "shared"),
    (0, 150, 3.0, 5, "class", "shared"),
    (5, 120, 2.0, 6, "class", "class"),
]


@pytest.mark.parametrize(("seed", "n", "sd", "waves", "variance", "random_variance"), COHORTS)
def test_slope_grid_is_never_below_the_intercept_grid(
    seed, n, sd, waves, variance, random_variance
):
    data = growth_mixture_cohort(n=n, intercept_sd=sd, n_waves=waves, seed=seed)
    settings = dict(
        classes=range(1, 6),
        method="gmm",
        variance=variance,
        random_variance=random_variance,
        n_init=3,
        random_state=seed,
        on_error="skip",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        intercept, _ = fit_trajectory_grid(data, **COLUMNS, **settings)
        slope, models = fit_trajectory_grid(data, **COLUMNS, random=SLOPE, **settings)
    for k, ll_slope, ll_intercept in zip(
        slope["K"], slope["loglik"], intercept["loglik"], strict=True
    ):
        assert ll_slope >= ll_intercept - nesting_tolerance("random=intercept", ll_intercept), k
        nested = models[k].nested_logliks_
        # the same intercept fit (same seed per K) is the one nested in the slope fit
        assert nested["random=intercept"] == pytest.approx(ll_intercept, abs=1e-9)
        # and the class-specific blocks are never below their shared versions
        for name, value in nested.items():
            assert models[k].loglik_ >= value - nesting_tolerance(name, value), (k, name)
    assert not slope["certification"].str.contains("random=intercept").any()


def test_a_slope_fit_below_its_nested_intercept_fit_is_suspect(monkeypatch):
    """The certification names the nested model a fit is below (here forced by a fake value)."""
    from srflow.trajectories.selection import certify_fit

    data = growth_mixture_cohort(n=120, intercept_sd=2.0, n_waves=6, seed=5)
    model = GMM(2, random=SLOPE, variance="shared", n_init=3, random_state=1).fit(data, **COLUMNS)
    model.nested_logliks_["random=intercept"] = model.loglik_ + 1.0
    model.below_nested_models_ = ["random=intercept"]
    _, note = certify_fit(model, None, model.panel_)
    assert note == (
        f"log-likelihood {model.loglik_:.4f} is below the nested random=intercept model's "
        f"{model.loglik_ + 1.0:.4f} (its optimum seeded this fit)"
    )
    assert np.isfinite(model.loglik_)


# ------------------------------------------------------------------ LCGA: class-specific variance
# The LCGA with class-specific residual variances nests the shared one. Search
# (benchmarks/trajectories_nesting.py --part b: seeds 0-7, n 120-400, K 2-6, 3 starts): 5 of
# 160 class-specific fits ended below the shared fit without the seed, none with it; the worst
# is cohort seed 5, n = 400, intercept SD 1, 6 waves, K = 5 (49.1 below).


def test_class_variance_lcga_is_seeded_from_the_shared_fit(monkeypatch):
    from srflow.trajectories import LCGA

    data = growth_mixture_cohort(n=400, intercept_sd=1.0, n_waves=6, seed=5)
    shared = LCGA(5, variance="shared", n_init=3, random_state=5).fit(data, **COLUMNS)
    seeded = LCGA(5, variance="class", n_init=3, random_state=5).fit(data, **COLUMNS)
    with monkeypatch.context() as patch:
        patch.setattr(LCGA, "_seeded_starts", lambda self, *args: [])
        unseeded = LCGA(5, variance="class", n_init=3, random_state=5).fit(data, **COLUMNS)
    assert unseeded.loglik_ - shared.loglik_ == pytest.approx(-49.12, abs=0.01)
    assert seeded.nested_logliks_ == {"variance=shared": shared.loglik_}
    assert seeded.loglik_ >= shared.loglik_ - 1e-6 and not seeded.below_nested_
    assert seeded.n_seeded_starts_ == 1


@pytest.mark.parametrize(("seed", "n", "sd", "waves"), [(5, 120, 2.0, 6), (5, 150, 3.0, 5)])
def test_lcga_grid_class_variance_never_below_shared(seed, n, sd, waves):
    data = growth_mixture_cohort(n=n, intercept_sd=sd, n_waves=waves, seed=seed)
    settings = dict(classes=range(1, 7), n_init=3, random_state=seed)
    shared, _ = fit_trajectory_grid(data, **COLUMNS, variance="shared", **settings)
    specific, models = fit_trajectory_grid(data, **COLUMNS, variance="class", **settings)
    for k, ll_class, ll_shared in zip(
        specific["K"], specific["loglik"], shared["loglik"], strict=True
    ):
        assert ll_class >= ll_shared - 1e-6, k
        if k > 1:
            assert models[k].nested_logliks_["variance=shared"] == ll_shared
