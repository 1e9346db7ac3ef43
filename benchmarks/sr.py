"""Benchmark: SR scores at all five levels on 100,000 participants x 10 waves.

Run: ``python benchmarks/sr.py [--participants N] [--waves T] [--seed S]``.
Simulates P and E directly with numpy (person-level exposure level, a random
intercept and a random E slope, ~5% missing P and ~3% missing E), then times
``srflow.sr.compute_sr`` per level with the default spec (form linear, no outlier
handling) and prints the time per level and the total. Target: <= 10 s in total
on 2 cores, multilevel included.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from srflow.config import config_schema, sr_spec
from srflow.sr import compute_sr

#: The SR levels, in the schema's order (the schema is their only definition).
LEVELS = tuple(config_schema()["$defs"]["sr_spec"]["properties"]["level"]["enum"])


def simulate(n_participants: int, n_waves: int, seed: int) -> pd.DataFrame:
    """A scores-like table with known structure (see module docstring)."""
    rng = np.random.default_rng(seed)
    n = n_participants * n_waves
    person = np.repeat(np.arange(n_participants), n_waves)
    level = rng.gamma(2.0, 2.0, n_participants)
    E = np.maximum(level[person] + rng.normal(0.0, 1.5, n), 0.0)
    intercept = rng.normal(0.0, 2.0, n_participants)
    slope = 0.6 + rng.normal(0.0, 0.2, n_participants)
    P = 5.0 + intercept[person] + slope[person] * E + rng.normal(0.0, 2.0, n)
    P[rng.random(n) < 0.05] = np.nan
    E[rng.random(n) < 0.03] = np.nan
    ids = np.char.add("p", np.char.zfill(np.arange(n_participants).astype(str), 6))
    return pd.DataFrame(
        {
            "participant_id": pd.array(ids[person], dtype="str"),
            "wave": np.tile(np.arange(1, n_waves + 1, dtype=np.int64), n_participants),
            "time": np.tile(np.arange(n_waves, dtype=float) * 30.0, n_participants),
            "P": P,
            "E": E,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args()

    t0 = time.perf_counter()
    scores = simulate(args.participants, args.waves, args.seed)
    print(
        f"simulated {args.participants:,} participants x {args.waves} waves "
        f"({len(scores):,} rows) in {time.perf_counter() - t0:.2f} s"
    )
    # Warm imports (statsmodels/scipy pieces, the mixed engine) so they are not timed.
    compute_sr(scores.head(300), {"level": "multilevel"}, "warmup")

    # CPU time is printed too: on a shared machine wall time also measures the neighbours.
    total = total_cpu = 0.0
    for level in LEVELS:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = compute_sr(scores, sr_spec(level, {"level": level}))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        total += elapsed
        total_cpu += cpu
        slope = next(
            c["estimate"] for c in result.line["lines"][0]["coefficients"] if c["term"] == "E"
        )
        print(
            f"{level:<11} {elapsed:7.2f} s wall {cpu:7.2f} s cpu   units scored {len(result.table):>9,}   "
            f"lines {result.line['n_lines']:>2}   first-line E slope {slope:.4f}"
        )
    print(f"{'total':<11} {total:7.2f} s wall {total_cpu:7.2f} s cpu   (target <= 10 s on 2 cores)")


if __name__ == "__main__":
    main()
