"""Standard errors and 95% bands of the class curves (srflow.trajectories.curve_se, .information).

Known answers: one class without random effects is ordinary least squares (closed form); one
class with a random intercept is a linear mixed model (srflow's ML fit, itself checked against
lme4); the analytic scores and their differenced Hessian agree with plain numerical derivatives
of the engine's log-likelihood; on simulated cohorts with known class curves the 95% bands
cover the truth about 95% of the time and the standard errors match the Monte Carlo spread.
Boundary estimates, an empty class, a singular information and k-means give NaN with a reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from srflow.mixed import fit_lmm
from srflow.trajectories import GMM, LCGA, LongitudinalKMeans, curves_table
from srflow.trajectories import curve_se as cse
from srflow.trajectories import information as inf
from srflow.trajectories.panel import legendre_basis, sufficient_stats

Z95 = float(stats.norm.ppf(0.975))
#: the two-class truth of the simulations: (intercept, slope) per class, share of class 2
TRUE_COEF = np.array([[5.0, 0.2], [14.0, -1.5]])
TRUE_SHARE = 0.35
CHECK_TIMES = np.array([0.0, 2.0, 4.0])


def _long(values: np.ndarray, times: np.ndarray, keep: np.ndarray) -> pd.DataFrame:
    rows, cols = np.nonzero(keep)
    return pd.DataFrame({"participant_id": rows, "time": times[cols], "P": values[rows, cols]})


def two_class_cohort(rng, n=300, waves=5, intercept_sd=0.0, sigma=2.0, missing=0.15):
    """Two linear classes (TRUE_COEF), optional random intercept, waves missing at random."""
    classes = (rng.random(n) < TRUE_SHARE).astype(int)
    times = np.arange(waves, dtype=float)
    mean = TRUE_COEF[classes, :1] + TRUE_COEF[classes, 1:] * times
    values = mean + rng.normal(0, intercept_sd, (n, 1)) + rng.normal(0, sigma, (n, waves))
    keep = rng.random((n, waves)) >= missing
    keep[:, 0] = True
    return _long(values, times, keep)


# --- (a) K = 1 LCGA is OLS -----------------------------------------------------------------
@pytest.mark.parametrize("variance", ["class", "shared"])
def test_one_class_lcga_se_is_the_ols_se_of_the_fitted_mean(variance):
    rng = np.random.default_rng(11)
    times = np.arange(6.0)
    values = 10 - 1.2 * times + 0.15 * times**2 + rng.normal(0, 3, (150, 6))
    data = _long(values, times, rng.random((150, 6)) > 0.2)
    model = LCGA(1, degree=2, variance=variance).fit(data)
    curves = curves_table({1: model})
    # closed form: Var(x0' b) = sigma2_ML x0' (X'X)^-1 x0, sigma2_ML = RSS / N
    X = np.vander(data["time"].to_numpy(), 3, increasing=True)
    beta, rss, *_ = np.linalg.lstsq(X, data["P"].to_numpy(), rcond=None)
    sigma2 = rss[0] / X.shape[0]
    x0 = np.vander(curves["time"].to_numpy(), 3, increasing=True)
    ols_se = np.sqrt(sigma2 * np.einsum("tp,pq,tq->t", x0, np.linalg.inv(X.T @ X), x0))
    np.testing.assert_allclose(curves["fitted"], x0 @ beta, rtol=1e-9)
    np.testing.assert_allclose(curves["se"], ols_se, rtol=1e-6)
    # the band is fitted -+ 1.959964 se
    np.testing.assert_allclose(curves["ci_low"], curves["fitted"] - Z95 * ols_se, rtol=1e-6)
    np.testing.assert_allclose(curves["ci_high"], curves["fitted"] + Z95 * ols_se, rtol=1e-6)
    assert (curves["se_status"] == "ok").all()


# --- (b) K = 1 GMM with a random intercept is a linear mixed model -----------------------
@pytest.mark.parametrize(("missing", "rtol"), [(0.0, 1e-6), (0.25, 1e-3)])
def test_one_class_random_intercept_gmm_se_is_the_ml_mixed_model_se(missing, rtol):
    """srflow's ML mixed model (lme4's vcov: (X'V^-1X)^-1 at the ML variances).

    With complete balanced waves the observed information's beta block is exactly X'V^-1X
    (the beta-variance cross terms vanish): equal to 1e-6 (measured 7e-8). With waves missing
    the observed information keeps small cross terms the expected information omits: equal to
    1e-3 (measured 9e-5).
    """
    rng = np.random.default_rng(5)
    n, times = 120, np.arange(5.0)
    values = (
        8 + 0.8 * times - 0.1 * times**2 + rng.normal(0, 2.0, (n, 1)) + rng.normal(0, 1.5, (n, 5))
    )
    keep = rng.random((n, 5)) >= missing
    data = _long(values, times, keep)
    model = GMM(1, degree=2, random=("intercept",), tol=1e-12).fit(data)
    X = np.vander(data["time"].to_numpy(), 3, increasing=True)
    lmm = fit_lmm(data["P"], X, np.ones((X.shape[0], 1)), data["participant_id"], reml=False)
    # the same maximum: residual and random-intercept SDs
    np.testing.assert_allclose(model.sigma_[0], lmm.sigma, rtol=1e-5)
    np.testing.assert_allclose(np.sqrt(model.random_cov_[0, 0, 0]), lmm.sd_re[0], rtol=1e-5)
    se, status = cse.curve_standard_errors(model, times)
    x0 = np.vander(times, 3, increasing=True)
    lmm_se = np.sqrt(np.einsum("tp,pq,tq->t", x0, lmm.beta_cov, x0))
    assert status == "ok"
    np.testing.assert_allclose(se[0], lmm_se, rtol=rtol)


# --- the analytic scores and the Hessian against plain numerical derivatives --------------
@pytest.mark.parametrize(
    "settings",
    [
        dict(variance="class"),
        dict(variance="class", random=("intercept", "slope"), random_variance="class"),
        dict(variance="shared", random=("intercept", "slope"), random_variance="shared"),
    ],
)
def test_scores_and_information_match_numerical_derivatives_of_the_loglik(settings):
    rng = np.random.default_rng(3)
    data = two_class_cohort(rng, n=250, intercept_sd=1.5 if "random" in settings else 0.0)
    kind = GMM if "random" in settings else LCGA
    if kind is GMM and len(settings["random"]) == 2:
        data["P"] += rng.normal(0, 0.4, data["participant_id"].max() + 1)[
            data["participant_id"]
        ] * (data["time"] - 2)
    model = kind(2, degree=1, n_init=5, random_state=0, **settings).fit(data)
    layout = inf.layout_of(model)
    stats_ = sufficient_stats(model.panel_, model.degree, domain=model.time_domain_)
    engine = model._engine(stats_)
    theta = layout.to_theta(model.params_)
    loglik = lambda t: engine.e_step(layout.to_params(np.atleast_2d(t)))[0]  # noqa: E731
    # the vector round-trips, and the engine's log-likelihood at it is the fit's
    assert loglik(theta)[0] == pytest.approx(model.loglik_, rel=1e-12)
    # scores off the optimum against central differences of the log-likelihood
    off = theta + 0.02 * rng.standard_normal(theta.shape)
    h = 1e-5 * layout.scale(model.outcome_sd_)
    eye = np.diag(h)
    numeric = (loglik(off + eye) - loglik(off - eye)) / (2 * h)
    analytic = inf.participant_scores(engine, layout, layout.to_params(off[None]))[0].sum(0)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-5 * np.abs(numeric).max())
    total = inf.participant_scores(engine, layout, layout.to_params(off[None]), total=True)[0]
    np.testing.assert_allclose(total, analytic, rtol=1e-10, atol=1e-10 * np.abs(analytic).max())
    # the information against second differences of the log-likelihood (step 1e-3 scale)
    information, _ = inf.observed_information(
        engine, layout, theta, layout.scale(model.outcome_sd_)
    )
    h = np.diag(1e-3 * layout.scale(model.outcome_sd_))
    n = theta.size
    # theta + s_i h_i e_i + s_j h_j e_j for every (i, j) and signs (+ +, + -, - +, - -)
    signs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]])
    shifts = (
        signs[None, None, :, :1, None] * h[:, None, None, None, :]
        + signs[None, None, :, 1:, None] * h[None, :, None, None, :]
    )
    values = loglik(theta + shifts.reshape(-1, n)).reshape(n, n, 4)
    h = np.diag(h)
    second = (values[..., 0] - values[..., 1] - values[..., 2] + values[..., 3]) / (
        4 * np.outer(h, h)
    )
    beta = layout.slices()["beta"]
    se_numeric = np.sqrt(np.diag(np.linalg.inv(-second))[beta])
    se_analytic = np.sqrt(np.diag(np.linalg.inv(information))[beta])
    np.testing.assert_allclose(se_analytic, se_numeric, rtol=1e-4)


# --- (c) coverage on simulated cohorts with known curves ---------------------------------
def _coverage(kind, settings, replicates, seed, intercept_sd):
    rng = np.random.default_rng(seed)
    truth = TRUE_COEF[:, :1] + TRUE_COEF[:, 1:] * CHECK_TIMES  # (2, 3)
    fitted, ses = [], []
    for _ in range(replicates):  # loop over Monte Carlo replicates
        data = two_class_cohort(rng, intercept_sd=intercept_sd)
        model = kind(2, degree=1, n_init=5, random_state=0, **settings).fit(data)
        se, status = cse.curve_standard_errors(model, CHECK_TIMES)
        assert status == "ok"
        fitted.append(model.predict_curves(CHECK_TIMES))
        ses.append(se)
    fitted, ses = np.array(fitted), np.array(ses)
    covered = np.abs(fitted - truth) <= Z95 * ses
    return covered.mean(), ses.mean(axis=0) / fitted.std(axis=0, ddof=1)


def test_lcga_bands_cover_the_true_curves():
    """200 cohorts of 300 (seeded): coverage 0.90-0.99 (measured 0.947), mean SE / Monte Carlo
    SD in 0.85-1.15 (measured 0.95-1.02) at times 0, 2, 4 of both classes."""
    coverage, ratio = _coverage(LCGA, {"variance": "class"}, 200, seed=2026, intercept_sd=0.0)
    assert 0.90 <= coverage <= 0.99, coverage
    assert np.all((ratio > 0.85) & (ratio < 1.15)), ratio


def test_gmm_bands_cover_the_true_curves():
    """120 cohorts of 300 with a random intercept (SD 1.5): the same bounds (measured 0.943;
    SE / SD 0.93-1.05)."""
    coverage, ratio = _coverage(
        GMM, {"variance": "shared", "random": ("intercept",)}, 120, seed=7, intercept_sd=1.5
    )
    assert 0.90 <= coverage <= 0.99, coverage
    assert np.all((ratio > 0.85) & (ratio < 1.15)), ratio


# --- (d) no number where the theory fails --------------------------------------------------
def test_random_intercept_variance_at_zero_gives_nan_and_a_reason():
    """Within-person errors negatively correlated: the ML random-intercept variance is 0."""
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 2.0, (200, 5))
    noise -= 0.6 * noise.mean(axis=1, keepdims=True)  # negative intraclass correlation
    times = np.arange(5.0)
    data = _long(10 + 0.5 * times + noise, times, np.ones((200, 5), dtype=bool))
    model = GMM(1, degree=1, random=("intercept",)).fit(data)
    assert model.random_cov_[0, 0, 0] < 1e-4 * model.outcome_sd_**2
    curves = curves_table({1: model})
    assert curves[["se", "ci_low", "ci_high"]].isna().all().all()
    status = curves["se_status"].unique().tolist()
    assert len(status) == 1
    assert "random-intercept variance" in status[0] and "boundary" in status[0]


def test_a_nearly_empty_class_gives_nan_and_a_reason():
    """Three far outliers form their own class: 3 members for 3 coefficients + 1."""
    rng = np.random.default_rng(4)
    data = two_class_cohort(rng, n=200)
    far = np.full((3, 5), 80.0) + rng.normal(0, 1, (3, 5))
    outliers = _long(far, np.arange(5.0), np.ones((3, 5), dtype=bool))
    outliers["participant_id"] += 1000
    model = LCGA(3, degree=2, n_init=10, random_state=0).fit(pd.concat([data, outliers]))
    assert np.sort(np.bincount(model.labels_))[1] == 3
    se, status = cse.curve_standard_errors(model, np.arange(5.0))
    assert np.isnan(se).all()
    assert status.startswith("not available: class 3 is (nearly) empty")


def test_a_class_seen_at_two_times_cannot_carry_a_quadratic():
    """Class 2 is observed only at times 0 and 4: its quadratic is not identified (singular)."""
    rng = np.random.default_rng(8)
    times = np.arange(5.0)
    low = _long(5 + rng.normal(0, 1, (100, 5)), times, np.ones((100, 5), dtype=bool))
    keep = np.zeros((100, 5), dtype=bool)
    keep[:, [0, 4]] = True
    high = _long(40 + rng.normal(0, 1, (100, 5)), times, keep)
    data = pd.concat([low, high.assign(participant_id=high["participant_id"] + 100)])
    model = LCGA(2, degree=2, n_init=5, random_state=0).fit(data)
    se, status = cse.curve_standard_errors(model, times)
    assert np.isnan(se).all()
    assert status.startswith("not available: the information matrix is singular")


def test_an_estimate_off_the_maximum_gives_nan_and_a_reason():
    rng = np.random.default_rng(2)
    model = LCGA(2, degree=1, n_init=5, random_state=0).fit(two_class_cohort(rng))
    model.params_.beta[0, 0, 0] += 0.5  # half an outcome unit off the maximum
    se, status = cse.curve_standard_errors(model, CHECK_TIMES)
    assert np.isnan(se).all()
    assert status.startswith("not available: the estimate is not at a maximum")


def test_kmeans_has_no_standard_errors():
    rng = np.random.default_rng(6)
    data = two_class_cohort(rng, missing=0.0)
    model = LongitudinalKMeans(2, n_init=3, random_state=0).fit(data)
    curves = curves_table({2: model})
    assert curves[["se", "ci_low", "ci_high"]].isna().all().all()
    assert (curves["se_status"] == cse.KMEANS_STATUS).all()


def test_curve_variance_uses_the_legendre_basis_of_the_fit():
    """b(t)' Cov(beta_k) b(t) with the fit's own time mapping (a shifted time range)."""
    rng = np.random.default_rng(9)
    data = two_class_cohort(rng)
    data["time"] += 2000.0  # calendar years: the Legendre map keeps the problem conditioned
    model = LCGA(2, degree=1, n_init=5, random_state=0).fit(data)
    info = cse.curve_information(model)
    grid = np.array([2000.0, 2004.0])
    basis = legendre_basis(grid, 1, model.time_domain_)
    se, status = cse.curve_standard_errors(model, grid)
    expected = np.sqrt(np.einsum("tp,kpq,tq->kt", basis, info.cov_beta, basis))
    np.testing.assert_allclose(se, expected, rtol=1e-12)
    # the same data on time 0..4 gives the same standard errors
    shifted = LCGA(2, degree=1, n_init=5, random_state=0).fit(data.assign(time=data["time"] - 2000))
    se0, _ = cse.curve_standard_errors(shifted, grid - 2000.0)
    np.testing.assert_allclose(se, se0, rtol=1e-6)
