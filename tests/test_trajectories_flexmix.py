"""srflow's growth mixture model against R flexmix's FLXMRlmm (random intercept in each class).

References: tests/data/flexmix_gmm_gmm_{shared,class}.csv, made by tests/reference/flexmix_gmm.R
(flexmix 2.3-18, R 4.2.2, one start per K) on tests/data/gmm_cohort.csv: P ~ time + time^2 with a
random intercept per participant, random-intercept and residual variances shared by the classes
(K = 1..5) or per class (K = 1..4). The same model in srflow (method gmm, random [intercept],
variance = random_variance, degree 2, 20 starts, seed 1) must reach at least flexmix's
log-likelihood for every K (tolerance 1e-3) and count the same free parameters where flexmix kept
all K classes. K = 1 is a linear mixed model: the two must agree (1e-3).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from srflow.trajectories import fit_trajectory_grid

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module", params=["shared", "class"])
def reference(request) -> tuple[str, pd.DataFrame]:
    table = pd.read_csv(DATA / f"flexmix_gmm_gmm_{request.param}.csv", comment="#")
    return request.param, table.dropna(subset=["loglik"]).set_index("K")


@pytest.fixture(scope="module")
def srflow_fits(reference) -> pd.DataFrame:
    variance, table = reference
    data = pd.read_csv(DATA / "gmm_cohort.csv")
    selection, _ = fit_trajectory_grid(
        data,
        participant="id",
        classes=table.index.tolist(),
        method="gmm",
        degree=2,
        variance=variance,
        random_variance=variance,
        n_init=20,
        random_state=1,
    )
    return selection.set_index("K")


def test_loglik_at_least_flexmix_for_every_k(reference, srflow_fits):
    _, table = reference
    assert len(table) >= 4
    for k, row in table.iterrows():
        assert srflow_fits.loc[k, "loglik"] >= row["loglik"] - 1e-3, k
        if row["K_fitted"] == k:
            assert srflow_fits.loc[k, "npm"] == row["df"], k


def test_one_class_is_the_same_mixed_model(reference, srflow_fits):
    assert srflow_fits.loc[1, "loglik"] == pytest.approx(reference[1].loc[1, "loglik"], abs=1e-3)
