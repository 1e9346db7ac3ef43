"""Mixed models with participants nested in sites (``mixed_models.<m>.nested_in``).

Reference: ``tests/reference/mixed_nested.R`` (outputs in tests/data/mixed_nested/): four
simulated cohorts (10-40 sites, 150-600 participants, 3-7 unbalanced waves, uncentred E
0-100 with a random E slope, a 3-level arm; nest3 has no site variance, a singular fit)
fitted by lme4 as ``P ~ E + wave + arm + (1 | site) + (1 + E | participant_id)`` with REML
and ML, the best log-likelihood over four optimisers.

Tolerances (issue 11): log-likelihood >= lme4's best - 1e-3; fixed effects within 1e-4 SE;
SEs within 0.01%; variance components within 0.1% (1e-4 absolute for a zero site SD);
Satterthwaite df within 1%; p within 1e-4 absolute plus 1% relative; Type III F within
0.1%; R2 within 1e-3; profile interval of the site SD within 0.2% (lme4 interpolates a
spline through its profile, srflow finds the root).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srflow.errors import ConfigError, ConvergenceWarning
from srflow.mixed import MixedModelSpec, fit_mixed_model
from srflow.mixed.deviance import theta_to_lambda
from srflow.mixed.nested import nested_deviance, nested_statistics
from srflow.mixed.nested_fit import fit_nested_lmm

REF = Path(__file__).parent / "data" / "mixed_nested"
FIT = pd.read_csv(REF / "fit.csv").set_index("case")
FIXED = pd.read_csv(REF / "fixed.csv")
ANOVA = pd.read_csv(REF / "anova.csv")
R2 = pd.read_csv(REF / "r2.csv").set_index("case")
PROFILE = pd.read_csv(REF / "profile.csv").set_index("case")
CASES = list(FIT.index)
SPEC = {"outcome": "P", "fixed": ["E", "wave", "arm"], "random": ["E"], "nested_in": "site"}


@cache
def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"{name}.csv", dtype={"participant_id": str, "site": str})


@cache
def _fit(case: str, profile: bool = False):
    row = FIT.loc[case]
    spec = MixedModelSpec.from_config(case, {**SPEC, "method": row["method"]})
    return fit_mixed_model(_data(row["data"]), spec, profile=profile)


# ----------------------------------------------------------------------------------------
# The deviance against a dense computation
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("reml", [True, False])
def test_deviance_matches_the_dense_marginal_likelihood(reml):
    """-2 log L from V = sigma^2 (Z Lambda Lambda' Z' + t^2 S S' + I) built densely, sigma profiled."""
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(18), rng.integers(2, 6, 18))
    site = g % 5
    n = g.size
    e = rng.uniform(0, 100, n)
    X = np.column_stack([np.ones(n), e, rng.normal(size=n)])
    Z = X[:, :2]
    y = rng.normal(size=n) + 0.02 * e + rng.normal(0, 1, 5)[site]
    theta = np.array([0.8, -0.004, 0.02, 0.6])
    lam = theta_to_lambda(theta[:3], 2)
    group_design = np.zeros((n, 18 * 2))
    for j in range(2):
        group_design[np.arange(n), 2 * g + j] = Z[:, j]
    block = np.kron(np.eye(18), lam @ lam.T)
    site_design = np.eye(5)[site]
    H = (
        np.eye(n)
        + group_design @ block @ group_design.T
        + theta[3] ** 2 * site_design @ site_design.T
    )
    Hi = np.linalg.inv(H)
    beta = np.linalg.solve(X.T @ Hi @ X, X.T @ Hi @ y)
    r = y - X @ beta
    pwrss = r @ Hi @ r
    p = X.shape[1]
    dof = n - p if reml else n
    dense = np.linalg.slogdet(H)[1] + dof * (1 + np.log(2 * np.pi * pwrss / dof))
    if reml:
        dense += np.linalg.slogdet(X.T @ Hi @ X)[1]
    ns = nested_statistics(y, X, Z, g, site)
    assert nested_deviance(theta, ns, reml) == pytest.approx(dense, rel=1e-11)


def test_conditional_modes_match_the_dense_computation():
    """b = D Z'V^{-1}(y - X beta), a = tau^2 S'V^{-1}(y - X beta) and their conditional SDs
    (diagonal of sigma^2 (G - G W'V^{-1} W G), W = [Z S], G the joint covariance / sigma^2)."""
    rng = np.random.default_rng(8)
    n_groups, n_sites = 30, 6
    g = np.repeat(np.arange(n_groups), rng.integers(2, 6, n_groups))
    site = g % n_sites
    n = g.size
    e = rng.uniform(0, 100, n)
    X = np.column_stack([np.ones(n), e])
    y = 1 + 0.03 * e + rng.normal(0, 1, n_sites)[site] + rng.normal(0, 1, n_groups)[g]
    y = y + rng.normal(0, 0.02, n_groups)[g] * e + rng.normal(size=n)
    fit = fit_nested_lmm(y, X, X, g, site, reml=True)
    lam = theta_to_lambda(fit.theta, 2)
    W = np.zeros((n, 2 * n_groups + n_sites))
    for j in range(2):
        W[np.arange(n), 2 * g + j] = X[:, j]
    W[np.arange(n), 2 * n_groups + site] = 1.0
    G = np.zeros((W.shape[1],) * 2)
    G[: 2 * n_groups, : 2 * n_groups] = np.kron(np.eye(n_groups), lam @ lam.T)
    G[2 * n_groups :, 2 * n_groups :] = fit.upper_theta**2 * np.eye(n_sites)
    Hi = np.linalg.inv(np.eye(n) + W @ G @ W.T)
    modes = G @ W.T @ Hi @ (y - X @ fit.beta)
    sds = np.sqrt(fit.sigma**2 * np.diag(G - G @ W.T @ Hi @ W @ G))
    np.testing.assert_allclose(fit.ranef, modes[: 2 * n_groups].reshape(n_groups, 2), rtol=1e-8)
    np.testing.assert_allclose(fit.upper_ranef, modes[2 * n_groups :], rtol=1e-8)
    np.testing.assert_allclose(fit.ranef_sd, sds[: 2 * n_groups].reshape(n_groups, 2), rtol=1e-8)
    np.testing.assert_allclose(fit.upper_ranef_sd, sds[2 * n_groups :], rtol=1e-8)


# ----------------------------------------------------------------------------------------
# Against lme4 / lmerTest / performance
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_loglik_and_variance_components_match_lme4(case):
    result, ref = _fit(case), FIT.loc[case]
    fit = result.fit
    assert result.status == "ok", result.reason
    assert fit["loglik"] >= ref["loglik"] - 1e-3
    assert fit["loglik"] == pytest.approx(ref["loglik"], abs=1e-3)
    vc = fit["variance_components"]
    site_sd = vc["nested_in"]["sd"]["Intercept"]
    assert vc["nested_in"]["group"] == "site" and vc["nested_in"]["n_groups"] == ref["n_sites"]
    assert site_sd == pytest.approx(ref["sd_site"], rel=1e-3, abs=1e-4)
    assert vc["sd"]["Intercept"] == pytest.approx(ref["sd_intercept"], rel=1e-3)
    assert vc["sd"]["E"] == pytest.approx(ref["sd_E"], rel=1e-3)
    assert vc["corr"]["Intercept:E"] == pytest.approx(ref["corr"], abs=1e-3)
    assert vc["residual_sd"] == pytest.approx(ref["sigma"], rel=1e-4)
    assert fit["singular"] == bool(ref["singular"])
    assert fit["nested_in"] == "site" and fit["n_groups"] == ref["n_participants"]
    assert fit["n_params"] == 5 + 3 + 1 + 1  # beta, participant theta, site, sigma


@pytest.mark.parametrize("case", CASES)
def test_fixed_effects_and_satterthwaite_match_lmertest(case):
    fixed = _fit(case).fixed
    ref = FIXED[FIXED["case"] == case]
    assert list(fixed["term"]) == ["Intercept", "E", "wave", "arm[T.b_short]", "arm[T.c_long]"]
    se = ref["se"].to_numpy()
    assert (np.abs(fixed["estimate"].to_numpy() - ref["estimate"].to_numpy()) <= 1e-4 * se).all()
    np.testing.assert_allclose(fixed["se"], se, rtol=1e-4)
    np.testing.assert_allclose(fixed["df"], ref["df"], rtol=0.01)
    p_ref = ref["p"].to_numpy()
    assert (np.abs(fixed["p"].to_numpy() - p_ref) <= 1e-4 + 0.01 * p_ref).all()


@pytest.mark.parametrize("case", CASES)
def test_type3_anova_matches_lmertest(case):
    anova = _fit(case).anova
    ref = ANOVA[ANOVA["case"] == case]
    assert list(anova["term"]) == list(ref["term"]) == ["E", "wave", "arm"]
    np.testing.assert_array_equal(anova["num_df"], ref["num_df"])
    np.testing.assert_allclose(anova["den_df"], ref["den_df"], rtol=0.01)
    np.testing.assert_allclose(anova["F"], ref["F"], rtol=1e-3)
    p_ref = ref["p"].to_numpy()
    assert (np.abs(anova["p"].to_numpy() - p_ref) <= 1e-4 + 0.01 * p_ref).all()


# performance::r2_nakagawa gives up on the singular ML fit of nest3 (no site variance; it
# warns and drops every random effect), so that case has no reference.
@pytest.mark.parametrize("case", [c for c in CASES if c != "nest3_ml"])
def test_r2_matches_performance(case):
    fit, ref = _fit(case).fit, R2.loc[case]
    assert fit["r2_marginal"] == pytest.approx(ref["r2_marginal"], abs=1e-3)
    assert fit["r2_conditional"] == pytest.approx(ref["r2_conditional"], abs=1e-3)


@pytest.mark.parametrize("name", ["nest1", "nest2"])
def test_profile_interval_of_the_site_sd_matches_lme4(name):
    result = _fit(f"{name}_reml", profile=True)  # REML fit: profiled on the ML refit, as lme4
    vc = result.fit["variance_components"]
    low, high = vc["ci"]["nested_in"]["sd"]["Intercept"]
    ref = PROFILE.loc[f"{name}_ml"]
    assert low == pytest.approx(ref["low"], rel=2e-3, abs=1e-6)
    assert high == pytest.approx(ref["high"], rel=2e-3)
    assert set(vc["ci"]) == {"sd", "corr", "residual_sd", "nested_in"}
    assert vc["ci"]["sd"]["E"][0] < vc["sd"]["E"] < vc["ci"]["sd"]["E"][1]


# ----------------------------------------------------------------------------------------
# Certification, recovery, ICC
# ----------------------------------------------------------------------------------------


def test_certificates_include_the_model_without_the_site_intercept():
    fit = _fit("nest1_ml").fit
    checks = {c["check"]: c for c in fit["certificates"]}
    bound = checks["lower bound: model without the site intercept"]
    assert bound["passed"] and bound["loglik"] < fit["loglik"]
    assert checks["gradient and Hessian at the optimum"]["passed"]
    assert {"start: identity", "start: one-level optimum", "start: moments"} <= set(checks)


def test_an_optimiser_that_stops_short_makes_the_fit_suspect(monkeypatch):
    """Every start returned where it began (no optimisation): not certified, with the reason."""
    import srflow.mixed.nested_fit as nested_fit
    from srflow.mixed.optimise import Candidate

    def stalled(problem, start, x0, optimisers=()):
        x0 = np.asarray(x0, dtype=float)
        return Candidate(start, x0, problem.deviance(x0), False, 1.0, 1.0, 0.1, "none", [])

    monkeypatch.setattr(nested_fit, "minimise_from", stalled)
    row = FIT.loc["nest1_ml"]
    spec = MixedModelSpec.from_config("m", {**SPEC, "method": "ml"})
    with pytest.warns(ConvergenceWarning):
        result = fit_mixed_model(_data(row["data"]), spec, profile=False)
    assert result.status == "suspect" and result.fit["singular"] is None
    assert result.reason.startswith("the optimum could not be certified: no start reached a point")
    assert result.fit["loglik"] < row["loglik"] - 1e-3  # it really stopped short


def test_site_sd_recovered_on_a_large_cohort():
    """Truth: site SD 1.0, participant SD 1.5, residual SD 1.0; 80 sites x 15 participants x 4.

    Two checks. Against the SD of the site effects actually drawn (1.23 here): only the
    participants' and residuals' noise in the site means moves the estimate (site-mean noise
    variance 1.5^2 / 15 + 1 / 60 = 0.17, SE of the SD given the draws ~0.02), so 0.1.
    Against the truth: the SE of the site SD is ~sqrt(2 / 80) (1 + 0.17) / 2 = 0.09; 4 SE.
    lme4 on these data gives 1.2917 (site), 1.4660 (participant), 1.0177 (residual).
    """
    rng = np.random.default_rng(20261202)
    n_sites, per_site, waves = 80, 15, 4
    person = np.repeat(np.arange(n_sites * per_site), waves)
    site = person // per_site
    e = rng.uniform(0, 100, person.size)
    site_effect = rng.normal(0, 1.0, n_sites)
    person_effect = rng.normal(0, 1.5, n_sites * per_site)
    y = 5.0 + 0.05 * e + site_effect[site] + person_effect[person] + rng.normal(0, 1, e.size)
    X = np.column_stack([np.ones_like(e), e])
    fit = fit_nested_lmm(y, X, X[:, :1], person, site, reml=True)
    assert fit.certified and not fit.singular
    assert abs(fit.upper_sd - site_effect.std(ddof=1)) < 0.1
    assert abs(fit.upper_sd - 1.0) < 4 * 0.09
    assert abs(fit.sd_re[0] - 1.5) < 0.15 and abs(fit.sigma - 1.0) < 0.05
    assert (fit.upper_sd, fit.sd_re[0], fit.sigma) == pytest.approx(
        (1.2917, 1.4660, 1.0177), abs=1e-4
    )
    # site conditional modes shrink towards 0 and track the drawn effects
    assert fit.upper_ranef.shape == (n_sites,) and (fit.upper_ranef_sd < fit.upper_sd).all()
    # expected correlation sqrt(1.23^2 / (1.23^2 + 0.17)) = 0.95
    assert np.corrcoef(fit.upper_ranef, site_effect)[0, 1] > 0.9


def test_icc_counts_the_site_variance():
    """The intercept-only nested model: ICC = (tau_participant^2 + tau_site^2) / total."""
    data = _data("nest4")
    result = fit_mixed_model(
        data, {"outcome": "P", "fixed": [], "nested_in": "site"}, profile=False
    )
    vc = result.fit["variance_components"]
    between = vc["sd"]["Intercept"] ** 2 + vc["nested_in"]["sd"]["Intercept"] ** 2
    assert result.fit["icc"] == pytest.approx(
        between / (between + vc["residual_sd"] ** 2), rel=1e-12
    )


def test_model_without_nested_in_has_no_nested_keys():
    result = fit_mixed_model(_data("nest1"), {"outcome": "P", "fixed": ["E"]}, profile=False)
    assert "nested_in" not in result.fit and "nested_in" not in result.fit["variance_components"]


# ----------------------------------------------------------------------------------------
# Bad input: a clear message naming the model and the key; the model fails alone
# ----------------------------------------------------------------------------------------


def _failed_reason(data: pd.DataFrame, **extra) -> str:
    spec = MixedModelSpec.from_config("by_site", {**SPEC, **extra})
    result = fit_mixed_model(data, spec, profile=False)
    assert result.status == "failed" and result.fit["status"] == "failed"
    assert result.fit["nested_in"] == spec.nested_in and result.anova.empty
    return result.reason


def test_nested_in_an_unknown_column_fails_the_model():
    reason = _failed_reason(_data("nest1"), nested_in="centre")
    assert reason == "mixed_models.by_site.nested_in: column 'centre' is not in the data."


def test_nested_in_a_numeric_column_fails_the_model():
    data = _data("nest1").assign(site_code=lambda d: d["site"].str[1:].astype(int))
    reason = _failed_reason(data, nested_in="site_code")
    assert reason.startswith(
        "mixed_models.by_site.nested_in: column 'site_code' is numeric; nested_in names a "
        "categorical column"
    )


def test_participant_in_two_sites_fails_the_model_naming_participant_and_sites():
    data = _data("nest1").copy()
    first = data.index[data["participant_id"] == "p0001"]
    data.loc[first[-1], "site"] = "s07"
    reason = _failed_reason(data)
    assert reason == (
        "mixed_models.by_site.nested_in: participant p0001 occurs in site s01 and site s07 "
        "(1 participant(s) in more than one site); each participant must belong to one site."
    )


def test_a_single_site_fails_the_model():
    reason = _failed_reason(_data("nest1").assign(site="s01"))
    assert reason == (
        "mixed_models.by_site.nested_in: column 'site' has a single level (s01) in the rows "
        "used; a random intercept for it needs two or more."
    )


def test_kenward_roger_with_nested_in_is_a_config_error():
    with pytest.raises(ConfigError, match=r"mixed_models\.m\.df: kenward_roger is not available "
                       r"with nested_in; use satterthwaite"):  # fmt: skip
        MixedModelSpec.from_config("m", {**SPEC, "df": "kenward_roger"})


def test_nested_in_naming_the_group_is_a_config_error():
    with pytest.raises(ConfigError, match=r"mixed_models\.m\.nested_in: 'participant_id' is "):
        MixedModelSpec.from_config("m", {**SPEC, "nested_in": "participant_id"})


def test_config_check_refuses_kenward_roger_with_nested_in():
    from srflow.config.checks import _mixed_inference_problems

    spec = {**SPEC, "df": "kenward_roger", "method": "reml"}
    cohort = {"columns": {"covariates": {SPEC["nested_in"]: "category"}}}
    problems = _mixed_inference_problems("mixed_models.m", spec, cohort)
    assert problems == [
        "mixed_models.m.df: kenward_roger is not available with nested_in; use satterthwaite"
    ]


@pytest.mark.parametrize(
    ("covariates", "problem"),
    [
        ({"age": "float"}, "'site' is not a covariate of the cohort (columns.covariates: age)"),
        ({"site": "int"}, "'site' is a covariate of type int; nested_in names a categorical"),
        ({"site": "string"}, None),
    ],
)
def test_config_check_wants_nested_in_a_categorical_covariate(covariates, problem):
    from srflow.config.checks import _mixed_inference_problems

    spec = {**SPEC, "nested_in": "site"}
    problems = _mixed_inference_problems(
        "mixed_models.m", spec, {"columns": {"covariates": covariates}}
    )
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith("mixed_models.m.nested_in: ")
        assert problem in problems[0]


# ----------------------------------------------------------------------------------------
# Pipeline: stage, result contract, report
# ----------------------------------------------------------------------------------------


def test_stage_writes_the_site_sd_and_the_report_shows_it(tmp_path):
    from srflow import results
    from srflow.config import load_config
    from srflow.report.formatting import format_number
    from srflow.report.mixed_section import variance_ci_table
    from srflow.stages import mixed_stage

    data = _data("nest1").copy()
    scores = tmp_path / "scores.parquet"
    data.to_parquet(scores)
    raw = {
        "seed": 1,
        "cohorts": {
            "demo": {
                "input": "data/demo.csv",
                "columns": {
                    "participant": "id",
                    "wave": "wave",
                    # centre is declared but absent from the scores: a model-level failure
                    "covariates": {"site": "category", "arm": "category", "centre": "category"},
                },
                "instruments": {
                    "ghq12": {
                        "role": "problems",
                        "items": {"prefix": "GHQ_"},
                        "range": [0, 3],
                        "score": "prorated_sum",
                    },
                    "hassles": {
                        "role": "stressors",
                        "items": {"prefix": "GE_"},
                        "range": [0, 5],
                        "method": "severity",
                    },
                },
            }
        },
        "mixed_models": {
            "by_site": {**SPEC, "method": "ml"},
            "bad": {**SPEC, "nested_in": "centre"},
        },
    }
    config = load_config(raw)
    for name in ("by_site", "bad"):
        parts = [str(tmp_path / f"{name}.{p}") for p in ("fixed.csv", "fit.json", "random.csv")]
        mixed_stage(config.data, "demo", name, str(scores), *parts)
    fit = results.MixedFit.read(tmp_path / "by_site.fit.json")
    ref = FIT.loc["nest1_ml"]
    assert fit.status == "ok" and fit.nested_in == "site"
    assert fit.variance_components.nested_in["sd"]["Intercept"] == pytest.approx(
        ref["sd_site"], rel=1e-3
    )
    table = variance_ci_table(fit.variance_components, "")
    site_row = [row for row in table.rows if row[0] == "SD Intercept (site)"]
    assert len(site_row) == 1 and site_row[0][2] != format_number(None)
    effects = fit.variance_components.nested_in["effects"]
    low = int(np.argmin(effects["estimate"]))
    assert (
        f"site effects (conditional modes) range from {format_number(min(effects['estimate']))} "
        f"(site {effects['level'][low]}) to "
    ) in table.caption
    bad = json.loads((tmp_path / "bad.fit.json").read_text())
    assert bad["status"] == "failed" and bad["reason"].startswith("mixed_models.bad.nested_in")


# ----------------------------------------------------------------------------------------
# Likelihood-ratio test of the site variance
# ----------------------------------------------------------------------------------------


def test_likelihood_ratio_test_of_the_site_intercept():
    """Same terms, nested_in only in the larger model: chi2 = 2 (ML logLik difference), df 1,
    p_boundary half the chi-square(1) tail (a variance tested at 0)."""
    from scipy import stats

    from srflow.mixed import likelihood_ratio_test

    small = {key: value for key, value in SPEC.items() if key != "nested_in"}
    test = likelihood_ratio_test(_data("nest1"), small, SPEC)
    ml = FIT.loc["nest1_ml"]
    assert test["status"] == "ok" and test["df"] == 1
    assert test["loglik_large"] == pytest.approx(ml["loglik"], abs=1e-6)
    chi2 = 2 * (test["loglik_large"] - test["loglik_small"])
    assert test["chi2"] == pytest.approx(chi2, rel=1e-12)
    assert test["p_boundary"] == pytest.approx(0.5 * stats.chi2.sf(chi2, 1), rel=1e-10)
    with pytest.raises(ConfigError, match="nested_in must be"):
        likelihood_ratio_test(_data("nest1"), SPEC, small)


@pytest.mark.parametrize("name", ["nest1", "nest2"])
def test_site_effects_in_fit_json_equal_lme4s_ranef(name):
    """Each site's conditional mode and conditional SD, as lme4's ranef(condVar = TRUE)
    (tests/reference/mixed_nested_sites.R, REML; measured 3e-5 absolute, 1.6e-5 relative)."""
    ref = pd.read_csv(REF / "site_effects.csv")
    ref = ref[ref["dataset"] == name].set_index("level")
    spec = MixedModelSpec.from_config("by_site", SPEC)
    result = fit_mixed_model(_data(name), spec, profile=False)
    assert result.fit["loglik"] == pytest.approx(float(ref["loglik"].iloc[0]), abs=1e-6)
    effects = pd.DataFrame(result.fit["variance_components"]["nested_in"]["effects"])
    effects = effects.set_index("level").loc[ref.index]
    assert len(effects) == len(ref)
    np.testing.assert_allclose(effects["estimate"], ref["estimate"], atol=1e-4)
    np.testing.assert_allclose(effects["sd"], ref["sd"], rtol=1e-4)
