"""Tests of srflow.attrition: "P observed at the last wave" on the baseline covariates.

Known answers: R 4.2 ``glm(family = binomial)`` on the data of tests/reference/attrition.R
(outputs in tests/data/attrition/), and the closed form of a logistic regression on one
binary predictor (log odds ratio of a 2 x 2 table, SE sqrt(1/a + 1/b + 1/c + 1/d)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srflow.attrition import LogisticRegression, fit_attrition
from srflow.results import ATTRITION_TABLE, AttritionFit

DATA = Path(__file__).resolve().parent / "data" / "attrition"
TYPES = {"age": "numeric", "gender": "category", "arm": "category"}
R_TERMS = {
    "(Intercept)": "Intercept",
    "age": "age",
    "gendermale": "gender[T.male]",
    "genderother": "gender[T.other]",
    "armtreatment": "arm[T.treatment]",
}


def _scores() -> pd.DataFrame:
    return pd.read_csv(DATA / "scores.csv", dtype={"participant_id": str})


def test_equals_r_glm():
    result = fit_attrition(_scores(), TYPES)
    reference = pd.read_csv(DATA / "glm_coefficients.csv")
    reference["term"] = reference["term"].map(R_TERMS)
    table = result.coefficients
    assert table["term"].tolist() == reference["term"].tolist()
    for column in ("estimate", "se", "statistic", "p", "ci_low", "ci_high"):
        # R stopped at its own convergence (epsilon 1e-14): agreement to about 1e-10
        np.testing.assert_allclose(table[column], reference[column], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(table["odds_ratio"], np.exp(table["estimate"]), rtol=1e-15)
    np.testing.assert_allclose(table["or_ci_high"], np.exp(table["ci_high"]), rtol=1e-15)
    fit = pd.read_csv(DATA / "glm_fit.csv").iloc[0]
    got = result.fit
    assert got["n_obs"] == fit["n_obs"] == 287  # 300 - p001 (no wave 1) - 12 without age
    assert got["n_dropped_missing"] == 12 and got["n_retained"] == fit["n_retained"]
    for key in ("loglik", "null_loglik", "lr_statistic", "lr_p", "aic"):
        assert got[key] == pytest.approx(fit[key], rel=1e-9), key
    assert got["lr_df"] == fit["lr_df"] == 4
    assert got["status"] == "ok" and got["reason"] is None and got["max_gradient"] < 1e-10
    assert got["first_wave"] == 1 and got["last_wave"] == 3


def test_one_binary_predictor_by_hand():
    # 2 x 2 table: x = 0: 3 of 10 retained; x = 1: 8 of 12 retained
    x = np.r_[np.zeros(10), np.ones(12)]
    y = np.r_[np.ones(3), np.zeros(7), np.ones(8), np.zeros(4)]
    model = LogisticRegression().fit(np.column_stack([np.ones(22), x]), y)
    assert model.coef_[0] == pytest.approx(np.log(3 / 7), rel=1e-12)
    assert model.coef_[1] == pytest.approx(np.log(8 / 4) - np.log(3 / 7), rel=1e-12)
    assert model.se_[1] == pytest.approx(np.sqrt(1 / 3 + 1 / 7 + 1 / 8 + 1 / 4), rel=1e-10)
    assert model.converged_


def _two_waves(retained: list[int], covariate: list, kind: str = "numeric") -> pd.DataFrame:
    """A scores table: everyone at wave 1, P at wave 2 only for the retained."""
    n = len(retained)
    ids = [f"p{i:02d}" for i in range(n)]
    first = pd.DataFrame({"participant_id": ids, "wave": 1, "P": 1.0, "c": covariate})
    last = first.assign(wave=2, P=[1.0 if r else np.nan for r in retained])
    return pd.concat([first, last], ignore_index=True)


@pytest.mark.parametrize(
    ("retained", "covariate", "reason"),
    [
        ([1] * 6, [1, 2, 3, 4, 5, 6], "every participant of the first wave is observed"),
        ([0] * 6, [1, 2, 3, 4, 5, 6], "no participant of the first wave is observed"),
        ([0, 0, 0, 1, 1, 1], [1, 2, 3, 4, 5, 6], "complete separation"),
        ([0, 1, 0, 1, 0, 1], [2, 2, 2, 2, 2, 2], "rank 1 for 2 coefficients (constant: c)"),
    ],
)
def test_unfittable_data_fail_with_the_reason(retained, covariate, reason, tmp_path):
    result = fit_attrition(_two_waves(retained, covariate), {"c": "numeric"})
    assert result.fit["status"] == "failed" and reason in result.fit["reason"]
    assert result.coefficients.empty
    # a failed model still writes both files through the contract
    ATTRITION_TABLE.write(result.coefficients, tmp_path / "attrition.csv")
    AttritionFit.from_json(result.fit).write(tmp_path / "attrition.json")
    assert AttritionFit.read(tmp_path / "attrition.json").status == "failed"


def test_quasi_complete_separation_is_suspect():
    # category level b: all retained (its estimate runs off to infinity); a: mixed
    retained = [0, 1, 0, 1, 1, 0, 1, 1, 1, 1]
    group = ["a"] * 6 + ["b"] * 4
    result = fit_attrition(_two_waves(retained, group), {"c": "category"})
    assert result.fit["status"] == "suspect"
    assert "quasi-complete separation" in result.fit["reason"]


def test_one_wave_and_no_usable_covariate_fail():
    one_wave = _two_waves([1, 0, 1], [1, 2, 3])
    one_wave = one_wave[one_wave["wave"] == 1]
    result = fit_attrition(one_wave, {"c": "numeric"})
    assert result.fit["status"] == "failed" and "one wave only" in result.fit["reason"]
    text = fit_attrition(_two_waves([1, 0, 1], ["x", "y", "z"]), {"c": "string"})
    assert "no numeric or category covariate" in text.fit["reason"]
    assert text.fit["covariates"] == []


def test_treatment_coding_against_the_first_sorted_level():
    rng = np.random.default_rng(4)
    group = rng.choice(["placebo", "drug", "control"], size=120).tolist()
    retained = (rng.random(120) < 0.6).astype(int).tolist()
    result = fit_attrition(_two_waves(retained, group), {"c": "category"})
    assert result.coefficients["term"].tolist() == ["Intercept", "c[T.drug]", "c[T.placebo]"]
    # saturated in the groups: intercept = log odds of control, others log odds ratios
    y, g = np.array(retained), np.array(group)

    def logit(level):
        p = y[g == level].mean()
        return np.log(p / (1 - p))

    estimate = result.coefficients["estimate"].to_numpy()
    np.testing.assert_allclose(
        estimate,
        [logit("control"), logit("drug") - logit("control"), logit("placebo") - logit("control")],
        rtol=1e-10,
    )
