"""Benchmark srflow's growth mixture model against R flexmix (FLXMRlmm).

(a) 2,000 participants x 8 waves (10% of waves missing; tests/trajectory_cohorts.py, seed 11:
    4 classes, random intercept SD 2 and slope SD 0.4): srflow GMM with random intercept and
    slope, shared variances, K = 1..5 x 20 starts; then flexmix FLXMRlmm with a random
    intercept (it has no random slope with varFix) on the same data and K, ``--flexmix-starts``
    starts per K (default 1; its time per start is multiplied by 20 for the grid's figure, and
    said so), unless ``--skip-flexmix``. srflow also fits the random-intercept model flexmix
    fits, so the log-likelihoods compare like with like.
(b) ``--large``: 20,000 participants x 10 waves, the same srflow model and grid.

Run: python benchmarks/trajectories_gmm.py [--skip-flexmix] [--flexmix-starts N] [--large]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from srflow.trajectories import fit_trajectory_grid  # noqa: E402
from trajectory_cohorts import growth_mixture_cohort  # noqa: E402

FLEXMIX = r"""
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1]); data$time2 <- data$time^2
nrep <- as.integer(args[2]); set.seed(1)
model <- FLXMRlmm(random = ~ 1, varFix = c(Random = TRUE, Residual = TRUE))
for (k in 1:5) {
  started <- proc.time(); best <- -Inf
  for (r in seq_len(nrep)) {
    fit <- tryCatch(flexmix(P ~ time + time2 | id, data = data, k = k, model = model),
                    error = function(e) NULL)
    if (!is.null(fit)) best <- max(best, as.numeric(logLik(fit)))
  }
  used <- proc.time() - started
  cat(k, best, used[["elapsed"]], used[["user.self"]] + used[["sys.self"]], "\n")
}
"""


def srflow_grid(data: pd.DataFrame, random) -> tuple[pd.DataFrame, float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    selection, _ = fit_trajectory_grid(
        data,
        participant="id",
        classes=range(1, 6),
        method="gmm",
        degree=2,
        variance="shared",
        random_variance="shared",
        random=random,
        n_init=20,
        random_state=1,
    )
    return selection, time.perf_counter() - start, time.process_time() - cpu


def run_flexmix(data: pd.DataFrame, starts: int) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as folder:
        csv, script = Path(folder) / "data.csv", Path(folder) / "fit.R"
        data.to_csv(csv, index=False)
        script.write_text(FLEXMIX, encoding="utf-8")
        out = subprocess.run(
            ["Rscript", str(script), str(csv), str(starts)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    rows = [line.split() for line in out.strip().splitlines()]
    return pd.DataFrame(rows, columns=["K", "loglik", "seconds", "cpu_seconds"]).astype(
        {"K": int, "loglik": float, "seconds": float, "cpu_seconds": float}
    )


def bench(n: int, n_waves: int, flexmix: bool, flexmix_starts: int) -> None:
    data = growth_mixture_cohort(n=n, n_waves=n_waves, intercept_sd=2.0, slope_sd=0.4, seed=11)
    print(f"{n:,} participants x {n_waves} waves ({len(data):,} rows), K = 1..5 x 20 starts")
    slope, wall, cpu = srflow_grid(data, ("intercept", "slope"))
    print(f"  srflow GMM random intercept + slope: {wall:.1f} s wall, {cpu:.1f} s CPU")
    print(
        slope[
            [
                "K",
                "loglik",
                "npm",
                "bic",
                "class_sizes",
                "n_starts_at_best",
                "n_final_starts",
                "certification",
            ]
        ].to_string(index=False)
    )
    intercept, wall_i, cpu_i = srflow_grid(data, ("intercept",))
    print(f"  srflow GMM random intercept: {wall_i:.1f} s wall, {cpu_i:.1f} s CPU")
    if not flexmix:
        return
    reference = run_flexmix(data, flexmix_starts)
    # flexmix runs one start at a time; its 20-start figure is 20 x its time per start (said so).
    per_start = reference[["seconds", "cpu_seconds"]].sum() / flexmix_starts
    table = reference.assign(srflow_loglik=intercept["loglik"].to_numpy())
    table["difference"] = table["srflow_loglik"] - table["loglik"]
    print(
        f"  flexmix FLXMRlmm random intercept, {flexmix_starts} start(s) per K: "
        f"{reference['seconds'].sum():.1f} s wall, {reference['cpu_seconds'].sum():.1f} s CPU; "
        f"20 starts ~ {20 * per_start['seconds']:.0f} s wall, "
        f"{20 * per_start['cpu_seconds']:.0f} s CPU (extrapolated)"
    )
    print(table.to_string(index=False))
    for clock, mine, mine_i in (("wall", wall, wall_i), ("CPU", cpu, cpu_i)):
        flex = 20 * per_start["seconds" if clock == "wall" else "cpu_seconds"]
        print(
            f"  speed-up, 20-start grids, {clock} time: {flex / mine:.0f}x (srflow with random "
            f"slope) and {flex / mine_i:.0f}x (the same random-intercept model)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-flexmix", action="store_true")
    parser.add_argument("--flexmix-starts", type=int, default=1)
    parser.add_argument("--large", action="store_true", help="also 20,000 x 10 (srflow only)")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    bench(2000, 8, not args.skip_flexmix, args.flexmix_starts)
    if args.large:
        bench(20000, 10, False, 0)


if __name__ == "__main__":
    main()
