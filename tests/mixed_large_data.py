"""A large simulated cohort for the mixed-model inference at scale (tests and benchmark).

``simulate(n, waves)``: an uncentred E (0-100), a trait RF from -4 to 4 moderating E, a
random intercept (SD 3) and E slope (SD 0.1) per participant, residual SD 3; four
fixed-effect sites, or with ``nested=True`` 100 sites with a random intercept (SD 1.5).
The E slope's ``theta`` is ~0.03 and the correlation's ~7e-5: parameters near zero that a
purely relative finite-difference step cannot resolve on a deviance of ~1e6.

``python tests/mixed_large_data.py OUT.csv`` writes the nested 20,000 x 10 cohort for
``tests/reference/mixed_large_df.R``; ``benchmarks/mixed_inference.py`` times it.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd


def simulate(
    n_participants: int, n_waves: int, seed: int = 11, nested: bool = False
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_participants * n_waves
    pid = np.repeat(np.arange(n_participants), n_waves)
    rf = np.repeat(rng.uniform(-4, 4, n_participants).round(2), n_waves)
    site = np.repeat(rng.choice(list("ABCD"), n_participants), n_waves)
    e = np.clip(rng.normal(40 + 5 * rf, 20), 0, 100).round()
    b0 = np.repeat(rng.normal(0, 3, n_participants), n_waves)
    b1 = np.repeat(rng.normal(0, 0.1, n_participants), n_waves)
    p = 8 + 0.12 * e + 0.7 * rf + 0.02 * e * rf + b0 + b1 * e + rng.normal(0, 3, n)
    if nested:  # 100 sites with their own intercept instead of 4 fixed-effect sites
        codes = np.repeat(rng.integers(0, 100, n_participants), n_waves)
        site = np.char.add("s", codes.astype(str))
        p = p + rng.normal(0, 1.5, 100)[codes]
    return pd.DataFrame(
        {
            "participant_id": np.char.add("p", pid.astype(str)),
            "wave": np.tile(np.arange(1, n_waves + 1), n_participants),
            "E": e,
            "RF": rf,
            "site": site,
            "P": p.round(3),
        }
    )


if __name__ == "__main__":
    simulate(20_000, 10, nested=True).to_csv(sys.argv[1], index=False)
