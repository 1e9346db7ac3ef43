"""Tests of srflow.mixed: the profiled (RE)ML engine and the model-spec layer.

References used (tolerances stated at each assertion):
- lme4 1.1-31 (R 4.2.2) fits of sleepstudy, ``Reaction ~ Days + (Days | Subject)``, REML and
  ML, as listed in the project's reference file ``sleepstudy_lme4.txt`` (6 significant digits);
  the data ``tests/data/sleepstudy.csv`` is lme4's ``sleepstudy`` data set exported as CSV.
- statsmodels 0.15 ``MixedLM`` on simulated cohorts (same model, same likelihood definition).
- Hand computations: the balanced one-way ANOVA estimator, dense multivariate-normal
  log-likelihoods, dense BLUP formulas, and simulated ground truth.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from srflow.errors import ConfigError, ModelError
from srflow.mixed import (
    MixedModelSpec,
    fit_lmm,
    fit_mixed_model,
    group_statistics,
    likelihood_ratio_test,
    profiled_deviance,
)
from srflow.mixed.engine import _evaluate
from srflow.mixed.inference import FIXED_COLUMNS

DATA = Path(__file__).parent / "data"

# lme4 1.1-31, lmer(Reaction ~ Days + (Days | Subject)), from sleepstudy_lme4.txt.
LME4 = {
    "reml": {
        "beta": [251.405, 10.4673],
        "se": [6.82460, 1.54579],
        "sd_re": [24.7407, 5.92214],
        "corr": 0.0655512,
        "sigma": 25.5918,
        "loglik": -871.814,
    },
    "ml": {
        "beta": [251.405, 10.4673],
        "se": [6.63212, 1.50223],
        "sd_re": [23.7798, 5.71680],
        "corr": 0.0813211,
        "sigma": 25.5919,
        "loglik": -875.970,
    },
}
REL = 5e-4  # "4 significant digits"; lme4's own optimum (bobyqa) is only that precise


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    data = pd.read_csv(DATA / "sleepstudy.csv")
    return data.rename(columns={"Subject": "participant_id"}).astype({"participant_id": str})


def simulate_cohort(
    n_people: int,
    n_waves: int,
    seed: int,
    slope_sd: float = 0.3,
    intercept_sd: float = 1.0,
    corr: float = 0.3,
    resid_sd: float = 1.0,
):
    """Long table with a person-specific E slope; returns the data and the true slopes."""
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_people), n_waves)
    wave = np.tile(np.arange(1, n_waves + 1), n_people)
    cov = np.array(
        [
            [intercept_sd**2, corr * intercept_sd * slope_sd],
            [corr * intercept_sd * slope_sd, slope_sd**2],
        ]
    )
    b = rng.multivariate_normal([0.0, 0.0], cov, size=n_people)
    exposure = rng.gamma(2.0, 1.0, size=pid.size) + 0.5 * rng.normal(size=n_people)[pid]
    problems = (
        5.0
        + 0.6 * exposure
        + 0.1 * wave
        + b[pid, 0]
        + b[pid, 1] * exposure
        + rng.normal(scale=resid_sd, size=pid.size)
    )
    data = pd.DataFrame(
        {"participant_id": [f"p{i:04d}" for i in pid], "wave": wave, "E": exposure, "P": problems}
    )
    return data, 0.6 + b[:, 1], cov


# ---------------------------------------------------------------------------------------
# 1. lme4 reference: sleepstudy
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_sleepstudy_matches_lme4(sleep, method):
    X = np.column_stack([np.ones(len(sleep)), sleep["Days"]])
    fit = fit_lmm(
        sleep["Reaction"],
        X,
        X,
        sleep["participant_id"],
        reml=method == "reml",
        x_names=["Intercept", "Days"],
        z_names=["Intercept", "Days"],
    )
    ref = LME4[method]
    np.testing.assert_allclose(fit.beta, ref["beta"], rtol=REL)
    np.testing.assert_allclose(fit.beta_se, ref["se"], rtol=REL)
    np.testing.assert_allclose(fit.sd_re, ref["sd_re"], rtol=REL)
    np.testing.assert_allclose(
        fit.corr_re[0, 1], ref["corr"], rtol=2e-3
    )  # 0.0656: 3 digits after 0.0
    np.testing.assert_allclose(fit.sigma, ref["sigma"], rtol=REL)
    np.testing.assert_allclose(fit.loglik, ref["loglik"], rtol=1e-5)
    assert fit.converged and not fit.singular
    assert fit.criterion == ("REML" if method == "reml" else "ML")
    assert (fit.n_obs, fit.n_groups, fit.n_params) == (180, 18, 6)
    # AIC / BIC as lme4 computes them from logLik (6 parameters, n = 180 rows).
    assert fit.aic == pytest.approx(-2 * fit.loglik + 12)
    assert fit.bic == pytest.approx(-2 * fit.loglik + 6 * np.log(180))
    np.testing.assert_allclose(fit.predict_fixed(X[:3]), X[:3] @ fit.beta)


def test_sleepstudy_ml_loglik_equals_dense_likelihood(sleep):
    """Hand check: the profiled ML log-likelihood equals the dense multivariate normal density."""
    X = np.column_stack([np.ones(len(sleep)), sleep["Days"]])
    fit = fit_lmm(sleep["Reaction"], X, X, sleep["participant_id"], reml=False)
    total = 0.0
    for _, rows in sleep.groupby("participant_id"):
        Xi = np.column_stack([np.ones(len(rows)), rows["Days"]])
        V = Xi @ fit.cov_re @ Xi.T + fit.sigma**2 * np.eye(len(rows))
        total += stats.multivariate_normal(Xi @ fit.beta, V).logpdf(rows["Reaction"])
    assert fit.loglik == pytest.approx(total, abs=1e-8)


def test_sleepstudy_random_effects_equal_dense_blup(sleep):
    """Hand check: b_i = Sigma Z_i' V_i^-1 (y_i - X_i beta), cond. var = (Z'Z/s2 + Sigma^-1)^-1."""
    result = fit_mixed_model(sleep, {"outcome": "Reaction", "fixed": ["Days"], "random": ["Days"]})
    fit = result.lmm
    rows = sleep[sleep["participant_id"] == "309"]
    Zi = np.column_stack([np.ones(len(rows)), rows["Days"]])
    V = Zi @ fit.cov_re @ Zi.T + fit.sigma**2 * np.eye(len(rows))
    blup = fit.cov_re @ Zi.T @ np.linalg.solve(V, rows["Reaction"].to_numpy() - Zi @ fit.beta)
    cond_cov = np.linalg.inv(Zi.T @ Zi / fit.sigma**2 + np.linalg.inv(fit.cov_re))
    got = result.random.set_index("participant_id").loc["309"]
    np.testing.assert_allclose(got[["Intercept", "Days"]].to_numpy(float), blup, rtol=1e-9)
    np.testing.assert_allclose(
        got[["Intercept_sd", "Days_sd"]].to_numpy(float), np.sqrt(np.diag(cond_cov)), rtol=1e-9
    )
    # lme4's ranef(fm1) for subject 309 (REML): (-40.3987, -8.6197), also 6 s.f. in print.
    np.testing.assert_allclose(blup, [-40.3987, -8.6197], rtol=REL)
    coefs = result.coefficients().set_index("participant_id").loc["309"]
    np.testing.assert_allclose(coefs["Days"], fit.beta[1] + blup[1], rtol=1e-9)


def test_analytic_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(60), 5)
    X = np.column_stack([np.ones(g.size), rng.normal(size=g.size), rng.normal(size=g.size)])
    y = X @ [1.0, 0.5, -0.2] + rng.normal(size=60)[g] + rng.normal(size=g.size)
    s = group_statistics(y, X, X, g)
    theta = np.array([0.8, 0.2, -0.1, 0.5, 0.1, 0.4])
    for reml in (True, False):
        grad = _evaluate(theta, s, reml, True).gradient
        h = 1e-6
        numeric = [
            (profiled_deviance(theta + e, s, reml) - profiled_deviance(theta - e, s, reml))
            / (2 * h)
            for e in np.eye(theta.size) * h
        ]
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------
# 2. statsmodels cross-check on a simulated cohort (300 participants x 8 waves)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reml", [True, False])
def test_matches_statsmodels_mixedlm(reml):
    import statsmodels.api as sm

    data, _, _ = simulate_cohort(300, 8, seed=11)
    X = np.column_stack([np.ones(len(data)), data["E"], data["wave"]])
    Z = X[:, :2]
    fit = fit_lmm(data["P"], X, Z, data["participant_id"], reml=reml)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.MixedLM(
            data["P"].to_numpy(), X, groups=data["participant_id"].to_numpy(), exog_re=Z
        ).fit(reml=reml, method=["lbfgs"])
    # statsmodels' llf uses the same definitions as lme4: full log-likelihood for ML, and
    # for REML  -0.5 * (log|V| + log|X'V^-1 X| + r'V^-1 r + (n - p) log(2 pi)).
    np.testing.assert_allclose(fit.beta, ref.fe_params, rtol=1e-4)
    assert fit.loglik == pytest.approx(ref.llf, abs=0.05)
    assert fit.loglik >= ref.llf - 1e-6  # ours is the maximum, never worse
    np.testing.assert_allclose(fit.cov_re, ref.cov_re, rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(fit.sigma**2, ref.scale, rtol=1e-4)


# ---------------------------------------------------------------------------------------
# 3. Recovery of person-level slopes against the oracle BLUP
# ---------------------------------------------------------------------------------------


def test_person_slopes_recovered_close_to_oracle():
    data, true_slopes, cov = simulate_cohort(400, 8, seed=21, slope_sd=0.3)
    result = fit_mixed_model(data, {"outcome": "P", "fixed": ["E", "wave"], "random": ["E"]})
    assert result.status == "ok" and result.fit["converged"]
    estimated = result.coefficients()["E"].to_numpy()
    r_ours = np.corrcoef(estimated, true_slopes)[0, 1]
    # Oracle: posterior mean of each person's slope given the TRUE beta and variance
    # components -- the best any estimator of this model can do on these data.
    beta_true = np.array([5.0, 0.6, 0.1])
    sigma2 = 1.0
    oracle = np.empty(len(true_slopes))
    for i, (_, rows) in enumerate(data.groupby("participant_id", sort=True)):
        Xi = np.column_stack([np.ones(len(rows)), rows["E"], rows["wave"]])
        Zi = Xi[:, :2]
        post_cov = np.linalg.inv(Zi.T @ Zi / sigma2 + np.linalg.inv(cov))
        oracle[i] = 0.6 + (post_cov @ Zi.T @ (rows["P"].to_numpy() - Xi @ beta_true) / sigma2)[1]
    r_oracle = np.corrcoef(oracle, true_slopes)[0, 1]
    assert r_oracle > 0.6  # sanity: the design carries real information about slopes
    assert r_ours >= r_oracle - 0.02, (r_ours, r_oracle)
    # the fitted slope SD is close to the truth (0.3); sampling error over 400 people ~ 0.02
    assert result.fit["variance_components"]["sd"]["E"] == pytest.approx(0.3, abs=0.06)


# ---------------------------------------------------------------------------------------
# 4. Scaling invariance (the SR code relies on it)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_z_scoring_outcome_and_exposure_leaves_z_scored_residuals_unchanged(method):
    data, _, _ = simulate_cohort(150, 6, seed=5)
    spec = {"outcome": "P", "fixed": ["E"], "random": ["E"], "method": method}
    raw = fit_mixed_model(data, spec)
    scaled_data = data.assign(
        P=(data["P"] - data["P"].mean()) / data["P"].std(),
        E=(data["E"] - data["E"].mean()) / data["E"].std(),
    )
    scaled = fit_mixed_model(scaled_data, spec)

    def z(values):
        return (values - values.mean()) / values.std()

    resid_raw = data["P"].to_numpy() - raw.predict_fixed(data)
    resid_scaled = scaled_data["P"].to_numpy() - scaled.predict_fixed(scaled_data)
    np.testing.assert_allclose(z(resid_scaled), z(resid_raw), atol=1e-7)
    # slope transforms as beta_E * sd(E) / sd(P); ICC is scale-free
    expected = raw.lmm.beta[1] * data["E"].std() / data["P"].std()
    assert scaled.lmm.beta[1] == pytest.approx(expected, rel=1e-7)
    assert scaled.fit["icc"] == pytest.approx(raw.fit["icc"], rel=1e-7)


# ---------------------------------------------------------------------------------------
# 5. Spec safety, categorical expansion and failures as data
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "term", ["__import__('os')", "E; rm", "exp(E)", "E*wave", "1", "E^4", "E:E", "", 3]
)
def test_code_like_or_malformed_terms_raise_config_error(term):
    with pytest.raises(ConfigError, match="reactivity"):
        MixedModelSpec.from_config("reactivity", {"outcome": "P", "fixed": [term]})


def test_config_errors_name_the_problem(sleep):
    with pytest.raises(ConfigError, match="'nope' not found"):
        fit_mixed_model(sleep, MixedModelSpec("Reaction", ["nope"], name="m1"))
    with pytest.raises(ConfigError, match="unknown key"):
        MixedModelSpec.from_config("m1", {"outcome": "P", "fixed": [], "randoms": ["E"]})
    with pytest.raises(ConfigError, match="method"):
        MixedModelSpec("P", ["E"], method="bayes")
    with pytest.raises(ConfigError, match="duplicates"):
        MixedModelSpec("P", ["E:wave", "wave:E"])
    with pytest.raises(ConfigError, match="outcome"):
        MixedModelSpec("P", ["P"])
    with pytest.raises(ConfigError, match="categorical"):
        fit_mixed_model(sleep.assign(arm="a"), MixedModelSpec("Reaction", ["arm^2"]))


def test_categorical_columns_expand_to_treatment_dummies(sleep):
    arms = {0: "control", 1: "b_arm", 2: "a_arm"}
    data = sleep.assign(arm=sleep["participant_id"].astype(int).mod(3).map(arms).astype(str))
    result = fit_mixed_model(
        data, {"outcome": "Reaction", "fixed": ["Days", "arm", "Days:arm"], "random": ["Days"]}
    )
    # reference level = first sorted level ("a_arm")
    assert result.fixed["term"].tolist() == [
        "Intercept",
        "Days",
        "arm[T.b_arm]",
        "arm[T.control]",
        "Days:arm[T.b_arm]",
        "Days:arm[T.control]",
    ]
    # the same model from hand-made dummies gives identical estimates
    hand = data.assign(
        b=(data["arm"] == "b_arm").astype(float), c=(data["arm"] == "control").astype(float)
    )
    hand_fit = fit_mixed_model(
        hand,
        {
            "outcome": "Reaction",
            "fixed": ["Days", "b", "c", "Days:b", "Days:c"],
            "random": ["Days"],
        },
    )
    np.testing.assert_allclose(result.fixed["estimate"], hand_fit.fixed["estimate"], rtol=1e-10)
    assert list(result.fixed.columns) == FIXED_COLUMNS
    assert result.fixed["reference"].tolist() == [
        "arm=a_arm",
        "",
        "arm=a_arm",
        "arm=a_arm",
        "arm=a_arm",
        "arm=a_arm",
    ]
    # default df: Satterthwaite t (values against lmerTest in test_mixed_inference.py, case sleep_arm)
    row = result.fixed.iloc[1]
    assert row["statistic"] == pytest.approx(row["estimate"] / row["se"])
    assert row["ci_low"] == pytest.approx(
        row["estimate"] - stats.t.ppf(0.975, row["df"]) * row["se"], rel=1e-9
    )
    assert row["p"] == pytest.approx(2 * stats.t.sf(abs(row["statistic"]), row["df"]), rel=1e-9)
    # df: wald keeps the z test, with df written as inf
    wald = fit_mixed_model(
        data,
        {
            "outcome": "Reaction",
            "fixed": ["Days", "arm", "Days:arm"],
            "random": ["Days"],
            "df": "wald",
        },
        profile=False,
    ).fixed.iloc[1]
    assert np.isinf(wald["df"]) and wald["se"] == pytest.approx(row["se"], rel=1e-12)
    assert wald["ci_low"] == pytest.approx(wald["estimate"] - 1.959964 * wald["se"], rel=1e-6)
    assert wald["p"] == pytest.approx(2 * stats.norm.sf(abs(wald["statistic"])))


def test_unfittable_models_fail_as_data(sleep):
    spec = {"outcome": "Reaction", "fixed": ["Days"], "random": ["Days"]}
    two = fit_mixed_model(sleep[sleep["participant_id"].isin(["308", "309"])], spec)
    assert two.status == "failed" and "too few participants" in two.reason
    three = fit_mixed_model(
        sleep[sleep["participant_id"].isin(["308", "309", "310"])],
        {**spec, "random": ["Days", "Days^2"]},
    )
    assert three.status == "failed" and "random effects" in three.reason
    const = fit_mixed_model(sleep.assign(site=1.0), {**spec, "fixed": ["Days", "site"]})
    assert const.status == "failed" and "constant predictor: site" in const.reason
    one_level = fit_mixed_model(sleep.assign(arm="x"), {**spec, "fixed": ["Days", "arm"]})
    assert one_level.status == "failed" and "single level" in one_level.reason
    collinear = fit_mixed_model(
        sleep.assign(hours=sleep["Days"] * 24 + 1), {**spec, "fixed": ["Days", "hours"]}
    )
    assert collinear.status == "failed" and "rank-deficient" in collinear.reason
    infinite = fit_mixed_model(sleep.assign(Days=sleep["Days"].replace(9, np.inf)), spec)
    assert infinite.status == "failed" and "non-finite" in infinite.reason
    for failed in (two, const, infinite):
        assert list(failed.fixed.columns) == FIXED_COLUMNS
        assert failed.fit["status"] == "failed" and failed.fit["reason"] == failed.reason
        json.dumps(failed.fit)
    # the low-level API raises instead
    with pytest.raises(ModelError, match="more groups than random effects"):
        fit_lmm(
            [1.0, 2.0, 3.0, 4.0], np.ones((4, 1)), np.ones((4, 1)), ["a", "a", "b", "b"][:2] * 2
        )
    with pytest.raises(ModelError, match="rank deficient"):
        fit_lmm(np.arange(6.0), np.ones((6, 2)), np.ones((6, 1)), [1, 1, 2, 2, 3, 3])


def test_missing_rows_dropped_and_counted(sleep):
    data = sleep.astype({"Reaction": float})
    data.loc[[0, 5, 17], "Reaction"] = np.nan
    result = fit_mixed_model(data, {"outcome": "Reaction", "fixed": ["Days"], "random": ["Days"]})
    assert result.fit["n_obs"] == 177 and result.fit["n_dropped_missing"] == 3
    assert any("3 row(s)" in w for w in result.fit["warnings"])
    json.dumps(result.fit)  # JSON-ready


# ---------------------------------------------------------------------------------------
# 6. Likelihood-ratio tests
# ---------------------------------------------------------------------------------------


def test_likelihood_ratio_test_random_slope(sleep):
    import statsmodels.api as sm

    small = MixedModelSpec("Reaction", ["Days"], [], name="intercept_only")
    large = MixedModelSpec("Reaction", ["Days"], ["Days"], name="slope")
    lrt = likelihood_ratio_test(sleep, small, large)
    assert lrt["refit_with_ml"] and lrt["df"] == 2
    ml_small = fit_mixed_model(sleep, small.with_method("ml"))
    ml_large = fit_mixed_model(sleep, large.with_method("ml"))
    assert lrt["loglik_small"] == pytest.approx(ml_small.fit["loglik"], abs=1e-9)
    assert lrt["loglik_large"] == pytest.approx(ml_large.fit["loglik"], abs=1e-9)
    assert lrt["chi2"] == pytest.approx(
        2 * (ml_large.fit["loglik"] - ml_small.fit["loglik"]), abs=1e-9
    )
    assert lrt["p"] == pytest.approx(stats.chi2.sf(lrt["chi2"], 2))
    # lme4 ML logLik of the large model (reference file): -875.970
    assert lrt["loglik_large"] == pytest.approx(-875.970, abs=5e-3)
    # statsmodels ML log-likelihoods of both models, same data
    X = np.column_stack([np.ones(len(sleep)), sleep["Days"]])
    groups = sleep["participant_id"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm_small = sm.MixedLM(sleep["Reaction"].to_numpy(), X, groups=groups).fit(reml=False)
        sm_large = sm.MixedLM(sleep["Reaction"].to_numpy(), X, groups=groups, exog_re=X).fit(
            reml=False
        )
    assert lrt["loglik_small"] == pytest.approx(sm_small.llf, abs=0.01)
    assert lrt["loglik_large"] == pytest.approx(sm_large.llf, abs=0.01)
    assert lrt["chi2"] > 40 and lrt["p_boundary"] < lrt["p"]  # mixture of chi2(1), chi2(2)
    with pytest.raises(ConfigError, match="subset"):
        likelihood_ratio_test(sleep, large, small)


# ---------------------------------------------------------------------------------------
# Hand checks, diagnostics, determinism
# ---------------------------------------------------------------------------------------


def test_random_intercept_on_balanced_data_equals_anova_estimator():
    rng = np.random.default_rng(8)
    n_groups, n_per = 40, 6
    g = np.repeat(np.arange(n_groups), n_per)
    y = 3.0 + rng.normal(scale=0.8, size=n_groups)[g] + rng.normal(size=g.size)
    means = np.bincount(g, y) / n_per
    msb = n_per * ((means - y.mean()) ** 2).sum() / (n_groups - 1)
    msw = ((y - means[g]) ** 2).sum() / (g.size - n_groups)
    tau2 = (msb - msw) / n_per
    assert tau2 > 0
    fit = fit_lmm(y, np.ones((g.size, 1)), np.ones((g.size, 1)), g, reml=True)
    assert fit.sigma**2 == pytest.approx(msw, rel=1e-7)
    assert fit.cov_re[0, 0] == pytest.approx(tau2, rel=1e-6)
    assert fit.beta[0] == pytest.approx(y.mean(), rel=1e-12)
    assert fit.beta_se[0] == pytest.approx(
        np.sqrt(msb / g.size), rel=1e-6
    )  # balanced: SE^2 = MSB / N
    data = pd.DataFrame({"participant_id": g, "y": y})
    result = fit_mixed_model(data, {"outcome": "y", "fixed": []})
    assert result.fit["icc"] == pytest.approx(tau2 / (tau2 + msw), rel=1e-6)


def test_singular_fit_flagged_and_fixed_effects_agree_with_ols():
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(100), 5)
    between = rng.normal(size=100)[g]  # a between-person predictor
    data = pd.DataFrame({"participant_id": g, "W": between, "E": rng.normal(size=g.size)})
    data["P"] = (
        1.0 + 0.8 * data["W"] + 0.5 * data["E"] + rng.normal(size=g.size)
    )  # no random effects
    result = fit_mixed_model(data, {"outcome": "P", "fixed": ["W", "E"], "random": ["E"]})
    assert result.status == "ok" and result.fit["singular"] is True
    assert any("Singular fit" in w for w in result.fit["warnings"])
    X = np.column_stack([np.ones(len(data)), data["W"], data["E"]])
    ols = np.linalg.lstsq(X, data["P"], rcond=None)[0]
    # between-person effect W is estimated (not returned as 0) and close to OLS
    assert result.lmm.beta[1] == pytest.approx(ols[1], abs=0.2 * result.lmm.beta_se[1])
    assert not any("OLS" in w for w in result.fit["warnings"])


def test_results_do_not_depend_on_row_order_and_are_repeatable():
    data, _, _ = simulate_cohort(80, 5, seed=2)
    spec = {"outcome": "P", "fixed": ["E"], "random": ["E"]}
    first = fit_mixed_model(data, spec)
    again = fit_mixed_model(data, spec)
    assert first.fixed.equals(again.fixed) and first.random.equals(again.random)
    assert json.dumps(first.fit) == json.dumps(again.fit)
    shuffled = fit_mixed_model(data.sample(frac=1.0, random_state=0), spec)
    assert shuffled.random["participant_id"].tolist() == first.random["participant_id"].tolist()
    np.testing.assert_allclose(shuffled.fixed["estimate"], first.fixed["estimate"], rtol=1e-6)
    np.testing.assert_allclose(shuffled.random["E"], first.random["E"], rtol=1e-5, atol=1e-7)


def test_three_random_effects_match_statsmodels():
    import statsmodels.api as sm

    rng = np.random.default_rng(13)
    g = np.repeat(np.arange(120), 7)
    t = np.tile(np.arange(7.0), 120)
    e = rng.normal(size=g.size)
    X = np.column_stack([np.ones(g.size), e, t])
    b = rng.normal(size=(120, 3)) * [1.0, 0.4, 0.2]
    y = X @ [2.0, 0.5, 0.1] + (X * b[g]).sum(axis=1) + rng.normal(size=g.size)
    fit = fit_lmm(y, X, X, g, reml=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.MixedLM(y, X, groups=g, exog_re=X).fit(reml=True, method=["lbfgs"])
    assert fit.converged
    np.testing.assert_allclose(fit.beta, ref.fe_params, rtol=1e-4)
    assert fit.loglik == pytest.approx(ref.llf, abs=0.05) and fit.loglik >= ref.llf - 1e-6


def test_fallback_optimiser_used_and_recorded(sleep, monkeypatch):
    """If L-BFGS-B fails, the next optimiser (COBYQA) is used, recorded, and reaches lme4's optimum."""
    import srflow.mixed.optimise as engine

    real_minimize = engine.optimize.minimize

    def failing_lbfgsb(*args, **kwargs):
        if kwargs.get("method") == "L-BFGS-B":
            raise ValueError("simulated failure")
        return real_minimize(*args, **kwargs)

    monkeypatch.setattr(engine.optimize, "minimize", failing_lbfgsb)
    X = np.column_stack([np.ones(len(sleep)), sleep["Days"]])
    fit = fit_lmm(sleep["Reaction"], X, X, sleep["participant_id"], reml=True)
    assert fit.optimizer == "COBYQA" and fit.converged
    assert any("L-BFGS-B raised ValueError" in w for w in fit.warnings)
    np.testing.assert_allclose(fit.sd_re, LME4["reml"]["sd_re"], rtol=REL)


def test_no_convergence_is_reported_not_hidden(sleep, monkeypatch):
    import srflow.mixed.optimise as engine
    from srflow.errors import ConvergenceWarning

    monkeypatch.setattr(engine, "SCALED_GRADIENT_TOLERANCE", -1.0)  # nothing can pass
    X = np.column_stack([np.ones(len(sleep)), sleep["Days"]])
    with pytest.warns(ConvergenceWarning, match="convergence criterion"):
        fit = fit_lmm(sleep["Reaction"], X, X, sleep["participant_id"])
    assert not fit.converged and fit.optimizer == "none"
    for name in ("L-BFGS-B", "COBYQA", "Nelder-Mead", "Powell"):
        assert any(f": {name} did not converge" in w for w in fit.warnings), name
    assert not fit.certified and "convergence check" in fit.suspect_reason
    # the best point found is still returned (lme4's optimum)
    np.testing.assert_allclose(fit.loglik, LME4["reml"]["loglik"], rtol=1e-5)
