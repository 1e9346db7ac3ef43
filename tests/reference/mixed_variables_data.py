"""Write the inputs of tests/reference/mixed_variables.R into tests/data/mixed_variables/.

Run from the repository root: ``python tests/reference/mixed_variables_data.py``. The bundled
synthetic cohort scored by srflow with config/config.yaml gives ``long.csv``
(participant_id, wave, P, E, GSE) and the SR table of its multilevel spec ``observation``
(``sr_observation.csv``: participant_id, wave, sr, sr_z). The bundled cohort has no
time-varying resilience factor, so ``GSE`` (a self-efficacy-like score) is simulated here,
deterministically (numpy, seed 20261202): 30 minus 0.4 times E at the participant's previous
wave number (E at the same wave where there is none), plus a person effect N(0, 2^2) and
noise N(0, 1.5^2), rounded to 3 decimals, and missing on about 5 % of rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path("tests/data/mixed_variables")
SEED = 20261202


def simulated_gse(scores: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """The simulated covariate on the rows of ``scores`` (see the module docstring)."""
    previous = scores[["participant_id", "wave", "E"]].assign(wave=scores["wave"] + 1)
    lagged = (
        scores[["participant_id", "wave"]]
        .merge(previous, on=["participant_id", "wave"], how="left")["E"]
        .to_numpy()
    )
    e_before = np.where(np.isnan(lagged), scores["E"].to_numpy(), lagged)
    ids, codes = np.unique(scores["participant_id"], return_inverse=True)
    person = rng.normal(0.0, 2.0, len(ids))[codes]
    gse = 30.0 - 0.4 * e_before + person + rng.normal(0.0, 1.5, len(scores))
    gse[rng.random(len(scores)) < 0.05] = np.nan
    return np.round(gse, 3)


def main() -> None:
    from srflow import io, scoring, sr, validation
    from srflow.config import load_config

    cohort = load_config("config/config.yaml").cohort("synthetic")
    scores = scoring.score(validation.validate(io.read_cohort(cohort), cohort).table, cohort)
    scores = scores.sort_values(["participant_id", "wave"], kind="stable").reset_index(drop=True)
    scores["GSE"] = simulated_gse(scores, np.random.default_rng(SEED))
    OUT.mkdir(parents=True, exist_ok=True)
    scores[["participant_id", "wave", "P", "E", "GSE"]].to_csv(OUT / "long.csv", index=False)
    table = sr.compute_sr(scores, cohort.sr["observation"], "observation").table
    table[["participant_id", "wave", "sr", "sr_z"]].to_csv(
        OUT / "sr_observation.csv", index=False, float_format="%.17g"
    )


if __name__ == "__main__":
    main()
