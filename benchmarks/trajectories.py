"""Benchmark srflow's trajectory engine.

(a) The lcga_cohort grid (1,500 participants, up to 6 waves): linear and
    quadratic LCGA, K = 1..5, 20 starts each, against R flexmix 2.3-18 (which
    took about 41 s for the same grid; reference logLiks in
    tests/data/lcga_flexmix.csv, copied from /work/shared/reference).
(b) A simulated cohort of 20,000 participants x 10 waves (10% of waves
    missing), linear LCGA, K = 1..6, 50 starts each.

Run: python benchmarks/trajectories.py [--skip-large]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from srflow.trajectories import fit_trajectory_grid

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def simulate_large(n_participants: int = 20_000, n_waves: int = 10, seed: int = 7) -> pd.DataFrame:
    """Four Bonanno-like classes, linear trajectories, residual SD 2.5, 10% waves missing."""
    rng = np.random.default_rng(seed)
    # (intercept, slope per wave) for resilient, recovery, chronic, delayed
    curves = np.array([[6.0, 0.0], [20.0, -1.6], [22.0, 0.0], [7.0, 1.3]])
    shares = np.array([0.6, 0.15, 0.1, 0.15])
    cls = rng.choice(4, size=n_participants, p=shares)
    waves = np.arange(n_waves, dtype=float)
    mean = curves[cls, :1] + curves[cls, 1:] * waves[None, :]
    values = mean + rng.normal(0.0, 2.5, size=mean.shape)
    keep = rng.random(mean.shape) >= 0.10
    rows, cols = np.nonzero(keep)
    return pd.DataFrame(
        {
            "participant_id": rows,
            "time": waves[cols],
            "P": values[rows, cols],
            "true_class": cls[rows],
        }
    )


def bench_cohort() -> None:
    data = pd.read_csv(DATA / "lcga_cohort.csv")
    reference = pd.read_csv(DATA / "lcga_flexmix.csv", comment="#")
    print("(a) lcga_cohort.csv: 1,500 participants, 2 forms x K = 1..5 x 20 starts")
    total = total_cpu = 0.0
    rows = []
    for form, degree in (("linear", 1), ("quadratic", 2)):
        start, cpu = time.perf_counter(), time.process_time()
        selection, _ = fit_trajectory_grid(
            data,
            participant="id",
            time="time",
            outcome="P",
            classes=range(1, 6),
            degree=degree,
            n_init=20,
            random_state=1,
        )
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        total += elapsed
        total_cpu += cpu
        ref = reference[reference["form"] == form].set_index("K")
        for _, row in selection.iterrows():
            k = int(row["K"])
            rows.append(
                {
                    "form": form,
                    "K": k,
                    "srflow_loglik": round(row["loglik"], 4),
                    "flexmix_loglik": ref.loc[k, "logLik"],
                    "difference": round(row["loglik"] - ref.loc[k, "logLik"], 4),
                    "npm": row["npm"],
                    "flexmix_df": ref.loc[k, "df"],
                    "bic": round(row["bic"], 2),
                    "sizes": row["class_sizes"],
                    "at_best": f"{row['n_starts_at_best']}/{row['n_final_starts']}",
                    "degenerate": row["degenerate"],
                }
            )
        print(f"  {form}: {elapsed:.2f} s wall, {cpu:.2f} s CPU")
    print(pd.DataFrame(rows).to_string(index=False))
    print(
        f"  total fitting time {total:.2f} s wall, {total_cpu:.2f} s CPU "
        f"(flexmix about 41 s: {41 / total:.0f}x faster by wall time; goal <= 2 s)"
    )


def bench_large() -> None:
    data = simulate_large()
    print("(b) 20,000 participants x 10 waves (10% missing), linear LCGA, K = 1..6 x 50 starts")
    start, cpu = time.perf_counter(), time.process_time()
    selection, models = fit_trajectory_grid(
        data, classes=range(1, 7), degree=1, n_init=50, random_state=1
    )
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    cols = [
        "K",
        "loglik",
        "npm",
        "bic",
        "entropy",
        "class_sizes",
        "n_iter",
        "n_starts_at_best",
        "n_final_starts",
        "degenerate",
    ]
    print(selection[cols].to_string(index=False))
    truth = data.groupby("participant_id")["true_class"].first()
    model = models[4]
    from sklearn.metrics import adjusted_rand_score

    ari = adjusted_rand_score(truth.reindex(model.participants_).to_numpy(), model.labels_)
    print(f"  ARI of K = 4 vs simulated truth: {ari:.4f}")
    print(f"  total fitting time {elapsed:.1f} s wall, {cpu:.1f} s CPU (goal <= 60 s on 2 cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-large", action="store_true", help="only run benchmark (a)")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    bench_cohort()
    if not args.skip_large:
        bench_large()


if __name__ == "__main__":
    main()
