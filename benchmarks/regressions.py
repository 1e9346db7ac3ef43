"""Benchmark: person-level regressions, and the variable resolver, at 100,000 participants x 10 waves.

Run: ``python benchmarks/regressions.py [--participants N] [--waves T] [--seed S]``.
Simulates a scores table (age and a category constant per participant, a time-varying
``optimism``, ~5 % missing cells), a period SR table (one score per participant, 97 % of
them) and a wave-level SR table (one per row), then times

1. ``fit_regression``: ``sr_z:person ~ z(age) + gender + optimism``, aggregate first, classical SEs;
2. ``fit_regression``: ``sr:person ~ z(optimism) + z(optimism):gender + age + sr:per_wave``,
   aggregate mean, HC3 SEs;
3. ``resolve_variables`` on every row: ``sr_z:per_wave``, ``within(optimism)``,
   ``between(optimism)``, ``z(lag(optimism))``, ``sr:person`` (what a mixed model would need).

Prints wall and CPU seconds per step, the peak resident memory and the load average.
Target: each regression <= 5 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import pandas as pd

from srflow.config import RegressionSpec
from srflow.regression import fit_regression
from srflow.variables import resolve_variables


def simulate(n_participants: int, n_waves: int, seed: int):
    """Scores table, and SR tables of level period and wave (see module docstring)."""
    rng = np.random.default_rng(seed)
    n = n_participants * n_waves
    person = np.repeat(np.arange(n_participants), n_waves)
    ids = np.char.add("p", np.char.zfill(np.arange(n_participants).astype(str), 6))
    trait = rng.normal(0.0, 1.0, n_participants)
    optimism = 3.0 + trait[person] + rng.normal(0.0, 0.5, n)
    optimism[rng.random(n) < 0.05] = np.nan
    scores = pd.DataFrame(
        {
            "participant_id": pd.array(ids[person], dtype="str"),
            "wave": np.tile(np.arange(1, n_waves + 1, dtype=np.int64), n_participants),
            "age": np.repeat(rng.integers(18, 81, n_participants).astype(float), n_waves),
            "gender": pd.Categorical(
                np.repeat(
                    rng.choice(["female", "male", "diverse"], n_participants, p=[0.5, 0.45, 0.05]),
                    n_waves,
                )
            ),
            "optimism": optimism,
        }
    )
    keep = rng.random(n_participants) < 0.97
    sr_person = -0.3 * trait + rng.normal(0.0, 1.0, n_participants)
    period = pd.DataFrame({"participant_id": ids[keep], "sr": sr_person[keep]})
    period["sr_z"] = (period["sr"] - period["sr"].mean()) / period["sr"].std(ddof=1)
    wave_sr = sr_person[person] + rng.normal(0.0, 1.0, n)
    per_wave = pd.DataFrame(
        {
            "participant_id": scores["participant_id"],
            "wave": scores["wave"],
            "sr": wave_sr,
            "sr_z": (wave_sr - wave_sr.mean()) / wave_sr.std(ddof=1),
        }
    )
    return scores, {"person": period, "per_wave": per_wave}


def timed(label: str, call):
    wall, cpu = time.perf_counter(), time.process_time()
    out = call()
    print(
        f"{label}: {time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args()

    scores, sr_tables = timed(
        "simulate", lambda: simulate(args.participants, args.waves, args.seed)
    )
    print(f"{args.participants:,} participants x {args.waves} waves ({len(scores):,} rows)")
    first = RegressionSpec.from_config(
        "first", {"outcome": "sr_z:person", "predictors": ["z(age)", "gender", "optimism"]}
    )
    mean = RegressionSpec.from_config(
        "mean",
        {
            "outcome": "sr:person",
            "predictors": ["z(optimism)", "z(optimism):gender", "age", "sr:per_wave"],
            "aggregate": "mean",
            "se": "hc3",
        },
    )
    fit_regression(scores.head(200), sr_tables, first)  # warm imports
    for spec in (first, mean):
        result = timed(
            f"regression {spec.name} ({spec.aggregate}, {spec.se})",
            lambda spec=spec: fit_regression(scores, sr_tables, spec),
        )
        row = result.coefficients.iloc[1]
        print(
            f"  n_obs {result.fit['n_obs']:,}, dropped {result.fit['n_dropped_missing']:,}, "
            f"{row['term']} = {row['estimate']:.4f} (se {row['se']:.4f})"
        )
    terms = [
        "sr_z:per_wave",
        "within(optimism)",
        "between(optimism)",
        "z(lag(optimism))",
        "sr:person",
    ]
    resolved = timed(
        "resolve_variables (5 terms, every row)",
        lambda: resolve_variables(scores, sr_tables, terms, where="bench"),
    )
    print(f"  model rows {len(resolved.rows):,} of {len(scores):,}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak RSS {peak_mb:.0f} MB; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
