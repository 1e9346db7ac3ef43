"""Write the inputs of tests/reference/regressions.R into tests/data/regressions/.

Run from the repository root: ``python tests/reference/regressions_data.py``. Two datasets:

- ``bundled``: the bundled synthetic cohort scored by srflow with config/config.yaml
  (``bundled_long.csv``: participant_id, wave, P, E, age, gender, arm), and the SR tables of
  its specs ``person`` (period level: ``bundled_sr_person.csv``) and ``per_wave`` (wave level:
  ``bundled_sr_per_wave.csv``).
- ``messy``: simulated here (numpy, seed 20261201): 180 participants with 1 to 6 of waves
  1..6 (gaps allowed), uncentred covariates in -4..100 (``x1`` drifting over waves, ``x2``
  time-varying), a category ``grp`` (a/b/c), about 10 % of cells missing, an outcome ``y``
  whose noise grows with ``x2`` (so HC3 differs from classical SEs), and a period-level SR
  table for 90 % of them (``messy_sr_period.csv``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path("tests/data/regressions")
SEED = 20261201


def bundled() -> None:
    from srflow import io, scoring, sr, validation
    from srflow.config import load_config

    cohort = load_config("config/config.yaml").cohort("synthetic")
    scores = scoring.score(validation.validate(io.read_cohort(cohort), cohort).table, cohort)
    columns = ["participant_id", "wave", "P", "E", "age", "gender", "arm"]
    scores[columns].to_csv(OUT / "bundled_long.csv", index=False)
    for spec, keys in (("person", ["participant_id"]), ("per_wave", ["participant_id", "wave"])):
        table = sr.compute_sr(scores, cohort.sr[spec], spec).table
        table[keys + ["sr", "sr_z"]].to_csv(OUT / f"bundled_sr_{spec}.csv", index=False)


def messy() -> None:
    rng = np.random.default_rng(SEED)
    n = 180
    ids = np.array([f"M{i:03d}" for i in rng.permutation(n) + 1])
    n_waves = rng.integers(1, 7, size=n)
    rows = []
    for pid, k in zip(ids, n_waves, strict=True):  # test-data generation, not a hot path
        for wave in np.sort(rng.choice(np.arange(1, 7), size=k, replace=False)):
            rows.append((pid, int(wave)))
    long = pd.DataFrame(rows, columns=["participant_id", "wave"])
    person = pd.DataFrame(
        {
            "participant_id": ids,
            "base": rng.uniform(-4, 100, n),
            "grp": rng.choice(["a", "b", "c"], size=n, p=[0.4, 0.35, 0.25]),
        }
    )
    long = long.merge(person, on="participant_id")
    m = len(long)
    long["x1"] = np.clip(long["base"] + rng.normal(0, 3, m) + long["wave"], -4, 100).round(2)
    long["x2"] = rng.uniform(-4, 100, m).round(2)
    effect = long["grp"].map({"a": 0.0, "b": 1.5, "c": -2.0})
    noise = rng.normal(0, 1, m) * (0.5 + long["x2"] / 25)
    long["y"] = (2 + 0.03 * long["x1"] - 0.02 * long["x2"] + effect + noise).round(4)
    for column in ("x1", "x2", "y"):
        long.loc[rng.random(m) < 0.1, column] = np.nan
    long.loc[rng.random(m) < 0.03, "grp"] = None
    long = long.drop(columns="base").sort_values(["participant_id", "wave"])
    long.to_csv(OUT / "messy_long.csv", index=False)
    keep = np.sort(rng.choice(n, size=int(0.9 * n), replace=False))
    base = person.set_index("participant_id")["base"]
    sr_values = 0.5 + 0.01 * base.iloc[keep].to_numpy() + rng.normal(0, 0.4, len(keep))
    period = pd.DataFrame({"participant_id": base.index[keep], "sr": sr_values})
    period["sr_z"] = (period["sr"] - period["sr"].mean()) / period["sr"].std(ddof=1)
    period.sort_values("participant_id").to_csv(OUT / "messy_sr_period.csv", index=False)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    bundled()
    messy()
