"""Person-level regressions (srflow.regression) against R lm and statsmodels OLS, and bad input.

Reference numbers: tests/reference/regressions.R (base R lm, HC3 by hand) on the inputs in
tests/data/regressions/ (made by tests/reference/regressions_data.py: the bundled cohort
scored by srflow, and a simulated messy cohort, numpy seed 20261201). Tolerances: estimates,
SEs, t, CIs and standardised estimates within 1e-6 relative, p within 1e-6 absolute; R², F,
AIC, BIC, log-likelihood and sigma within 1e-10 relative (equal up to rounding).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from srflow.config import RegressionSpec, load_config
from srflow.errors import ConfigError
from srflow.regression import COEFFICIENT_COLUMNS, fit_regression, safe_fit_regression
from srflow.stages import regression_stage

DATA = Path(__file__).parent / "data" / "regressions"
MODELS = pd.read_csv(DATA / "models.csv")
REL = 1e-6
EQUAL = 1e-10


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name, dtype={"participant_id": str})


def _inputs(data: str) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    if data == "bundled":
        return _read("bundled_long.csv"), {
            "person": _read("bundled_sr_person.csv"),
            "per_wave": _read("bundled_sr_per_wave.csv"),
        }
    return _read("messy_long.csv"), {"period": _read("messy_sr_period.csv")}


def _spec(row) -> RegressionSpec:
    return RegressionSpec.from_config(
        row.name,
        {
            "outcome": row.outcome,
            "predictors": row.predictors.split(";"),
            "aggregate": row.aggregate,
            "se": row.se,
        },
    )


def _r_name(term: str) -> set[str]:
    """srflow's term name written the way R's model.matrix names the column (as a set of parts)."""
    if term == "Intercept":
        return {"(Intercept)"}
    parts = set()
    for part in term.split(":"):
        part = re.sub(r"^z\((\w+)\)$", r"z_\1", part)
        part = re.sub(r"^(\w+)\^(\d)$", r"I(\1^\2)", part)
        parts.add(re.sub(r"\[T\.(.+)\]$", r"\1", part))
    return parts


def _relative(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    both = ~(np.isnan(a) & np.isnan(b))
    return float(np.max(np.abs(a[both] - b[both]) / np.maximum(np.abs(b[both]), 1e-300)))


@pytest.mark.parametrize("row", list(MODELS.itertuples(index=False)), ids=list(MODELS["name"]))
def test_regression_equals_r_lm(row):
    long, sr_tables = _inputs(row.data)
    result = fit_regression(long, sr_tables, _spec(row))
    ours = result.coefficients
    theirs = pd.read_csv(DATA / f"{row.name}__coefficients.csv", skipinitialspace=True)
    assert [_r_name(t) for t in ours["term"]] == [set(t.split(":")) for t in theirs["term"]]
    for column in ("estimate", "se", "statistic", "ci_low", "ci_high", "std_estimate"):
        assert _relative(ours[column], theirs[column]) < REL, column
    assert np.max(np.abs(ours["p"] - theirs["p"])) < 1e-6
    assert (ours["df"] == theirs["df"]).all()
    fit = pd.read_csv(DATA / f"{row.name}__fit.csv", skipinitialspace=True).iloc[0]
    assert result.fit["n_obs"] == fit["n_obs"]
    assert result.fit["n_dropped_missing"] == fit["n_participants"] - fit["n_obs"]
    assert (result.fit["f_df1"], result.fit["f_df2"]) == (fit["f_df1"], fit["f_df2"])
    for key in ("r2", "adj_r2", "f", "aic", "bic", "loglik", "sigma"):
        assert result.fit[key] == pytest.approx(fit[key], rel=EQUAL), key
    assert result.fit["f_p"] == pytest.approx(fit["f_p"], rel=1e-8, abs=1e-15)
    assert result.status == "ok" and result.fit["status"] == "ok" and result.fit["reason"] is None


def _messy_person(how: str) -> pd.DataFrame:
    """The messy cohort per participant, aggregated here with pandas (not srflow's code)."""
    long = _read("messy_long.csv").sort_values(["participant_id", "wave"])
    grouped = long.groupby("participant_id")
    person = (
        grouped[["y", "x1", "x2"]].first() if how == "first" else grouped[["y", "x1", "x2"]].mean()
    )
    person["grp"] = grouped["grp"].first()
    return person


@pytest.mark.parametrize("se", ["classical", "hc3"])
def test_regression_equals_statsmodels_ols(se):
    person = _messy_person("first").dropna()
    person["z_x2"] = (person["x2"] - person["x2"].mean()) / person["x2"].std(ddof=1)
    model = smf.ols("y ~ x1 + z_x2 + C(grp) + x1:z_x2", data=person)
    ref = model.fit(cov_type="HC3") if se == "hc3" else model.fit()
    long, sr_tables = _inputs("messy")
    # patsy puts the category first; the same order here, so the columns line up
    spec = RegressionSpec.from_config(
        "sm", {"outcome": "y", "predictors": ["grp", "x1", "z(x2)", "x1:z(x2)"], "se": se}
    )
    result = fit_regression(long, sr_tables, spec)
    coefficients = result.coefficients
    assert [
        name.replace("C(grp)", "grp").replace("z_x2", "z(x2)") for name in ref.params.index
    ] == list(coefficients["term"])
    assert _relative(coefficients["estimate"], ref.params) < REL
    assert _relative(coefficients["se"], ref.bse) < REL
    # statsmodels' HC3 p-values use the normal distribution; R's coeftest and srflow use t(df_resid)
    if se == "classical":
        assert np.max(np.abs(coefficients["p"].to_numpy() - ref.pvalues.to_numpy())) < 1e-6
    assert result.fit["r2"] == pytest.approx(ref.rsquared, rel=EQUAL)
    assert result.fit["adj_r2"] == pytest.approx(ref.rsquared_adj, rel=EQUAL)
    restriction = np.eye(len(ref.params))[1:]
    wald = ref.wald_test(restriction, use_f=True, scalar=True)
    assert result.fit["f"] == pytest.approx(float(wald.statistic), rel=EQUAL)
    # statsmodels' aic does not count the residual variance; R's AIC(lm) does (srflow follows R)
    assert result.fit["aic"] == pytest.approx(ref.aic + 2, rel=EQUAL)
    assert result.fit["bic"] == pytest.approx(ref.bic + np.log(ref.nobs), rel=EQUAL)


def test_aggregation_by_hand():
    # p1: x missing at wave 1, so first = its wave-2 value; mean over waves with a value.
    scores = pd.DataFrame(
        {
            "participant_id": ["p1", "p1", "p1", "p2", "p2", "p3", "p3", "p4"],
            "wave": [1, 2, 3, 2, 1, 1, 3, 1],
            "y": [1.0, 2.0, 6.0, 3.0, 5.0, 4.0, 4.0, 7.0],
            "x": [np.nan, 10.0, 20.0, 3.0, 1.0, 0.0, 9.0, np.nan],
            "g": ["a", "b", "b", None, "b", "a", "a", "b"],
        }
    )
    sr = {
        "per": pd.DataFrame(
            {"participant_id": ["p1", "p2", "p3"], "sr": [0.5, -1.0, 2.5], "sr_z": [0.0, -1.0, 1.0]}
        )
    }
    from srflow.regression import person_data
    from srflow.regression.person import parse_spec_terms

    terms = parse_spec_terms("sr:per", ["x", "y", "g"], "regressions.t")
    first = person_data(scores, sr, terms, "first").frame.set_index("participant_id")
    # p2's waves are given out of order: first means wave 1 (x = 1, y = 5); g's first value is b.
    assert first.to_dict("index") == {
        "p1": {"sr:per": 0.5, "x": 10.0, "y": 1.0, "g": "a"},
        "p2": {"sr:per": -1.0, "x": 1.0, "y": 5.0, "g": "b"},
        "p3": {"sr:per": 2.5, "x": 0.0, "y": 4.0, "g": "a"},
    }  # p4 has no sr and no x: not in the model
    mean = person_data(scores, sr, terms, "mean").frame.set_index("participant_id")
    assert mean.loc["p1", "x"] == 15.0 and mean.loc["p1", "y"] == 3.0 and mean.loc["p2", "x"] == 2.0
    assert mean.loc["p1", "g"] == "a" and mean.loc["p1", "sr:per"] == 0.5  # as they are


def _config(shared, sr=None, **cohort_keys):
    cohort = {
        "input": "x.csv",
        "columns": {
            "participant": "id",
            "wave": "w",
            "covariates": {"age": "integer", "arm": "category"},
        },
        "instruments": {
            "p": {"role": "problems", "items": {"prefix": "P_"}, "range": [0, 3]},
            "e": {"role": "stressors", "items": {"prefix": "E_"}, "range": [0, 5]},
        },
        **cohort_keys,
    }
    sr = sr if sr is not None else {"person": {"level": "period"}, "sliding3": {"level": "sliding"}}
    return {"cohorts": {"c": cohort}, "sr": sr, "regressions": shared}


@pytest.mark.parametrize(
    "spec, expected",
    [
        (
            {"outcome": "sr:person", "predictors": ["z(E"]},
            "regressions.r.predictors: 'z(E' is not a valid term: expected ')' closing z( at position 3",
        ),
        (
            {"outcome": "sr:person", "predictors": ["optimism"]},
            "regressions.r.predictors: 'optimism' names 'optimism', which is not a column of the scores table",
        ),
        (
            {"outcome": "sr:nope", "predictors": ["age"]},
            "regressions.r.outcome: 'sr:nope' names SR spec 'nope', which does not exist (SR specs: person, sliding3)",
        ),
        (
            {"outcome": "sr:person", "predictors": ["sr_z:sliding3"]},
            "regressions.r.predictors: 'sr_z:sliding3' names SR spec 'sliding3' of level sliding",
        ),
        (
            {"outcome": "sr:person", "predictors": ["within(E)"]},
            "regressions.r.predictors: 'within(E)' uses within(), which is not allowed here (allowed transforms: z())",
        ),
        (
            {"outcome": "sr:person", "predictors": ["z(arm)"]},
            "regressions.r.predictors: 'z(arm)' uses the category covariate 'arm' as a number",
        ),
        (
            {"outcome": "arm", "predictors": ["age"]},
            "regressions.r.outcome: 'arm' uses the category covariate 'arm' as the outcome",
        ),
        (
            {"outcome": "sr:person:E", "predictors": ["age"]},
            "regressions.r.outcome: 'sr:person:E' must be a single variable",
        ),
        (
            {"outcome": "sr:person", "predictors": ["age", "age"]},
            "regressions.r.predictors: 'age' is listed twice",
        ),
        (
            {"outcome": "sr:person", "predictors": ["age"], "se": "hc1"},
            "regressions.r.se: 'hc1' is not allowed",
        ),
    ],
)
def test_config_errors_name_block_and_key(spec, expected):
    with pytest.raises(ConfigError) as info:
        load_config(_config({"r": spec}))
    assert expected in str(info.value)


def test_cohort_override_is_checked_under_its_own_key():
    config = _config({}, regressions={"own": {"outcome": "sr:person", "predictors": ["lag(E)"]}})
    with pytest.raises(
        ConfigError, match=r"cohorts\.c\.regressions\.own\.predictors: 'lag\(E\)' uses lag\(\)"
    ):
        load_config(config)
    good = _config(
        {"shared": {"outcome": "P", "predictors": ["E"]}},
        regressions={"own": {"outcome": "sr:person", "predictors": ["z(age)", "arm", "E^2"]}},
    )
    cohort = load_config(good).cohort("c")
    assert list(cohort.regressions) == ["own"]
    spec = RegressionSpec.from_config("own", cohort.regressions["own"])
    assert (spec.aggregate, spec.se, spec.sr_specs()) == ("first", "classical", ["person"])


def _small_scores(n_people: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    ids = np.repeat([f"p{i}" for i in range(n_people)], 2)
    return pd.DataFrame(
        {
            "participant_id": ids,
            "wave": np.tile([1, 2], n_people),
            "P": rng.normal(size=2 * n_people),
            "E": rng.normal(size=2 * n_people),
            "age": np.repeat(np.arange(n_people) * 3.0 + 20, 2),
        }
    )


def test_failed_sr_spec_gives_failed_status_naming_block_and_key():
    spec = RegressionSpec.from_config("rf", {"outcome": "sr:person", "predictors": ["age"]})
    empty = pd.DataFrame({"participant_id": pd.Series([], dtype=str), "sr": [], "sr_z": []})
    result = safe_fit_regression(
        _small_scores(), {"person": empty}, spec, {"person": "SR spec 'person': E is constant"}
    )
    assert result.status == "failed" and result.fit["status"] == "failed"
    assert result.reason == (
        "regressions.rf.outcome: SR spec 'person' failed, so sr:person has no "
        "values: SR spec 'person': E is constant"
    )
    assert (
        list(result.coefficients.columns) == list(COEFFICIENT_COLUMNS) and result.coefficients.empty
    )
    assert result.fit["n_obs"] is None and result.fit["r2"] is None


def test_more_predictors_than_participants_fails_with_reason():
    scores = _small_scores(3)
    spec = RegressionSpec.from_config("big", {"outcome": "P", "predictors": ["E", "age", "wave"]})
    result = safe_fit_regression(scores, {}, spec)
    assert result.status == "failed"
    assert result.reason == (
        "regressions.big.predictors: the model has 4 coefficients (the intercept "
        "and 3 from the predictors) but only 3 participants with complete data; "
        "ordinary least squares needs more participants than coefficients"
    )


def test_constant_predictor_fails_naming_it():
    scores = _small_scores().assign(site=1.0)
    spec = RegressionSpec.from_config("c", {"outcome": "P", "predictors": ["E", "site"]})
    result = safe_fit_regression(scores, {}, spec)
    assert result.reason == (
        "regressions.c.predictors: 'site' is constant among the participants in "
        "the model, so its coefficient is not identified; drop it or change the data"
    )


def test_stage_writes_failed_and_ok_regressions(tmp_path):
    """Two regressions of one cohort: the one on a failed SR spec is written as failed, the other runs."""
    scores = _small_scores(8)
    scores.to_parquet(tmp_path / "scores.parquet")
    (tmp_path / "sr").mkdir()
    pd.DataFrame(columns=["participant_id", "E", "P", "P_expected", "sr", "sr_z"]).to_csv(
        tmp_path / "sr" / "person.csv", index=False
    )
    (tmp_path / "sr" / "person.line.json").write_text(
        json.dumps({"status": "failed", "reason": "SR spec 'person': no row has arm == 'x'"})
    )
    config = _config(
        {
            "bad": {"outcome": "sr:person", "predictors": ["age"]},
            "good": {"outcome": "P", "predictors": ["z(age)"], "aggregate": "mean"},
        }
    )
    for name in ("bad", "good"):
        specs = RegressionSpec.from_config(name, config["regressions"][name]).sr_specs()
        regression_stage(
            config,
            "c",
            name,
            str(tmp_path / "scores.parquet"),
            [str(tmp_path / "sr" / f"{s}.csv") for s in specs],
            [str(tmp_path / "sr" / f"{s}.line.json") for s in specs],
            str(tmp_path / f"{name}.coefficients.csv"),
            str(tmp_path / f"{name}.fit.json"),
        )
    bad = json.loads((tmp_path / "bad.fit.json").read_text())
    assert (
        bad["status"] == "failed"
        and "regressions.bad.outcome: SR spec 'person' failed" in bad["reason"]
    )
    assert (tmp_path / "bad.coefficients.csv").read_text() == ",".join(COEFFICIENT_COLUMNS) + "\n"
    good = json.loads((tmp_path / "good.fit.json").read_text())
    assert good["status"] == "ok" and good["n_obs"] == 8 and good["aggregate"] == "mean"
    person = scores.groupby("participant_id")[["P", "age"]].mean()
    slope = np.polyfit(
        (person["age"] - person["age"].mean()) / person["age"].std(), person["P"], 1
    )[0]
    table = pd.read_csv(tmp_path / "good.coefficients.csv")
    assert table.loc[1, "term"] == "z(age)" and table.loc[1, "estimate"] == pytest.approx(
        slope, rel=1e-12
    )
    first = (tmp_path / "good.coefficients.csv").read_bytes()
    regression_stage(
        config,
        "c",
        "good",
        str(tmp_path / "scores.parquet"),
        [],
        [],
        str(tmp_path / "again.csv"),
        str(tmp_path / "again.json"),
    )
    assert (tmp_path / "again.csv").read_bytes() == first  # deterministic bytes


def test_uncertified_fit_is_suspect_not_ok(monkeypatch):
    """A fit whose residuals are not orthogonal to the design (here: a zero tolerance) is suspect."""
    from srflow.regression import ols

    monkeypatch.setattr(ols, "ORTHOGONALITY_TOLERANCE", 0.0)
    spec = RegressionSpec.from_config("s", {"outcome": "P", "predictors": ["E"]})
    result = fit_regression(_small_scores(), {}, spec)
    assert result.status == "suspect" and result.fit["status"] == "suspect"
    assert result.reason.startswith(
        "regressions.s.predictors: the residuals are not orthogonal to the design (largest |cosine|"
    )
    assert 0 < result.fit["max_residual_cosine"] < 1e-12  # the real fit is fine
    assert 1 <= result.fit["condition_number"] < 10
