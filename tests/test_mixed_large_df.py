"""Satterthwaite df at scale, against lmerTest: a parameter near zero must not make them noise.

The cohort (tests/mixed_large_data.py): 20,000 participants x 10 waves in 100 sites,
``P ~ E + RF + E:RF + (1 | site) + (1 + E | participant)`` by REML. Its E slope's ``theta``
is ~0.03 and the intercept-slope correlation's ~7e-5. Differencing the deviance (~1.09e6)
with steps of 1e-3 of each value moved it by less than its rounding noise along the
correlation, and the df of E, RF and E:RF came out 4% off lmerTest's (19,175 against
20,027), and 1-14% off depending on the step. With the steps widened until the deviance
moves (``srflow.mixed.varpar.deviance_steps``) they are within 1e-4 of lmerTest's (measured
9.7e-5 to 1.6e-4), whatever the starting step. Reference: tests/reference/mixed_large_df.R
(lmerTest 3.1, bobyqa, whose log-likelihood equals srflow's to 1e-6).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixed_large_data import simulate
from srflow.mixed import MixedModelSpec, fit_mixed_model

REFERENCE = Path(__file__).parent / "data" / "mixed_large_df.csv"
SPEC = {"outcome": "P", "fixed": ["E", "RF", "E:RF"], "random": ["E"], "nested_in": "site"}


@cache
def _fit():
    data = simulate(20_000, 10, nested=True)
    return data, fit_mixed_model(data, MixedModelSpec.from_config("large", SPEC), profile=False)


def test_the_generator_still_makes_the_reference_data():
    data, _ = _fit()
    ref = pd.read_csv(REFERENCE)
    assert len(data) == int(ref["n_rows"].iloc[0])
    assert data["P"].sum() == pytest.approx(float(ref["sum_P"].iloc[0]), abs=1e-6)


def test_satterthwaite_df_at_scale_equal_lmertest():
    _, result = _fit()
    ref = pd.read_csv(REFERENCE)
    assert result.fit["status"] == "ok"
    assert result.fit["loglik"] >= float(ref["loglik"].iloc[0]) - 1e-3
    fixed = result.fixed.set_index("term").loc[["Intercept", "E", "RF", "E:RF"]]
    np.testing.assert_allclose(fixed["estimate"], ref["estimate"], rtol=1e-5)
    np.testing.assert_allclose(fixed["se"], ref["se"], rtol=1e-4)
    np.testing.assert_allclose(fixed["df"], ref["df"], rtol=1e-3)
    anova = result.anova.set_index("term").loc[["E", "RF", "E:RF"]]
    np.testing.assert_allclose(anova["F"], ref["anova_F"].iloc[1:], rtol=1e-3)
    np.testing.assert_allclose(anova["den_df"], ref["df"].iloc[1:], rtol=1e-3)
