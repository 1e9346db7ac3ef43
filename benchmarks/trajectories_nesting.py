"""How often a richer mixture ends below the model nested in it without being seeded from it.

(a) GMM with a random intercept and slope against the random intercept alone, with and
    without the start at the random-intercept optimum: simulated cohorts of
    tests/trajectory_cohorts.py (seeds 0-5; n 120, 200, 150; intercept SD 2, 0.5, 3; 6, 4, 5
    waves), variances shared/shared, class/shared, class/class, K = 3..6, 3 random starts.
(b) LCGA with class-specific residual variances against the shared one, with and without the
    start at the shared optimum (seeds 0-7; four cohort shapes; K = 2..6; 3 starts).

Prints every fit below its nested model (gap in log-likelihood units) and the counts.
Run: python benchmarks/trajectories_nesting.py [--part a|b]   (a takes ~15 min on one core)
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from srflow.trajectories import GMM, LCGA  # noqa: E402
from trajectory_cohorts import growth_mixture_cohort  # noqa: E402

COLUMNS = {"participant": "id", "time": "time", "outcome": "P"}
SLOPE = ("intercept", "slope")


def _fit_without(cls, seeded: bool, *args, **kwargs):
    """A fit with the nested model's start removed (``seeded=False``)."""
    if seeded:
        return cls(*args, **kwargs)
    model = cls(*args, **kwargs)
    if cls is GMM:
        specs = GMM._nested_specs
        model._nested_specs = lambda: [s for s in specs(model) if len(s[0]) == model._n_random]
    else:
        model._seeded_starts = lambda *a: []
    return model


def slope_against_intercept() -> None:
    below = {True: 0, False: 0}
    total = 0
    for seed in range(6):
        for n, sd, waves in [(120, 2.0, 6), (200, 0.5, 4), (150, 3.0, 5)]:
            data = growth_mixture_cohort(n=n, intercept_sd=sd, n_waves=waves, seed=seed)
            for variance, random_variance in [
                ("shared", "shared"),
                ("class", "shared"),
                ("class", "class"),
            ]:
                for k in range(3, 7):
                    settings = dict(
                        variance=variance,
                        random_variance=random_variance,
                        n_init=3,
                        random_state=seed * 10 + k,
                    )
                    intercept = GMM(k, **settings).fit(data, **COLUMNS).loglik_
                    total += 1
                    for seeded in (False, True):
                        model = _fit_without(GMM, seeded, k, random=SLOPE, **settings)
                        gap = model.fit(data, **COLUMNS).loglik_ - intercept
                        if gap < -1e-6:
                            below[seeded] += 1
                            print(
                                f"seed {seed} n {n} sd {sd} waves {waves} {variance}/"
                                f"{random_variance} K {k} seeded={seeded}: {gap:+.6f}",
                                flush=True,
                            )
    print(f"slope below intercept: {below[False]} of {total} unseeded, {below[True]} seeded")


def class_against_shared() -> None:
    below = {True: 0, False: 0}
    total = 0
    for seed in range(8):
        for n, sd, waves in [(120, 2.0, 6), (200, 0.5, 4), (150, 3.0, 5), (400, 1.0, 6)]:
            data = growth_mixture_cohort(n=n, intercept_sd=sd, n_waves=waves, seed=seed)
            for k in range(2, 7):
                shared = LCGA(k, variance="shared", n_init=3, random_state=k).fit(data, **COLUMNS)
                total += 1
                for seeded in (False, True):
                    model = _fit_without(
                        LCGA, seeded, k, variance="class", n_init=3, random_state=k
                    )
                    gap = model.fit(data, **COLUMNS).loglik_ - shared.loglik_
                    if gap < -1e-6:
                        below[seeded] += 1
                        print(
                            f"seed {seed} n {n} sd {sd} waves {waves} K {k} seeded={seeded}: "
                            f"{gap:+.4f}",
                            flush=True,
                        )
    print(f"class-specific below shared: {below[False]} of {total} unseeded, {below[True]} seeded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["a", "b"], default=None)
    part = parser.parse_args().part
    warnings.simplefilter("ignore")
    if part in (None, "a"):
        slope_against_intercept()
    if part in (None, "b"):
        class_against_shared()


if __name__ == "__main__":
    main()
