"""Tests of srflow.trajectories.selection: fit indices, tables, bootstrap LR test.

Data: tests/data/lcga_cohort.csv (copy of /work/shared/reference/lcga_cohort.csv,
simulated for srflow, 4 true classes).  Index formulas are recomputed by hand
from the row's loglik, npm and n = number of participants (tolerance 1e-9).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srflow.errors import ModelError
from srflow.trajectories import (
    bootstrap_lrt_pvalue,
    bootstrap_lrt_replicate,
    classes_table,
    curves_table,
    fit_trajectory_grid,
)

DATA = Path(__file__).parent / "data"
COLUMNS = {"participant": "id", "time": "time", "outcome": "P"}


@pytest.fixture(scope="module")
def grid(lcga_cohort):
    return fit_trajectory_grid(
        lcga_cohort, **COLUMNS, classes=range(1, 5), degree=1, n_init=10, random_state=2
    )


def test_indices_follow_documented_formulas(grid):
    selection, models = grid
    for _, row in selection.iterrows():
        ll, npm, n = row["loglik"], row["npm"], row["n_participants"]
        assert n == 1500
        assert row["aic"] == pytest.approx(-2 * ll + 2 * npm, abs=1e-9)
        assert row["bic"] == pytest.approx(-2 * ll + npm * math.log(n), abs=1e-9)
        assert row["sabic"] == pytest.approx(-2 * ll + npm * math.log((n + 2) / 24), abs=1e-9)
        assert row["caic"] == pytest.approx(-2 * ll + npm * (math.log(n) + 1), abs=1e-9)
        post = models[int(row["K"])].posterior_
        en = -np.sum(np.where(post > 0, post * np.log(np.where(post > 0, post, 1)), 0))
        assert row["icl"] == pytest.approx(row["bic"] + 2 * en, rel=1e-12)
        if row["K"] > 1:
            assert row["entropy"] == pytest.approx(1 - en / (n * math.log(row["K"])), rel=1e-12)
    k4 = selection.set_index("K").loc[4]
    # four well separated classes: AvePP all near 1, relative entropy > 0.99
    assert k4["entropy"] > 0.99 and k4["appa_min"] > 0.99
    assert len(k4["appa"].split(";")) == 4
    assert k4["class_sizes"] == "901/224/225/150"


def test_occ_formula(grid):
    selection, models = grid
    model = models[3]
    row = selection.set_index("K").loc[3]
    cls = model.labels_ - 1
    appa = np.array([model.posterior_[cls == k, k].mean() for k in range(3)])
    np.testing.assert_allclose([float(v) for v in row["appa"].split(";")], appa, atol=5e-4)
    occ = np.array([float(v) for v in row["occ"].split(";")])
    w = model.weights_
    expected = (appa / (1 - appa)) / (w / (1 - w))
    np.testing.assert_allclose(occ, expected, rtol=1e-4)  # occ is printed to 2 decimals


def test_curves_and_classes_tables(lcga_cohort, grid):
    _, models = grid
    curves = curves_table(models)
    assert list(curves.columns) == [
        "K",
        "class",
        "time",
        "fitted",
        "se",
        "ci_low",
        "ci_high",
        "se_status",
        "observed_mean",
        "observed_sd",
        "n_observed",
    ]
    assert curves.shape[0] == (1 + 2 + 3 + 4) * 6
    # observed means at K = 1 are the plain means of P per time
    k1 = curves[curves["K"] == 1].set_index("time")["observed_mean"]
    np.testing.assert_allclose(k1.to_numpy(), lcga_cohort.groupby("time")["P"].mean().to_numpy())
    # fitted K = 1 curve is the OLS line
    slope, intercept = np.polyfit(lcga_cohort["time"], lcga_cohort["P"], 1)
    np.testing.assert_allclose(
        curves[curves["K"] == 1]["fitted"], intercept + slope * np.arange(6.0)
    )
    classes = classes_table(models, curves)
    assert list(classes.columns[:4]) == ["participant_id", "K", "class", "label"]
    assert [c for c in classes.columns if c.startswith("post_")] == [
        "post_1",
        "post_2",
        "post_3",
        "post_4",
    ]
    assert classes.shape[0] == 1500 * 4
    k4 = classes[classes["K"] == 4]
    assert sorted(k4["label"].unique()) == ["chronic", "delayed", "recovery", "resilient"]
    np.testing.assert_allclose(k4[["post_1", "post_2", "post_3", "post_4"]].sum(axis=1), 1.0)
    assert classes.loc[classes["K"] == 2, "post_3"].isna().all()
    truth = lcga_cohort.groupby("id")["true_class"].first()
    agree = (
        k4.set_index("participant_id")["label"] == truth.reindex(k4["participant_id"]).to_numpy()
    ).mean()
    assert agree >= 0.99


def test_on_error_skip_records_message():
    data = pd.DataFrame(
        {
            "participant_id": np.repeat(np.arange(6), 3),
            "time": np.tile([0.0, 1, 2], 6),
            "P": np.random.default_rng(0).normal(size=18),
        }
    )
    with pytest.raises(ModelError):
        fit_trajectory_grid(data, classes=[1, 2, 3], degree=1)
    selection, models = fit_trajectory_grid(data, classes=[1, 2, 3], degree=1, on_error="skip")
    assert sorted(models) == [1, 2]
    assert "too few" in selection.set_index("K").loc[3, "error"]


def test_kmeans_grid_rows(lcga_cohort):
    selection, models = fit_trajectory_grid(
        lcga_cohort, **COLUMNS, classes=[1, 4], method="kmeans", n_init=5, random_state=0
    )
    row = selection.set_index("K").loc[4]
    assert row["class_sizes"] == "900/225/225/150"
    assert np.isnan(row["bic"]) and row["calinski_harabasz"] > 0


def test_bootstrap_lrt_replicates_and_pvalue():
    rng = np.random.default_rng(3)
    n = 120
    truth = rng.integers(0, 2, n)
    times = np.arange(4.0)
    values = 8.0 * truth[:, None] + 0.5 * times + rng.standard_normal((n, 4))
    data = pd.DataFrame(
        {
            "participant_id": np.repeat(np.arange(n), 4),
            "time": np.tile(times, n),
            "P": values.ravel(),
        }
    )
    reps = [
        bootstrap_lrt_replicate(data, 2, r, random_state=9, n_init=5, degree=1) for r in range(4)
    ]
    again = bootstrap_lrt_replicate(data, 2, 1, random_state=9, n_init=5, degree=1)
    assert again == reps[1]  # deterministic per (seed, K, replicate)
    assert len({r["lr"] for r in reps}) == 4  # replicates differ
    selection, _ = fit_trajectory_grid(data, classes=[1, 2], degree=1, n_init=5, random_state=9)
    ll = selection.set_index("K")["loglik"]
    result = bootstrap_lrt_pvalue(ll[1], ll[2], reps)
    # two classes 8 SDs apart: observed LR dwarfs every null replicate -> p = 1 / (B + 1)
    assert result["n_exceeding"] == 0 and result["p_value"] == pytest.approx(1 / 5)
    # combination rule by hand
    fake = pd.DataFrame({"lr": [1.0, 5.0, 10.0, 3.0]})
    assert bootstrap_lrt_pvalue(0.0, 2.0, fake)["p_value"] == pytest.approx((1 + 2) / 5)
