"""srflow's growth mixture model against R flexmix's FLXMRlmm (random intercept in each class).

Reference: tests/data/flexmix_gmm_gmm_shared.csv, made by tests/reference/flexmix_gmm.R (flexmix
2.3-18, R 4.2.2) on tests/data/gmm_cohort.csv: P ~ time + time^2 with a random intercept per
participant, random-intercept and residual variances shared by the classes, K = 1..5. The same
model in srflow (method gmm, random [intercept], variance and random_variance shared, degree 2,
20 starts, seed 1) must reach at least flexmix's log-likelihood for every K (tolerance 1e-3),
and count the same free parameters. K = 1 is a linear mixed model: the two must agree (1e-3).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from srflow.trajectories import fit_trajectory_grid

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    table = pd.read_csv(DATA / "flexmix_gmm_gmm_shared.csv", comment="#")
    return table.dropna(subset=["loglik"]).set_index("K")


@pytest.fixture(scope="module")
def srflow_fits(reference) -> pd.DataFrame:
    data = pd.read_csv(DATA / "gmm_cohort.csv")
    selection, _ = fit_trajectory_grid(
        data, participant="id", classes=reference.index.tolist(), method="gmm", degree=2,
        variance="shared", random_variance="shared", n_init=20, random_state=1,
    )
    return selection.set_index("K")


def test_loglik_at_least_flexmix_for_every_k(reference, srflow_fits):
    assert len(reference) >= 4
    for k, row in reference.iterrows():
        assert srflow_fits.loc[k, "loglik"] >= row["loglik"] - 1e-3, k
        if row["K_fitted"] == k:
            assert srflow_fits.loc[k, "npm"] == row["df"], k


def test_one_class_is_the_same_mixed_model(reference, srflow_fits):
    assert srflow_fits.loc[1, "loglik"] == pytest.approx(reference.loc[1, "loglik"], abs=1e-3)
