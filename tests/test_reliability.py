"""Tests of srflow.reliability: Cronbach's alpha and one-factor (minres) omega per wave.

Known answers: hand computations (stated in comments), a per-wave loop over the textbook
formulas, an exactly one-factor correlation matrix, and R psych 2.2.9 (psych::alpha raw_alpha,
psych::omega omega.tot with nfactors = 1, fm = "minres") on the data of
tests/reference/reliability.R (outputs in tests/data/reliability/).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srflow.config import load_config
from srflow.reliability import (
    cohort_reliability,
    cronbach_alpha,
    one_factor_minres,
    reliability_table,
    wave_reliability,
)
from srflow.results import RELIABILITY_TABLE

DATA = Path(__file__).resolve().parent / "data" / "reliability"


def _psych():
    items = pd.read_csv(DATA / "items.csv")
    reference = pd.read_csv(DATA / "psych.csv")
    return items, reference


def test_alpha_and_omega_equal_psych():
    items, reference = _psych()
    table = wave_reliability(items.filter(like="Q_").to_numpy(float), items["wave"].to_numpy())
    assert table["wave"].tolist() == [1, 2, 3]
    assert table["n"].tolist() == reference["n"].tolist()  # complete item rows per wave
    np.testing.assert_allclose(table["alpha"], reference["alpha"], rtol=1e-12)
    # psych's minres stops where optim does (about 1e-8 here); ours is the exact fixed point
    np.testing.assert_allclose(table["omega"], reference["omega"], rtol=0, atol=1e-6)
    assert (table["note"] == "").all()


def _minres_criterion(r: np.ndarray, loadings: np.ndarray) -> float:
    """Sum of squared off-diagonal residuals, what minres minimises."""
    off = ~np.eye(len(r), dtype=bool)
    return float(((r - np.outer(loadings, loadings))[off] ** 2).sum())


def test_minres_loadings_equal_psych_and_fit_at_least_as_well():
    items, reference = _psych()
    for wave, row in reference.set_index("wave").iterrows():
        x = items.loc[items["wave"] == wave].filter(like="Q_").dropna().to_numpy(float)
        r = np.corrcoef(x, rowvar=False)
        loadings, converged, _ = one_factor_minres(r)
        theirs = np.array([float(v) for v in row["loadings"].split(";")])
        assert converged
        np.testing.assert_allclose(loadings, theirs, rtol=0, atol=1e-5)
        assert _minres_criterion(r, loadings) <= _minres_criterion(r, theirs) + 1e-15


def test_alpha_by_hand():
    # items (0, 1, 2, 3) and (1, 1, 3, 3): variances 5/3 and 4/3, covariance 4/3;
    # alpha = 2 * (1 - 3 / (17/3)) = 16/17
    x = np.array([[0, 1], [1, 1], [2, 3], [3, 3.0]])
    table = wave_reliability(x, np.ones(4, dtype=int))
    assert table["alpha"][0] == pytest.approx(16 / 17, rel=1e-14)
    assert table["n"][0] == 4 and table["n_items"][0] == 2


def test_vectorised_waves_equal_a_loop_over_waves():
    rng = np.random.default_rng(11)
    n, k = 600, 5
    factor = rng.normal(size=n)
    x = np.round(factor[:, None] * [0.9, 0.8, 0.7, 0.6, 0.5] + rng.normal(size=(n, k)))
    x[rng.random((n, k)) < 0.05] = np.nan
    waves = rng.integers(1, 5, size=n) * 10  # waves 10..40, unsorted rows
    table = wave_reliability(x, waves)
    for _, row in table.iterrows():
        rows = x[(waves == row["wave"]) & ~np.isnan(x).any(axis=1)]
        c = np.cov(rows, rowvar=False)
        alpha = k / (k - 1) * (1 - np.trace(c) / c.sum())
        assert row["n"] == len(rows)
        assert row["alpha"] == pytest.approx(alpha, rel=1e-12)
        r = np.corrcoef(rows, rowvar=False)
        loadings, converged, _ = one_factor_minres(r)
        omega = (r.sum() - (1 - loadings**2).sum()) / r.sum()
        assert converged and row["omega"] == pytest.approx(omega, rel=1e-12)


def test_omega_of_an_exact_one_factor_matrix():
    # R = l l' + diag(1 - l^2) exactly: minres recovers l, and omega is McDonald's
    # (sum l)^2 / ((sum l)^2 + sum(1 - l^2)); sum l = 3.0, sum(1 - l^2) = 4 - 2.3 = 1.7
    lam = np.array([0.9, 0.8, 0.7, 0.6])
    r = np.outer(lam, lam)
    np.fill_diagonal(r, 1.0)
    loadings, converged, _ = one_factor_minres(r[None])
    assert converged[0]
    np.testing.assert_allclose(loadings[0], lam, rtol=0, atol=1e-9)
    expected = lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam**2).sum())  # 9 / 10.7 = 0.841121
    assert expected == pytest.approx(9 / 10.7, rel=1e-12)
    omega = (r.sum() - (1 - loadings[0] ** 2).sum()) / r.sum()
    assert omega == pytest.approx(expected, rel=1e-9)


def test_notes_say_why_a_value_is_missing():
    x = np.array([[1, 2], [2, 3], [1, 1], [0, 1], [1, 1], [2, 1], [3, 1.0]])
    waves = np.array([1, 1, 2, 2, 2, 2, 2])  # wave 1: two rows; wave 2: item 2 constant
    table = wave_reliability(x, waves)
    assert np.isnan(table["alpha"][0]) and np.isnan(table["omega"][0])
    assert table["note"][0] == "fewer than 3 rows with every item answered"
    assert np.isnan(table["omega"][1])
    assert table["note"][1] == "an item has no variance in this wave"
    assert cronbach_alpha(np.zeros((2, 2))) != cronbach_alpha(np.zeros((2, 2)))  # NaN


def test_cohort_reliability_skips_stressors_and_single_items_and_fits_the_contract(tmp_path):
    raw = {
        "cohorts": {
            "t": {
                "input": "unused.csv",
                "columns": {"participant": "pid", "wave": "wave"},
                "instruments": {
                    "dep": {
                        "role": "problems",
                        "items": {"prefix": "D_"},
                        "range": [0, 3],
                        "reverse": ["D_3"],
                    },
                    "one": {"role": "covariate", "items": {"prefix": "O_"}, "range": [0, 3]},
                    "life": {"role": "stressors", "items": {"prefix": "L_"}, "range": [0, 1]},
                },
            }
        }
    }
    cohort = load_config(raw).cohort("t")
    rng = np.random.default_rng(5)
    n = 40
    d = rng.integers(0, 4, size=(n, 3)).astype(float)
    validated = pd.DataFrame(
        {
            "participant_id": [f"p{i % 20:02d}" for i in range(n)],
            "wave": np.repeat([1, 2], 20),
            "D_1": d[:, 0],
            "D_2": d[:, 1],
            "D_3": d[:, 2],
            "O_1": rng.integers(0, 4, size=n).astype(float),
            "L_1": rng.integers(0, 2, size=n).astype(float),
            "L_2": 1.0,
        }
    )
    table = cohort_reliability(validated, cohort)
    assert table["instrument"].tolist() == ["dep", "dep"]
    # reverse scoring applies before alpha: D_3 becomes 3 - D_3
    reversed_items = np.column_stack([d[:, 0], d[:, 1], 3 - d[:, 2]])
    expected = reliability_table({"dep": reversed_items}, validated["wave"].to_numpy())
    pd.testing.assert_frame_equal(table, expected)
    RELIABILITY_TABLE.write(table, tmp_path / "reliability.csv")
    back = RELIABILITY_TABLE.read(tmp_path / "reliability.csv")
    assert list(back.columns) == ["instrument", "wave", "n", "n_items", "alpha", "omega", "note"]
