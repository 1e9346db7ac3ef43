"""Tests of srflow.trajectories.lcga (LCGA and growth mixture models by EM).

Reference numbers:
- tests/data/lcga_cohort.csv and tests/data/lcga_flexmix.csv are copies of
  /work/shared/reference/ (simulated cohort for srflow; R 4.2.2 + flexmix 2.3-18
  fits, 20 random starts, class-specific residual SD).  Tolerance: our
  log-likelihood may not be more than 0.01 below flexmix's.
- K = 1 hand check against ordinary least squares (numpy lstsq), 1e-8.
- GMM with K = 1 against statsmodels MixedLM (ML, not REML), 1e-3 in loglik.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from srflow.errors import ModelError
from srflow.trajectories import GMM, LCGA, fit_trajectory_grid

DATA = Path(__file__).parent / "data"
COLUMNS = {"participant": "id", "time": "time", "outcome": "P"}


@pytest.fixture(scope="module")
def flexmix() -> pd.DataFrame:
    return pd.read_csv(DATA / "lcga_flexmix.csv", comment="#")


def _check_against_flexmix(lcga_cohort, flexmix, form, degree, ks):
    selection, models = fit_trajectory_grid(
        lcga_cohort, **COLUMNS, classes=ks, degree=degree, n_init=20, random_state=1
    )
    reference = flexmix[flexmix["form"] == form].set_index("K")
    for _, row in selection.iterrows():
        k = int(row["K"])
        # flexmix logLik (20 starts, best kept); ours must not be worse by more than 0.01
        assert row["loglik"] >= reference.loc[k, "logLik"] - 0.01, (form, k)
        # flexmix df counts K (degree+1) coefficients + K SDs + K-1 proportions
        assert row["npm"] == reference.loc[k, "df"]
        assert row["npm"] == k * (degree + 1) + k + (k - 1)
    return selection, models


def test_loglik_matches_flexmix_linear_k1_to_4(lcga_cohort, flexmix):
    _check_against_flexmix(lcga_cohort, flexmix, "linear", 1, range(1, 5))


@pytest.mark.slow
@pytest.mark.parametrize("form,degree", [("linear", 1), ("quadratic", 2)])
def test_loglik_matches_flexmix_full_grid(lcga_cohort, flexmix, form, degree):
    selection, _ = _check_against_flexmix(lcga_cohort, flexmix, form, degree, range(1, 6))
    assert int(selection.loc[selection["bic"].idxmin(), "K"]) == 4


def test_bic_picks_four_and_k5_degenerate(lcga_cohort):
    selection, _ = fit_trajectory_grid(
        lcga_cohort, **COLUMNS, classes=range(1, 6), degree=1, n_init=20, random_state=1
    )
    assert int(selection.loc[selection["bic"].idxmin(), "K"]) == 4
    by_k = selection.set_index("K")
    # the K = 5 solution splits off a small spurious class (flexmix found one of 2 participants)
    assert by_k.loc[5, "degenerate"]
    assert "class" in by_k.loc[5, "degenerate_reason"]
    assert not by_k.loc[[1, 2, 3, 4], "degenerate"].any()
    assert by_k.loc[5, "poorly_separated"] and not by_k.loc[4, "poorly_separated"]


def test_recovers_true_classes(lcga_cohort):
    model = LCGA(4, degree=1, n_init=20, random_state=3).fit(lcga_cohort, **COLUMNS)
    truth = lcga_cohort.groupby("id")["true_class"].first().reindex(model.participants_)
    ari = adjusted_rand_score(truth.to_numpy(), model.labels_)
    assert ari >= 0.95  # observed: 0.998
    # canonical order: resilient (lowest level) first, chronic (highest) last
    first = truth[model.labels_ == 1].mode().iloc[0]
    last = truth[model.labels_ == 4].mode().iloc[0]
    assert (first, last) == ("resilient", "chronic")


def simulate_two_classes(
    separation: float, n: int = 400, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """Two parallel linear classes ``separation`` residual SDs apart (SD 1), 5 waves, 10% missing."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, size=n)
    times = np.arange(5.0)
    mean = 0.2 * times + separation * truth[:, None]
    values = mean + rng.standard_normal((n, 5))
    keep = rng.random((n, 5)) > 0.1
    rows, cols = np.nonzero(keep)
    data = pd.DataFrame({"participant_id": rows, "time": times[cols], "P": values[rows, cols]})
    return data, truth


def test_recovery_degrades_as_classes_overlap():
    # separation in residual SDs -> ARI; observed figures (seed 0): 4.0 -> 1.00, 3.0 -> 1.00,
    # 2.0 -> 0.91, 1.5 -> 0.77, 1.0 -> 0.48, 0.5 -> 0.11
    aris = []
    for separation in (4.0, 3.0, 2.0, 1.5, 1.0, 0.5):
        data, truth = simulate_two_classes(separation)
        model = LCGA(2, degree=1, variance="shared", n_init=10, random_state=0).fit(data)
        aris.append(adjusted_rand_score(truth[model.participants_.astype(int)], model.labels_))
    assert aris[0] >= 0.99
    assert all(a >= b - 0.02 for a, b in zip(aris, aris[1:], strict=False))
    assert aris[-1] < 0.3
    assert 0.8 <= aris[2] < 0.99


def test_same_seed_identical(lcga_cohort):
    a = LCGA(3, degree=2, n_init=10, random_state=11).fit(lcga_cohort, **COLUMNS)
    b = LCGA(3, degree=2, n_init=10, random_state=11).fit(lcga_cohort, **COLUMNS)
    for name in ("coef_", "sigma_", "weights_", "posterior_", "labels_"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.loglik_ == b.loglik_
    sel_a, _ = fit_trajectory_grid(
        lcga_cohort, **COLUMNS, classes=[1, 2, 3], degree=1, n_init=10, random_state=5
    )
    sel_b, _ = fit_trajectory_grid(
        lcga_cohort, **COLUMNS, classes=[1, 2, 3], degree=1, n_init=10, random_state=5
    )
    assert sel_a.to_csv(index=False) == sel_b.to_csv(index=False)


def test_different_seeds_same_canonical_order(lcga_cohort):
    a = LCGA(4, degree=1, n_init=20, random_state=1).fit(lcga_cohort, **COLUMNS)
    b = LCGA(4, degree=1, n_init=20, random_state=2).fit(lcga_cohort, **COLUMNS)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-4)
    assert np.array_equal(a.labels_, b.labels_)


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_k1_equals_ols(lcga_cohort, degree):
    model = LCGA(1, degree=degree).fit(lcga_cohort, **COLUMNS)
    t = lcga_cohort["time"].to_numpy()
    y = lcga_cohort["P"].to_numpy()
    design = np.vander(t, degree + 1, increasing=True)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    rss = float(((y - design @ coef) ** 2).sum())
    n = y.shape[0]
    sigma2 = rss / n  # ML variance
    loglik = -0.5 * n * (np.log(2 * np.pi * sigma2) + 1.0)
    np.testing.assert_allclose(model.coef_[0], coef, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(model.sigma_[0], np.sqrt(sigma2), rtol=1e-8)
    np.testing.assert_allclose(model.loglik_, loglik, rtol=1e-10)
    assert model.n_params_ == degree + 2


def test_shared_variance_parameter_count_and_equal_sigmas(lcga_cohort):
    model = LCGA(3, degree=1, variance="shared", n_init=10, random_state=0).fit(
        lcga_cohort, **COLUMNS
    )
    assert model.n_params_ == 3 * 2 + 1 + 2
    assert np.ptp(model.sigma_) == 0.0
    # the class-specific model nests the shared one
    free = LCGA(3, degree=1, variance="class", n_init=10, random_state=0).fit(
        lcga_cohort, **COLUMNS
    )
    assert free.loglik_ >= model.loglik_ - 1e-6


def test_missing_outcome_rows_are_dropped(lcga_cohort):
    extra = lcga_cohort.head(50).assign(time=99.0, P=np.nan)
    with_na = pd.concat([lcga_cohort, extra], ignore_index=True)
    a = LCGA(2, degree=1, n_init=5, random_state=0).fit(lcga_cohort, **COLUMNS)
    b = LCGA(2, degree=1, n_init=5, random_state=0).fit(with_na, **COLUMNS)
    np.testing.assert_allclose(a.loglik_, b.loglik_, rtol=1e-12)


def test_bad_inputs_raise_model_error():
    tiny = pd.DataFrame({"participant_id": [1, 1, 2, 2], "time": [0, 1, 0, 1], "P": [1.0, 2, 3, 5]})
    with pytest.raises(ModelError, match="too few"):
        LCGA(3).fit(tiny)
    flat = pd.DataFrame(
        {
            "participant_id": np.repeat(np.arange(20), 3),
            "time": np.tile([0, 1, 2], 20),
            "P": np.tile([1.0, 2.0, 4.0], 20),
        }
    )
    with pytest.raises(ModelError, match="same series"):
        LCGA(2).fit(flat)
    with pytest.raises(ModelError, match="same value"):
        LCGA(1).fit(flat.assign(P=3.0))
    one_wave = pd.DataFrame({"participant_id": np.arange(20), "time": 0.0, "P": np.arange(20.0)})
    with pytest.raises(ModelError, match="distinct value"):
        LCGA(1, degree=1).fit(one_wave)


def simulate_random_intercepts(n: int = 300, seed: int = 1, slope_sd: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = np.arange(6.0)
    intercept = 10 + rng.normal(0, 2.0, size=n)
    slope = 0.5 + rng.normal(0, slope_sd, size=n)
    values = intercept[:, None] + slope[:, None] * times + rng.normal(0, 1.5, size=(n, 6))
    keep = rng.random((n, 6)) > 0.15
    rows, cols = np.nonzero(keep)
    return pd.DataFrame({"participant_id": rows, "time": times[cols], "P": values[rows, cols]})


def test_gmm_k1_random_intercept_matches_mixedlm():
    import statsmodels.formula.api as smf

    data = simulate_random_intercepts()
    model = GMM(1, degree=1, tol=1e-12, max_iter=20000).fit(data)
    reference = smf.mixedlm("P ~ time", data, groups=data["participant_id"]).fit(reml=False)
    # statsmodels MixedLM ML log-likelihood, same model; EM converges slowly, so 1e-3
    assert model.loglik_ == pytest.approx(reference.llf, abs=1e-3)
    np.testing.assert_allclose(model.coef_[0], reference.fe_params.to_numpy(), atol=1e-3)
    np.testing.assert_allclose(model.sigma_[0] ** 2, reference.scale, rtol=1e-3)
    np.testing.assert_allclose(model.random_cov_[0, 0, 0], reference.cov_re.iloc[0, 0], rtol=1e-3)
    assert model.n_params_ == 2 + 1 + 1
    assert model.max_loglik_decrease_ <= 1e-8


def test_gmm_k1_random_slope_matches_mixedlm():
    import statsmodels.formula.api as smf

    data = simulate_random_intercepts(slope_sd=0.4, seed=2)
    model = GMM(1, degree=1, random=("intercept", "slope"), tol=1e-12, max_iter=20000).fit(data)
    reference = smf.mixedlm(
        "P ~ time", data, groups=data["participant_id"], re_formula="~time"
    ).fit(reml=False)
    assert model.loglik_ == pytest.approx(reference.llf, abs=1e-3)
    np.testing.assert_allclose(model.coef_[0], reference.fe_params.to_numpy(), atol=1e-3)
    assert model.n_params_ == 2 + 1 + 3


def test_gmm_two_classes_monotone_and_recovers():
    rng = np.random.default_rng(4)
    a = simulate_random_intercepts(n=200, seed=5)
    b = simulate_random_intercepts(n=200, seed=6)
    b = b.assign(participant_id=b["participant_id"] + 1000, P=b["P"] + 12 - 1.0 * b["time"])
    data = pd.concat([a, b], ignore_index=True).sample(
        frac=1.0, random_state=int(rng.integers(100))
    )
    model = GMM(2, degree=1, n_init=10, random_state=0).fit(data)
    truth = (model.participants_ >= 1000).astype(int)
    assert adjusted_rand_score(truth, model.labels_) >= 0.95
    assert model.max_loglik_decrease_ <= 1e-6
    # the GMM nests the LCGA (random-intercept variance 0), so its loglik is at least as large
    lcga = LCGA(2, degree=1, n_init=10, random_state=0).fit(data)
    assert model.loglik_ >= lcga.loglik_ - 1e-6
