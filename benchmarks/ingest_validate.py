"""Time srflow's ingest (io.read_cohort) and validation (validation.validate) on a large long file.

Writes a CSV of N participants x W waves (default 100,000 x 10 = 1,000,000 rows) with
subject_id, wave, date, age, gender and 50 items (GHQ_01..12 0-3, GE_01..11 0-5,
LE_01..27 0-5), 2 % blank cells and a few -99 codes, to a temporary folder, then
prints the wall time of each stage. Run as ``python benchmarks/ingest_validate.py
[participants] [waves]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from srflow.config import load_config
from srflow.io import read_cohort
from srflow.validation import validate


def write_file(path: Path, n_participants: int, n_waves: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    n = n_participants * n_waves
    pid = np.repeat(np.arange(1, n_participants + 1), n_waves)
    wave = np.tile(np.arange(1, n_waves + 1), n_participants)
    start = np.datetime64("2021-01-01") + rng.integers(0, 365, n_participants).astype(
        "timedelta64[D]"
    )
    dates = np.repeat(start, n_waves) + ((wave - 1) * 28 + rng.integers(-3, 4, n)).astype(
        "timedelta64[D]"
    )
    data = {
        "subject_id": np.char.add("S", pid.astype(str)),
        "wave": wave,
        "date": np.datetime_as_string(dates, unit="D"),
        "age": np.repeat(rng.integers(18, 80, n_participants), n_waves),
        "gender": np.repeat(rng.choice(["female", "male", "diverse"], n_participants), n_waves),
    }
    names = (
        [f"GHQ_{i:02d}" for i in range(1, 13)]
        + [f"GE_{i:02d}" for i in range(1, 12)]
        + [f"LE_{i:02d}" for i in range(1, 28)]
    )
    for name in names:
        high = 3 if name.startswith("GHQ") else 5
        values = rng.integers(0, high + 1, n).astype(object)
        values[rng.random(n) < 0.02] = ""
        values[rng.random(n) < 0.0005] = -99
        data[name] = values
    pd.DataFrame(data).to_csv(path, index=False)


def main() -> None:
    n_participants = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_waves = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        t0 = time.perf_counter()
        write_file(path, n_participants, n_waves)
        print(
            f"wrote {n_participants * n_waves:,} rows x 55 columns ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s"
        )
        config = load_config(
            {
                "cohorts": {
                    "big": {
                        "input": str(path),
                        "columns": {
                            "participant": "subject_id",
                            "wave": "wave",
                            "time": "date",
                            "covariates": {"age": "integer", "gender": "category"},
                        },
                        "missing_codes": [-99],
                        "on_invalid": "exclude",
                        "instruments": {
                            "ghq12": {
                                "role": "problems",
                                "items": {"prefix": "GHQ_"},
                                "range": [0, 3],
                            },
                            "hassles": {
                                "role": "stressors",
                                "items": {"regex": "^GE_(0[1-9]|1[01])$"},
                                "range": [0, 5],
                            },
                            "life_events": {
                                "role": "stressors",
                                "items": {"prefix": "LE_"},
                                "range": [0, 5],
                            },
                        },
                    }
                }
            }
        )
        cohort = config.cohort("big")
        t0, c0 = time.perf_counter(), time.process_time()
        ingested = read_cohort(cohort)
        t_ingest, c_ingest = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        result = validate(ingested, cohort)
        t_validate, c_validate = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"ingest   (io.read_cohort):      wall {t_ingest:6.2f} s  cpu {c_ingest:6.2f} s  ({len(ingested.table):,} rows)"
        )
        print(
            f"validate (validation.validate): wall {t_validate:6.2f} s  cpu {c_validate:6.2f} s  "
            f"({result.n_kept:,} kept, {len(result.failures):,} failures)"
        )


if __name__ == "__main__":
    main()
