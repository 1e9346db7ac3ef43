"""Tests of the result-file contracts (srflow.results).

Known answers: the writers' own output. Every SR level, outlier rule and form, every mixed-model
outcome (fitted, failed, with a likelihood-ratio comparison) and the trajectory fit record are
produced by the library on a seeded cohort, and the contract must give back exactly that
mapping (equal as JSON, byte-identical when written). Malformed files must be refused with a
message that names the file, the place in it and the rule to rerun.
"""

from __future__ import annotations

import doctest
import json

import numpy as np
import pandas as pd
import pytest

import srflow.results
from srflow import mixed, results, sr
from srflow.tables import write_json, write_table


def cohort_scores(seed: int = 3, n: int = 60, waves: int = 4) -> pd.DataFrame:
    """P = 5 + person + 0.6 E + noise over ``waves`` waves (seeded), as a scores table."""
    rng = np.random.default_rng(seed)
    pid = np.repeat([f"p{i:03d}" for i in range(n)], waves)
    wave = np.tile(np.arange(1, waves + 1), n)
    e = rng.gamma(2.0, 3.0, n * waves)
    p = 5 + np.repeat(rng.normal(0, 1.5, n), waves) + 0.6 * e + rng.normal(0, 2.0, n * waves)
    return pd.DataFrame(
        {"participant_id": pid, "wave": wave, "time": 30.0 * (wave - 1), "P": p, "E": e}
    )


SPECS = {
    "wave": {"level": "wave"},
    "period_auto_winsorize": {
        "level": "period",
        "form": "auto",
        "outliers": "winsorize",
        "min_waves": 2,
    },
    "multilevel_auto": {"level": "multilevel", "form": "auto"},
    "sliding_exclude": {"level": "sliding", "window": 2, "outliers": "exclude"},
    "change": {"level": "change", "adjust_previous": True, "outliers": "mahalanobis"},
    "wave_huber": {"level": "wave", "outliers": "huber", "form": "quadratic"},
    "failed": {"level": "wave", "reference": {"column": "wave", "value": 99}},
}


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    return cohort_scores()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_sr_line_of_every_kind_round_trips_exactly(scores, name, tmp_path):
    result = sr.safe_compute_sr(scores, SPECS[name], name)
    assert (result.status == "failed") == (name == "failed")
    line = results.SRLine.from_json(result.line, "sr/x.line.json")
    assert line.to_json() == result.line  # nothing dropped, renamed or added
    write_json(result.line, tmp_path / "direct.json")
    result.write(tmp_path / "t.csv", tmp_path / "via.json")  # the writer goes through the contract
    assert (tmp_path / "via.json").read_bytes() == (tmp_path / "direct.json").read_bytes()
    write_table(result.table, tmp_path / "direct.csv")
    assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "direct.csv").read_bytes()
    table = results.SR_TABLE.read(tmp_path / "t.csv")
    assert list(table.columns) == list(result.table.columns)
    assert results.SRLine.read(tmp_path / "via.json") == line


def test_sr_line_typed_access(scores):
    line = results.SRLine.from_json(sr.safe_compute_sr(scores, SPECS["wave"], "wave").line)
    assert line.level == "wave" and line.line_key == "wave" and len(line.lines) == 4
    first = line.lines[0]
    assert dict(first.label) == {"wave": 1}
    # the raw intercept (E = 0) and the centred one differ by slope * E_center (hand algebra)
    raw = {c.term: c.estimate for c in first.coefficients}
    centred = {c.term: c.estimate for c in first.coefficients_centered}
    assert raw["Intercept"] + raw["E"] * first.E_center == pytest.approx(
        centred["Intercept"], rel=1e-9
    )
    assert not first.has("random_effects") and first.has("residual_qq")
    assert len(first.residual_qq.sample) == len(first.residual_qq.theoretical) == 21


def test_mixed_fit_of_every_outcome_round_trips(scores, tmp_path):
    small = mixed.MixedModelSpec.from_config("small", {"fixed": ["E"]})
    large = mixed.MixedModelSpec.from_config("large", {"fixed": ["E"], "random": ["E"]})
    fitted = mixed.fit_mixed_model(scores, large)
    fit = dict(fitted.fit)
    fit["comparison"] = mixed.likelihood_ratio_test(scores, small, large)
    failed = mixed.fit_mixed_model(scores.assign(site=1.0), {"fixed": ["E", "site"]})
    assert failed.status == "failed"
    for data in (fit, failed.fit):
        record = results.MixedFit.from_json(data, "mixed/m.fit.json")
        write_json(data, tmp_path / "direct.json")
        record.write(tmp_path / "via.json")
        assert (tmp_path / "via.json").read_bytes() == (tmp_path / "direct.json").read_bytes()
    record = results.MixedFit.read(tmp_path / "via.json")
    assert record.failed and record.variance_components is None
    ok = results.MixedFit.from_json(fit)
    assert ok.comparison.small == "small" and ok.comparison.df == 2  # one variance, one covariance
    assert set(ok.variance_components.sd) == {"Intercept", "E"}
    results.FIXED_TABLE.check(fitted.fixed)
    results.FIXED_TABLE.check(failed.fixed)  # the header of a failed model
    results.RANDOM_TABLE.check(fitted.random)


@pytest.mark.parametrize("case", ["ok", "no_slopes", "failed"])
def test_regression_outputs_round_trip_exactly(scores, case, tmp_path):
    """The regression stage's writer output (ok, intercept-only, failed) read back and rewritten byte for byte."""
    from srflow.config import RegressionSpec
    from srflow.regression import fit_regression, safe_fit_regression

    frame = scores.assign(age=np.repeat(np.arange(20.0, 80.0), 4))
    predictors = {"ok": ["z(age)", "E"], "no_slopes": [], "failed": ["P"]}[
        case
    ]  # P as predictor of P: aliased
    spec = RegressionSpec.from_config(
        "r", {"outcome": "P", "predictors": predictors, "aggregate": "mean"}
    )
    result = safe_fit_regression(frame, {}, spec)
    assert result.status == ("failed" if case == "failed" else "ok")
    record = results.RegressionFit.from_json(result.fit, "regressions/r.fit.json")
    assert record.to_json() == result.fit
    result.write(tmp_path / "direct.csv", tmp_path / "direct.json")  # the library's own writer
    record.write(tmp_path / "via.json")
    results.REGRESSION_COEFFICIENTS_TABLE.write(result.coefficients, tmp_path / "via.csv")
    assert (tmp_path / "via.json").read_bytes() == (tmp_path / "direct.json").read_bytes()
    assert (tmp_path / "via.csv").read_bytes() == (tmp_path / "direct.csv").read_bytes()
    table = results.REGRESSION_COEFFICIENTS_TABLE.read(tmp_path / "via.csv")
    back = results.RegressionFit.read(tmp_path / "via.json")
    if case == "failed":
        assert table.empty and back.failed and back.r2 is None and "regressions.r" in back.reason
    else:
        assert table["term"].tolist()[0] == "Intercept" and np.isnan(table["std_estimate"].iloc[0])
        assert back.n_obs == 60 and (back.f is None) == (case == "no_slopes")
        direct = fit_regression(frame, {}, spec).coefficients
        np.testing.assert_allclose(table["estimate"], direct["estimate"], rtol=1e-15)


def test_regression_fit_refuses_unknown_and_wrong_keys(scores):
    from srflow.config import RegressionSpec
    from srflow.regression import fit_regression

    spec = RegressionSpec.from_config("r", {"outcome": "P", "predictors": ["E"]})
    fit = fit_regression(scores, {}, spec).fit
    with pytest.raises(
        results.ResultContractError, match=r"unknown key\(s\) \['rsquared'\].*rule 'regressions'"
    ):
        results.RegressionFit.from_json({**fit, "rsquared": 0.5}, "regressions/r.fit.json")
    with pytest.raises(results.ResultContractError, match="at n_obs: expected an integer"):
        results.RegressionFit.from_json({**fit, "n_obs": "60"}, "regressions/r.fit.json")
    with pytest.raises(results.ResultContractError, match=r"lacks column\(s\) \['std_estimate'\]"):
        results.REGRESSION_COEFFICIENTS_TABLE.check(
            fit_regression(scores, {}, spec).coefficients.drop(columns="std_estimate")
        )


def test_trajectory_fit_record_round_trips():
    selection = pd.DataFrame({"method": ["lcga"], "degree": [2], "K": [2], "loglik": [-10.5]})
    data = {
        "spec": "problems",
        "K": 2,
        "status": "ok",
        "reason": None,
        "selection": selection.to_dict(orient="split", index=False),
        "curves": pd.DataFrame({"K": [2], "class": [1]}).to_dict(orient="split", index=False),
    }
    record = results.TrajectoryFit.from_json(data)
    assert record.to_json() == json.loads(json.dumps(data))
    assert record.selection.columns == ("method", "degree", "K", "loglik")
    failed = results.TrajectoryFit.from_json(
        {"spec": "p", "K": 3, "status": "failed", "reason": "too few"}
    )
    assert not failed.has("curves")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(per_group=[]), r"at top level|unknown key\(s\) \['per_group'\]"),
        (lambda d: d.pop("level"), r"missing key\(s\) \['level'\]"),
        (lambda d: d["lines"][0].update(coef=1), r"at lines\[0\]: unknown key\(s\) \['coef'\]"),
        (
            lambda d: d["lines"][1]["coefficients"][0].update(estimate="0.5"),
            r"at lines\[1\]\.coefficients\[0\]\.estimate: expected a number, got text \('0\.5'\)",
        ),
        (
            lambda d: d["n"].update(used=1.5),
            r"at n\.used: expected an integer, got a number \(1\.5\)",
        ),
        (lambda d: d.update(lines={}), r"at lines: expected a list, got an object"),
    ],
)
def test_malformed_line_file_names_file_place_and_rule(scores, change, expected):
    data = json.loads(json.dumps(sr.safe_compute_sr(scores, SPECS["wave"], "wave").line))
    change(data)
    with pytest.raises(results.ResultContractError, match=expected) as error:
        results.SRLine.from_json(data, "results/c/sr/wave.line.json")
    text = str(error.value)
    assert text.startswith("results/c/sr/wave.line.json")
    assert "rerun rule 'sr_scores'" in text and "snakemake --forcerun sr_scores" in text


def test_unreadable_and_missing_json(tmp_path):
    broken = tmp_path / "m.fit.json"
    broken.write_text("{not json")
    with pytest.raises(
        results.ResultContractError, match=r"not valid JSON.*rule 'fit_mixed_model'"
    ):
        results.MixedFit.read(broken)
    with pytest.raises(results.ResultContractError, match="mixed-model fit file is missing"):
        results.MixedFit.read(tmp_path / "absent.fit.json")


def test_table_contracts_check_columns_and_kinds(tmp_path):
    table = pd.DataFrame(
        {
            "term": ["Intercept"],
            "estimate": [1.0],
            "se": [0.1],
            "statistic": [10.0],
            "p": [0.0],
            "ci_low": [0.8],
            "ci_high": [1.2],
        }
    )
    results.FIXED_TABLE.write(table, tmp_path / "f.csv")
    assert results.FIXED_TABLE.read(tmp_path / "f.csv").equals(table)
    with pytest.raises(
        results.ResultContractError, match=r"lacks column\(s\) \['se'\].*rule 'fit_mixed_model'"
    ):
        results.FIXED_TABLE.check(table.drop(columns="se"), "mixed/m.fixed.csv")
    with pytest.raises(results.ResultContractError, match=r"unknown column\(s\) \['coef'\]"):
        results.FIXED_TABLE.check(table.assign(coef=1.0))
    with pytest.raises(
        results.ResultContractError, match=r"column 'estimate': expected numbers, found 'big'"
    ):
        results.FIXED_TABLE.check(table.assign(estimate=["big"]))
    ledger = pd.DataFrame(
        {
            "source_row": [1, 2.5],
            "participant_id": ["a", "b"],
            "wave": [1, 1],
            "status": ["kept", "kept"],
            "reason": ["", ""],
            "flags": ["", ""],
        }
    )
    with pytest.raises(
        results.ResultContractError,
        match=r"column 'source_row': expected whole numbers, found 2\.5",
    ):
        results.LEDGER_TABLE.check(ledger)
    selection = pd.DataFrame(
        {
            "method": ["lcga"],
            "degree": [2],
            "K": [1],
            "converged": ["maybe"],
            "status": ["ok"],
            "error": [""],
        }
    )
    with pytest.raises(
        results.ResultContractError, match="column 'converged': expected True/False"
    ):
        results.SELECTION_TABLE.check(selection)


def test_text_columns_read_as_text(tmp_path):
    """An all-empty reason column and numeric-looking ids stay text (the report compares with "")."""
    path = tmp_path / "ledger.csv"
    path.write_text("source_row,participant_id,wave,status,reason,flags\n1,007,1,kept,,\n")
    ledger = results.LEDGER_TABLE.read(path)
    assert ledger["participant_id"].tolist() == ["007"] and ledger["reason"].tolist() == [""]


def test_package_doctests():
    failures, tried = doctest.testmod(srflow.results, verbose=False)
    assert tried >= 2 and failures == 0
