"""End to end: SR specs and mixed models that cannot be computed next to ones that can.

Snakemake runs the workflow (subprocess, the venv's snakemake, 2 cores) on a synthetic cohort
(srflow.synthetic.write_cohort, 60 participants x 5 waves, seed 11) in a temporary folder.
Every participant's age is then set to 40 (a single-age cohort), so a model adjusting for
age has a constant predictor. The config is config/config.yaml with these analyses:

- SR ``per_wave`` (wave level) and ``person`` (period level, min 3 waves): computable;
- SR ``control_ref`` (reference arm == "nobody": an empty reference group) and ``sliding6``
  (windows of 6 waves on a 5-wave cohort): cannot be computed;
- mixed ``time_only`` (random intercept), ``reactivity`` (random E slope, compared with
  time_only by a likelihood-ratio test) and ``reactivity_ml`` (the same by ML): computable;
- mixed ``age_adjusted`` (fixed: E, wave, age): cannot be fitted, age is constant;
- mixed ``bad_reference`` (arm with reference level "nobody", which no row has): failed, the
  message names the model and the key;
- mixed ``sr_within`` (``sr_z:per_wave`` on ``within(E)``, ``between(E)`` and ``lag(E)``):
  computable, checked against statsmodels on variables built here with pandas;
- mixed ``sr_failing`` (names ``sr_z:control_ref``, a failed SR spec): failed alone, with the
  SR spec's reason.

The mixed models use the default df (Satterthwaite): df, Type III F, R2 and profile intervals
are checked against lmerTest, performance and lme4 numbers recorded below.

No keep-going flag is passed: a spec that cannot be computed is written as failed, with
its reason, and the run must still succeed. Values of the computable analyses are checked
against independent computations made here from results/<cohort>/scores.csv (numpy lstsq,
statsmodels MixedLM) and against lme4 numbers recorded below.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
COHORT = "small"

pytestmark = pytest.mark.slow

SR_SPECS = {
    "per_wave": {"level": "wave", "form": "linear"},
    "person": {"level": "period", "form": "linear", "min_waves": 3},
    "control_ref": {"level": "period", "reference": {"column": "arm", "value": "nobody"}},
    "sliding6": {"level": "sliding", "window": 6},
}
MIXED_MODELS = {
    "time_only": {"outcome": "P", "fixed": ["E", "wave"], "random": [], "method": "reml"},
    "reactivity": {
        "outcome": "P",
        "fixed": ["E", "wave"],
        "random": ["E"],
        "method": "reml",
        "compare_to": "time_only",
    },
    "reactivity_ml": {"outcome": "P", "fixed": ["E", "wave"], "random": ["E"], "method": "ml"},
    "age_adjusted": {"outcome": "P", "fixed": ["E", "wave", "age"], "random": [], "method": "reml"},
    "bad_reference": {
        "outcome": "P",
        "fixed": ["E", "arm"],
        "contrasts": {"arm": {"reference": "nobody"}},
    },
    "sr_within": {
        "outcome": "sr_z:per_wave",
        "fixed": ["within(E)", "between(E)", "lag(E)"],
        "random": [],
    },
    "sr_failing": {"outcome": "z(P)", "fixed": ["z(E)", "sr_z:control_ref"], "random": []},
}
FAILED_SR = {
    "control_ref": "no row has arm == 'nobody'",
    "sliding6": "fewer than one window of 6 waves",
}
FAILED_MIXED = {
    "age_adjusted": "constant predictor: age",
    "bad_reference": "mixed_models.bad_reference.contrasts.arm.reference: level 'nobody' does not occur "
    "in column 'arm'",
    "sr_failing": "mixed_models.sr_failing: SR spec 'control_ref' failed, so sr_z:control_ref has no "
    "values: ",
}

# lme4 1.1.31 (R 4.x) on results/small/scores.csv of this run:
#   d <- read.csv("scores.csv"); m <- lmer(P ~ E + wave + (E | participant_id), d, REML = TRUE)
#   fixef(m); sqrt(diag(vcov(m))); sigma(m); logLik(m)
#   logLik(update(m, REML = FALSE)); logLik(lmer(P ~ E + wave + (1 | participant_id), d, REML = FALSE))
# All seven optimisers of lme4::allFit reach the same REML logLik (-763.38181 +/- 1e-6); the fit is
# singular (intercept-slope correlation +1). The data those numbers belong to: 261 rows with P and E,
# whose P sum to 2720.890909... and E to 3570.264492... (checked first, so that a changed simulator
# shows up as such and not as a wrong fit).
LME4_DATA = {"n": 261, "sum_P": 2720.890909090909, "sum_E": 3570.264492753623}
LME4_REML = {
    "beta": [5.757592792029, 0.393360423039, -0.203595923621],
    "se": [0.8933316650057, 0.0436336738337, 0.1672087081711],
    "sigma": 3.68079250465,
    "loglik": -763.381814121,
}
LME4_ML_LOGLIK = {"reactivity": -760.599369637, "time_only": -761.053720217}


def _config(workdir: Path) -> Path:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    cohort = next(iter(config["cohorts"].values()))
    cohort["input"] = "data/cohort.csv"
    config["cohorts"] = {COHORT: cohort}
    config["sr"] = SR_SPECS
    config["mixed_models"] = MIXED_MODELS
    config["trajectories"] = {}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    from srflow.synthetic import write_cohort

    workdir = tmp_path_factory.mktemp("models")
    write_cohort(workdir / "data", participants=60, waves=5, seed=11, messy=False)
    raw = pd.read_csv(workdir / "data" / "cohort.csv", dtype=str, keep_default_na=False)
    raw["age"] = "40"  # a single-age cohort: age is a constant covariate
    raw.to_csv(workdir / "data" / "cohort.csv", index=False)
    configfile = _config(workdir)
    command = [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir / "results" / COHORT


@pytest.fixture(scope="module")
def scores(run) -> pd.DataFrame:
    return pd.read_csv(run / "scores.csv", dtype={"participant_id": str})


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------
# Specs that cannot be computed
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", sorted(FAILED_SR))
def test_failed_sr_spec_is_written_as_failed_with_header_only(run, spec):
    line = _read_json(run / "sr" / f"{spec}.line.json")
    assert line["status"] == "failed"
    assert line["spec"] == spec
    assert f"SR spec '{spec}'" in line["reason"]  # the reason names the spec
    assert FAILED_SR[spec] in line["reason"]
    text = (run / "sr" / f"{spec}.csv").read_text(encoding="utf-8").splitlines()
    key = ["window"] if SR_SPECS[spec]["level"] == "sliding" else []
    assert text == [",".join(["participant_id", *key, "E", "P", "P_expected", "sr", "sr_z"])]


def test_failed_mixed_model_is_written_as_failed(run):
    fit = _read_json(run / "mixed" / "age_adjusted.fit.json")
    assert fit["status"] == "failed"
    assert fit["model"] == "age_adjusted"
    assert FAILED_MIXED["age_adjusted"] in fit["reason"]
    assert fit["loglik"] is None and fit["converged"] is False
    fixed = (run / "mixed" / "age_adjusted.fixed.csv").read_text(encoding="utf-8").splitlines()
    assert fixed == ["term,estimate,se,df,statistic,p,ci_low,ci_high,reference"]
    assert (
        len((run / "mixed" / "age_adjusted.random.csv").read_text(encoding="utf-8").splitlines())
        == 1
    )
    anova = (run / "mixed" / "age_adjusted.anova.csv").read_text(encoding="utf-8").splitlines()
    assert anova == ["term,num_df,den_df,F,p"]


def test_computable_specs_have_values(run, scores):
    for spec in ("per_wave", "person"):
        line = _read_json(run / "sr" / f"{spec}.line.json")
        table = pd.read_csv(run / "sr" / f"{spec}.csv", dtype={"participant_id": str})
        assert line["status"] == "ok" and line["reason"] is None
        assert len(table) == line["n"]["scored"] > 0
        assert np.isfinite(table[["E", "P", "P_expected", "sr", "sr_z"]].to_numpy()).all()
    for model in ("time_only", "reactivity", "reactivity_ml"):
        fit = _read_json(run / "mixed" / f"{model}.fit.json")
        fixed = pd.read_csv(run / "mixed" / f"{model}.fixed.csv")
        assert fit["status"] == "ok" and fit["converged"] is True
        assert fixed["term"].tolist() == ["Intercept", "E", "wave"]
        assert np.isfinite(fixed[["estimate", "se"]].to_numpy()).all()
        random = pd.read_csv(run / "mixed" / f"{model}.random.csv", dtype={"participant_id": str})
        assert len(random) == fit["n_groups"] == scores["participant_id"].nunique()


def test_report_says_which_analyses_could_not_be_computed(run):
    document = (run / "report.html").read_text(encoding="utf-8")
    assert document.lower().count("could not be computed") >= len(FAILED_SR) + len(FAILED_MIXED)
    text = html.unescape(document)
    for spec in FAILED_SR:
        reason = _read_json(run / "sr" / f"{spec}.line.json")["reason"]
        assert f"could not be computed: {reason}".lower() in text.lower()
    for model in FAILED_MIXED:
        reason = _read_json(run / "mixed" / f"{model}.fit.json")["reason"]
        assert f"could not be computed: {reason}".lower() in text.lower()
    for name in ("per_wave", "person", "time_only", "reactivity"):
        assert name in text


# --------------------------------------------------------------------------------------
# Values of the computable specs, against independent computations
# --------------------------------------------------------------------------------------


def _complete(scores: pd.DataFrame) -> pd.DataFrame:
    return (
        scores.dropna(subset=["P", "E"])
        .sort_values(["participant_id", "wave"])
        .reset_index(drop=True)
    )


def test_period_sr_matches_lstsq_on_person_means(run, scores):
    """Reference: per-person means of P and E over waves with both observed (>= 3 such waves),
    one OLS line by numpy.linalg.lstsq; sr = mean P - line, sr_z with ddof = 1. Tolerance 1e-9."""
    rows = _complete(scores)
    means = rows.groupby("participant_id").agg(E=("E", "mean"), P=("P", "mean"), n=("P", "size"))
    means = means[means["n"] >= 3]
    X = np.column_stack([np.ones(len(means)), means["E"]])
    beta, *_ = np.linalg.lstsq(X, means["P"].to_numpy(), rcond=None)
    sr = means["P"].to_numpy() - X @ beta
    sr_z = (sr - sr.mean()) / sr.std(ddof=1)

    table = pd.read_csv(run / "sr" / "person.csv", dtype={"participant_id": str}).set_index(
        "participant_id"
    )
    assert table.index.tolist() == means.index.tolist()
    np.testing.assert_allclose(table["E"], means["E"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(table["P"], means["P"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(table["sr"], sr, rtol=0, atol=1e-9)
    np.testing.assert_allclose(table["sr_z"], sr_z, rtol=0, atol=1e-9)
    line = _read_json(run / "sr" / "person.line.json")
    coefficients = {c["term"]: c["estimate"] for c in line["lines"][0]["coefficients"]}
    np.testing.assert_allclose([coefficients["Intercept"], coefficients["E"]], beta, rtol=1e-9)
    assert line["n"]["excluded"]["too_few_waves"] == int(
        (rows.groupby("participant_id").size() < 3).sum()
    )


def test_wave_sr_matches_lstsq_per_wave(run, scores):
    """Reference: one OLS line per wave by numpy.linalg.lstsq; sr_z within each wave (ddof 1). Tolerance 1e-9."""
    rows = _complete(scores)
    sr = np.empty(len(rows))
    for _, block in rows.groupby("wave"):
        X = np.column_stack([np.ones(len(block)), block["E"]])
        beta, *_ = np.linalg.lstsq(X, block["P"].to_numpy(), rcond=None)
        sr[block.index] = block["P"].to_numpy() - X @ beta
    table = pd.read_csv(run / "sr" / "per_wave.csv", dtype={"participant_id": str})
    assert (
        table[["participant_id", "wave"]].values.tolist()
        == rows[["participant_id", "wave"]].values.tolist()
    )
    np.testing.assert_allclose(table["sr"], sr, rtol=0, atol=1e-9)
    per_wave_z = (
        pd.Series(sr, index=rows.index)
        .groupby(rows["wave"])
        .transform(lambda v: (v - v.mean()) / v.std(ddof=1))
    )
    np.testing.assert_allclose(table["sr_z"], per_wave_z, rtol=0, atol=1e-9)


def _statsmodels_fit(scores: pd.DataFrame, random_slope: bool, reml: bool):
    import statsmodels.api as sm

    rows = _complete(scores)
    X = np.column_stack([np.ones(len(rows)), rows["E"], rows["wave"]])
    model = sm.MixedLM(
        rows["P"].to_numpy(),
        X,
        groups=rows["participant_id"].to_numpy(),
        exog_re=X[:, :2] if random_slope else X[:, :1],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary and convergence chatter; the values are checked
        return model.fit(reml=reml, method=["lbfgs"])


def _gls_standard_errors(scores: pd.DataFrame, fit) -> np.ndarray:
    """SEs of the fixed effects as lme4 defines them, sqrt(diag((sum_i X_i' V_i^-1 X_i)^-1)) with
    V_i = sigma^2 I + Z_i G Z_i', from a statsmodels fit's variance estimates. (statsmodels' own
    bse_fe come from the joint Hessian of all parameters and differ by ~0.3% here.)"""
    rows = _complete(scores)
    information = np.zeros((3, 3))
    q = fit.cov_re.shape[0]
    for _, block in rows.groupby("participant_id"):
        X = np.column_stack([np.ones(len(block)), block["E"], block["wave"]])
        Z = X[:, :q]
        V = fit.scale * np.eye(len(block)) + Z @ np.asarray(fit.cov_re) @ Z.T
        information += X.T @ np.linalg.solve(V, X)
    return np.sqrt(np.diag(np.linalg.inv(information)))


def test_random_intercept_model_matches_statsmodels(run, scores):
    """Reference: statsmodels MixedLM, REML, random intercept, fitted here on scores.csv.
    Fixed effects and their (GLS) SEs within 1e-4 relative; residual SD 1e-4 relative; REML loglik
    1e-4 absolute (statsmodels' REML llf is the same criterion as lme4's REML logLik)."""
    reference = _statsmodels_fit(scores, random_slope=False, reml=True)
    fixed = pd.read_csv(run / "mixed" / "time_only.fixed.csv")
    fit = _read_json(run / "mixed" / "time_only.fit.json")
    np.testing.assert_allclose(fixed["estimate"], reference.fe_params, rtol=1e-4)
    np.testing.assert_allclose(fixed["se"], _gls_standard_errors(scores, reference), rtol=1e-4)
    np.testing.assert_allclose(
        fit["variance_components"]["residual_sd"], np.sqrt(reference.scale), rtol=1e-4
    )
    np.testing.assert_allclose(fit["loglik"], reference.llf, rtol=0, atol=1e-4)
    assert fit["n_obs"] == len(_complete(scores))


def test_random_slope_ml_fit_matches_statsmodels(run, scores):
    """Reference: statsmodels MixedLM, ML, random intercept and E slope, fitted here on scores.csv.
    Fixed effects within 1e-4 relative; ML loglik within 1e-4 absolute. (statsmodels' ML fit agrees
    with lme4's here: logLik -760.599369.)"""
    reference = _statsmodels_fit(scores, random_slope=True, reml=False)
    assert reference.llf == pytest.approx(
        LME4_ML_LOGLIK["reactivity"], abs=1e-4
    )  # the reference itself
    fixed = pd.read_csv(run / "mixed" / "reactivity_ml.fixed.csv")
    fit = _read_json(run / "mixed" / "reactivity_ml.fit.json")
    np.testing.assert_allclose(fit["loglik"], reference.llf, rtol=0, atol=1e-4)
    np.testing.assert_allclose(fixed["estimate"], reference.fe_params, rtol=1e-4)


def test_random_slope_reml_fit_reaches_the_optimum(run, scores):
    """References: lme4 (numbers above; statsmodels' REML fit stops short of the optimum at the
    correlation +1 boundary here, -763.779, so it is only a lower bound) and nesting: the model
    with a random E slope contains the random-intercept model, so its REML criterion (same fixed
    effects) cannot be lower. Fixed effects and SEs within 1e-4 relative; loglik 1e-4 absolute."""
    rows = _complete(scores)
    assert (len(rows), rows["P"].sum(), rows["E"].sum()) == pytest.approx(
        (LME4_DATA["n"], LME4_DATA["sum_P"], LME4_DATA["sum_E"]), rel=1e-9
    ), "the simulated data changed: recompute the lme4 numbers with the R lines in this file"
    fit = _read_json(run / "mixed" / "reactivity.fit.json")
    time_only = _read_json(run / "mixed" / "time_only.fit.json")
    assert fit["loglik"] >= time_only["loglik"] - 1e-6
    assert fit["loglik"] >= _statsmodels_fit(scores, random_slope=True, reml=True).llf - 1e-6
    np.testing.assert_allclose(fit["loglik"], LME4_REML["loglik"], rtol=0, atol=1e-4)
    fixed = pd.read_csv(run / "mixed" / "reactivity.fixed.csv")
    np.testing.assert_allclose(fixed["estimate"], LME4_REML["beta"], rtol=1e-4)
    np.testing.assert_allclose(fixed["se"], LME4_REML["se"], rtol=1e-4)
    np.testing.assert_allclose(
        fit["variance_components"]["residual_sd"], LME4_REML["sigma"], rtol=1e-4
    )


def test_likelihood_ratio_test_uses_ml_fits(run, scores):
    """Reference: statsmodels ML fits of both models on scores.csv (equal to lme4's ML logLiks above).
    Log-likelihoods 1e-4 absolute, chi2 = 2 (large - small) 2e-4 absolute, df = 2."""
    comparison = _read_json(run / "mixed" / "reactivity.fit.json")["comparison"]
    small = _statsmodels_fit(scores, random_slope=False, reml=False).llf
    large = _statsmodels_fit(scores, random_slope=True, reml=False).llf
    assert (
        comparison["status"] == "ok"
        and comparison["method"] == "ml"
        and comparison["refit_with_ml"] is True
    )
    assert comparison["small"] == "time_only" and comparison["large"] == "reactivity"
    np.testing.assert_allclose(comparison["loglik_small"], small, rtol=0, atol=1e-4)
    np.testing.assert_allclose(comparison["loglik_large"], large, rtol=0, atol=1e-4)
    assert comparison["df"] == 2
    np.testing.assert_allclose(comparison["chi2"], 2.0 * (large - small), rtol=0, atol=2e-4)


# lmerTest 3.1.3 / performance 0.10.2 / lme4 1.1.31 on results/small/scores.csv of this run:
#   m <- lmer(P ~ E + wave + (1 | participant_id), d); summary(m); anova(m, type = 3)
#   performance::r2_nakagawa(m); confint(m, parm = "theta_", method = "profile", oldNames = FALSE)
#   summary(lmer(P ~ E + wave + (E | participant_id), d))   # the singular random-slope fit
LMERTEST_TIME_ONLY = {
    "df": [219.721777838, 242.467364012, 203.559791518],
    "p": [1.98863883455e-09, 5.06226900932e-17, 1.95936719205e-01],
    "F": {"E": 81.75760, "wave": 1.68344},
    "r2": (0.195059300678, 0.611854037727),
    "ci_sd": [3.00412741874, 4.77809307259],
    "ci_sigma": [3.34063400007, 4.07076903918],
}
LMERTEST_REACTIVITY_DF = [115.839935163, 202.182199948, 203.476858159]


def test_satterthwaite_tests_r2_and_intervals_match_lmertest(run):
    """df within 1%, p within 1e-4 + 1%, Type III F within 0.1% (5 digits printed), R2 within 1e-3,
    profile intervals within 0.2%."""
    fixed = pd.read_csv(run / "mixed" / "time_only.fixed.csv")
    np.testing.assert_allclose(fixed["df"], LMERTEST_TIME_ONLY["df"], rtol=0.01)
    assert np.all(
        np.abs(fixed["p"] - LMERTEST_TIME_ONLY["p"])
        <= 1e-4 + 0.01 * np.array(LMERTEST_TIME_ONLY["p"])
    )
    anova = pd.read_csv(run / "mixed" / "time_only.anova.csv").set_index("term")
    assert anova["num_df"].tolist() == [1, 1]
    for term, value in LMERTEST_TIME_ONLY["F"].items():
        assert anova.loc[term, "F"] == pytest.approx(value, rel=1e-3)
    fit = _read_json(run / "mixed" / "time_only.fit.json")
    assert fit["df_method"] == "satterthwaite"
    assert (fit["r2_marginal"], fit["r2_conditional"]) == pytest.approx(
        LMERTEST_TIME_ONLY["r2"], abs=1e-3
    )
    ci = fit["variance_components"]["ci"]
    np.testing.assert_allclose(ci["sd"]["Intercept"], LMERTEST_TIME_ONLY["ci_sd"], rtol=2e-3)
    np.testing.assert_allclose(ci["residual_sd"], LMERTEST_TIME_ONLY["ci_sigma"], rtol=2e-3)
    assert ci["corr"] == {}
    reactivity = pd.read_csv(run / "mixed" / "reactivity.fixed.csv")
    np.testing.assert_allclose(reactivity["df"], LMERTEST_REACTIVITY_DF, rtol=0.01)
    shape = _read_json(run / "mixed" / "reactivity.fit.json")["variance_components"]
    assert set(shape["ci"]["sd"]) == set(shape["sd"]) and set(shape["ci"]["corr"]) == set(
        shape["corr"]
    )
    assert all(len(pair) == 2 for pair in [*shape["ci"]["sd"].values(), shape["ci"]["residual_sd"]])


# --------------------------------------------------------------------------------------
# Mixed models on SR scores and transformed variables
# --------------------------------------------------------------------------------------


def test_model_naming_a_failed_sr_spec_fails_alone_with_its_reason(run):
    fit = _read_json(run / "mixed" / "sr_failing.fit.json")
    sr_reason = _read_json(run / "sr" / "control_ref.line.json")["reason"]
    assert fit["status"] == "failed"
    assert fit["reason"] == FAILED_MIXED["sr_failing"] + sr_reason
    assert _read_json(run / "mixed" / "sr_within.fit.json")["status"] == "ok"


def _sr_within_rows(run: Path, scores: pd.DataFrame) -> pd.DataFrame:
    """The model's variables built here with pandas: join, lag by wave - 1, complete rows, means."""
    sr = pd.read_csv(run / "sr" / "per_wave.csv", dtype={"participant_id": str})
    keys = ["participant_id", "wave"]
    rows = scores[[*keys, "E"]].merge(sr[[*keys, "sr_z"]], on=keys, how="left")
    previous = scores[[*keys, "E"]].assign(wave=scores["wave"] + 1).rename(columns={"E": "lag_E"})
    rows = rows.merge(previous, on=keys, how="left").dropna(subset=["E", "sr_z", "lag_E"])
    rows = rows.sort_values(keys).reset_index(drop=True)
    rows["between_E"] = rows.groupby("participant_id")["E"].transform("mean")
    rows["within_E"] = rows["E"] - rows["between_E"]
    return rows


def test_sr_mixed_model_matches_statsmodels_on_variables_built_here(run, scores):
    """Reference: statsmodels MixedLM (REML, random intercept) on sr_z:per_wave with within(E),
    between(E), lag(E) built here; estimates 1e-4 relative, REML loglik 1e-4 absolute."""
    import statsmodels.api as sm

    rows = _sr_within_rows(run, scores)
    X = np.column_stack([np.ones(len(rows)), rows[["within_E", "between_E", "lag_E"]]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = sm.MixedLM(
            rows["sr_z"].to_numpy(), X, groups=rows["participant_id"].to_numpy()
        ).fit(reml=True, method=["lbfgs"])
    fixed = pd.read_csv(run / "mixed" / "sr_within.fixed.csv")
    fit = _read_json(run / "mixed" / "sr_within.fit.json")
    assert fixed["term"].tolist() == ["Intercept", "within(E)", "between(E)", "lag(E)"]
    assert fit["n_obs"] == len(rows)
    assert fit["n_obs"] + fit["n_dropped_missing"] == len(scores)
    np.testing.assert_allclose(fixed["estimate"], reference.fe_params, rtol=1e-4, atol=1e-8)
    assert fit["loglik"] == pytest.approx(reference.llf, abs=1e-4)
