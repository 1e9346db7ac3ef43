"""Growth mixture models: acceleration, nesting, certification, boundary variances, recovery.

Known answers:
* SQUAREM and plain EM are two routes to the same maximum: log-likelihoods within 0.01, SQUAREM
  never lower (1e-3).
* A model nests the one with a variance block shared, and K nests K - 1 (a class of weight 0),
  so a fit's maximised log-likelihood is at least the nested one's (tolerance 1e-6).
* K = 1 GMM = a linear mixed model: checked against statsmodels MixedLM in test_trajectories_lcga.
* Simulated truths (tests/trajectory_cohorts.py, seeds stated): BIC picks the true K = 4 and
  the adjusted Rand index is within 0.05 of an oracle classifier fitted on the true classes.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from srflow.trajectories import GMM, LCGA, fit_trajectory_grid
from srflow.trajectories.selection import certify_fit
from trajectory_cohorts import growth_mixture_cohort, oracle_posterior

DATA = Path(__file__).parent / "data"
COLUMNS = {"participant": "id", "time": "time", "outcome": "P"}
TOL = 1e-6


@pytest.fixture(scope="module")
def gmm_cohort() -> pd.DataFrame:
    """600 participants, 4 classes, random intercept SD 2 (tests/trajectory_cohorts.py, seed 2026)."""
    return pd.read_csv(DATA / "gmm_cohort.csv")


def test_cohort_file_is_the_simulator_output(gmm_cohort):
    pd.testing.assert_frame_equal(gmm_cohort, growth_mixture_cohort(), check_dtype=False)


def test_squarem_and_plain_em_reach_the_same_maximum(gmm_cohort):
    kwargs = dict(
        degree=2,
        variance="class",
        random_variance="class",
        n_init=4,
        random_state=4,
        tol=1e-12,
        max_iter=20000,
    )
    fast = GMM(3, **kwargs).fit(gmm_cohort, **COLUMNS)
    slow = GMM(3, accelerate=False, **kwargs).fit(gmm_cohort, **COLUMNS)
    assert fast.loglik_ == pytest.approx(slow.loglik_, abs=1e-5)
    assert fast.converged_ and fast.max_loglik_decrease_ <= 1e-9


@pytest.mark.parametrize("k", [2, 3, 4])
def test_class_specific_variances_are_never_below_the_shared_fit(gmm_cohort, k):
    fits = {
        (v, r): GMM(k, variance=v, random_variance=r, n_init=8, random_state=k).fit(
            gmm_cohort, **COLUMNS
        )
        for v in ("class", "shared")
        for r in ("class", "shared")
    }
    shared = fits[("shared", "shared")].loglik_
    for (v, r), fit in fits.items():
        assert fit.loglik_ >= shared - TOL, (v, r)
        assert fit.loglik_ >= fit.nested_logliks_["lcga"] - TOL
        assert not fit.below_nested_
    assert fits[("class", "class")].loglik_ >= fits[("class", "shared")].loglik_ - TOL
    assert fits[("class", "class")].loglik_ >= fits[("shared", "class")].loglik_ - TOL


def test_grid_log_likelihood_never_falls_with_k(gmm_cohort):
    selection, _ = fit_trajectory_grid(
        gmm_cohort,
        **COLUMNS,
        classes=range(1, 6),
        method="gmm",
        variance="class",
        random_variance="class",
        n_init=5,
        random_state=8,
    )
    loglik = selection["loglik"].to_numpy()
    assert np.all(np.diff(loglik) >= -TOL)
    assert (selection["certification"] == "").all()


def test_certification_refits_from_the_k_minus_1_optimum(gmm_cohort):
    nested = LCGA(2, variance="shared", n_init=5, random_state=0).fit(gmm_cohort, **COLUMNS)
    # one start stopped after 2 EM steps: far below the K = 2 optimum
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        poor = LCGA(3, variance="shared", n_init=1, max_iter=2, random_state=0).fit(
            gmm_cohort, **COLUMNS
        )
    assert poor.loglik_ < nested.loglik_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the refit keeps max_iter = 2 and warns about it
        certified, note = certify_fit(poor, nested, poor.panel_)
    # the refit (still 2 EM steps, but from split K = 2 classes) is kept when better; a fit
    # that stays below is suspect and says why
    assert certified.loglik_ >= poor.loglik_
    assert (note == "") == (certified.loglik_ >= nested.loglik_ - TOL)
    good = LCGA(3, variance="shared", n_init=5, random_state=0)
    good.fit(gmm_cohort, **COLUMNS, init_from=nested)
    # two splits (K - 1 = 2 classes) and the largest class doubled
    assert good.loglik_ >= nested.loglik_ - TOL and good.n_seeded_starts_ == 3


def test_zero_random_variance_does_not_stall(lcga_cohort):
    """The LCGA reference cohort has no within-class random intercept: D's optimum is ~0, where
    plain EM crawls (643 iterations here); SQUAREM converges in a fraction of them, higher."""
    data = lcga_cohort[lcga_cohort["id"] < 500]
    kwargs = dict(degree=2, variance="shared", n_init=10, random_state=1, max_iter=20000)
    lcga = LCGA(4, degree=2, variance="shared", n_init=10, random_state=1).fit(data, **COLUMNS)
    gmm = GMM(4, **kwargs).fit(data, **COLUMNS)
    plain = GMM(4, accelerate=False, **kwargs).fit(data, **COLUMNS)
    assert gmm.converged_ and gmm.n_iter_ < plain.n_iter_ / 5
    assert gmm.loglik_ >= plain.loglik_ - 1e-6
    assert gmm.loglik_ >= lcga.loglik_ - TOL
    assert np.sqrt(gmm.random_cov_[0, 0, 0]) < 0.25 * gmm.sigma_[0]


def test_predict_proba_of_the_fitted_data_is_the_posterior(gmm_cohort):
    model = GMM(3, n_init=5, random_state=2).fit(gmm_cohort, **COLUMNS)
    np.testing.assert_allclose(model.predict_proba(gmm_cohort), model.posterior_, atol=1e-10)
    new = gmm_cohort[gmm_cohort["id"] < 50]
    np.testing.assert_allclose(model.predict_proba(new), model.posterior_[:50], atol=1e-10)
    assert np.array_equal(model.predict(new), model.labels_[:50])


def _ari(model, truth: pd.Series) -> float:
    return adjusted_rand_score(truth.reindex(model.participants_).to_numpy(), model.labels_)


def test_bundled_cohort_default_spec_recovers_the_truth():
    """config/config.yaml's spec (GMM, random intercept, shared variances, degree 2, K 1..5,
    20 starts) on the bundled cohort's P series (tests/data/bundled_trajectory_series.csv, the
    workflow's series.parquet with truth.csv's class): BIC picks K = 4 and the ARI is within
    0.05 of the oracle (tests/data/bundled_trajectory_oracle.json), seed 5."""
    series = pd.read_csv(DATA / "bundled_trajectory_series.csv", dtype={"participant_id": "str"})
    truth = series.groupby("participant_id")["true_class"].first()
    selection, models = fit_trajectory_grid(
        series,
        time="wave",
        outcome="P",
        classes=range(1, 6),
        method="gmm",
        degree=2,
        variance="shared",
        random_variance="shared",
        n_init=20,
        random_state=5,
    )
    assert int(selection.loc[selection["bic"].idxmin(), "K"]) == 4
    stored = json.loads((DATA / "bundled_trajectory_oracle.json").read_text())
    posterior, codes = oracle_posterior(series, truth, participant="participant_id", time="wave")
    oracle = adjusted_rand_score(codes, posterior.argmax(axis=1))
    assert oracle == pytest.approx(stored["oracle_ari"], abs=1e-6)
    assert _ari(models[4], truth) >= oracle - 0.05


@pytest.mark.slow
def test_random_slopes_gmm_picks_true_k_where_lcga_over_extracts():
    """800 participants, 6 waves, random intercept SD 2 and slope SD 0.6 in 4 classes (seed 11)."""
    data = growth_mixture_cohort(n=800, intercept_sd=2.0, slope_sd=0.6, seed=11)
    truth = data.groupby("id")["true_class"].first()
    lcga, _ = fit_trajectory_grid(
        data, **COLUMNS, classes=range(1, 6), variance="shared", n_init=10, random_state=3
    )
    gmm, models = fit_trajectory_grid(
        data,
        **COLUMNS,
        classes=range(1, 6),
        method="gmm",
        variance="shared",
        random=("intercept", "slope"),
        n_init=10,
        random_state=3,
    )
    assert int(lcga.loc[lcga["bic"].idxmin(), "K"]) > 4
    assert int(gmm.loc[gmm["bic"].idxmin(), "K"]) == 4
    posterior, codes = oracle_posterior(data, truth, n_random=2)
    oracle = adjusted_rand_score(codes, posterior.argmax(axis=1))
    assert _ari(models[4], truth) >= oracle - 0.05
