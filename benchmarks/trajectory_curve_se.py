"""Benchmark the standard errors of the class curves: what they add to a K grid.

A simulated cohort of 2,000 participants x 6 waves (four classes, random intercept and slope,
10% of waves missing; tests/trajectory_cohorts.py), K = 1..5 with 20 starts: the time to fit
the grid and the time to compute every K's observed information and curve covariances, for
LCGA, a GMM with a random intercept and a GMM with a random intercept and slope.

Run: python benchmarks/trajectory_curve_se.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from srflow.trajectories import fit_trajectory_grid  # noqa: E402
from srflow.trajectories.curve_se import curve_information  # noqa: E402
from trajectory_cohorts import growth_mixture_cohort  # noqa: E402

SPECS = (
    ("lcga", {"variance": "class"}),
    ("gmm", {"variance": "class", "random": ("intercept",), "random_variance": "shared"}),
    ("gmm", {"variance": "class", "random": ("intercept", "slope"), "random_variance": "class"}),
)


def main() -> None:
    data = growth_mixture_cohort(n=2000, slope_sd=0.3).rename(columns={"id": "participant_id"})
    for method, settings in SPECS:
        start = time.perf_counter()
        _, models = fit_trajectory_grid(
            data, classes=range(1, 6), method=method, n_init=20, **settings
        )
        fitted = time.perf_counter() - start
        start = time.perf_counter()
        status = {k: curve_information(model).status for k, model in models.items()}
        information = time.perf_counter() - start
        print(f"{method} {settings}: fit {fitted:.1f} s, curve SEs {information:.2f} s")
        for k, text in status.items():
            print(f"  K = {k}: {text}")


if __name__ == "__main__":
    main()
