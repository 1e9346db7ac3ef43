"""Mixed models on variables of the variable grammar, against lme4 + lmerTest.

The reference is tests/reference/mixed_variables.R (outputs in tests/data/mixed_variables,
inputs written by tests/reference/mixed_variables_data.py from the bundled cohort, with a
simulated time-varying covariate GSE, seed 20261202). Tolerances: estimates 1e-5 relative,
SEs 1e-4 relative, Satterthwaite df 1 % relative, p 1e-4 absolute plus 1 % relative, log-
likelihood 1e-6 absolute. R is never run here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srflow.errors import ConfigError
from srflow.mixed import MixedModelSpec, fit_mixed_model, likelihood_ratio_test

DATA = Path(__file__).parent / "data" / "mixed_variables"

MODELS = {
    "authors": MixedModelSpec("z(P)", ["z(E)"], ["z(E)"], method="reml", name="authors"),
    "sr_within_between": MixedModelSpec(
        "sr_z:observation",
        ["within(GSE)", "between(GSE)", "lag(E)"],
        ["within(GSE)"],
        method="reml",
        name="sr_within_between",
    ),
    "moderation_ml": MixedModelSpec(
        "z(P)",
        ["z(E)", "within(GSE)", "z(E):within(GSE)"],
        ["z(E)"],
        method="ml",
        name="moderation_ml",
    ),
}


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    return pd.read_csv(DATA / "long.csv", dtype={"participant_id": str})


@pytest.fixture(scope="module")
def sr_tables() -> dict[str, pd.DataFrame]:
    table = pd.read_csv(DATA / "sr_observation.csv", dtype={"participant_id": str})
    return {"observation": table}


@pytest.fixture(scope="module")
def fits(scores, sr_tables):
    return {
        name: fit_mixed_model(scores, spec, profile=False, sr_tables=sr_tables)
        for name, spec in MODELS.items()
    }


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fixed_effects_equal_lmertest_satterthwaite(fits, name):
    result = fits[name]
    assert result.status == "ok", result.reason
    reference = pd.read_csv(DATA / f"{name}__fixed.csv")
    ours = result.fixed.set_index("term").loc[reference["term"]]
    np.testing.assert_allclose(ours["estimate"], reference["estimate"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(ours["se"], reference["se"], rtol=1e-4)
    np.testing.assert_allclose(ours["df"], reference["df"], rtol=0.01)
    np.testing.assert_allclose(ours["statistic"], reference["t"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours["p"], reference["p"], rtol=0.01, atol=1e-4)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fit_equals_lme4(fits, name):
    result = fits[name]
    reference = pd.read_csv(DATA / f"{name}__fit.csv").iloc[0]
    assert result.fit["n_obs"] == reference["n_obs"]
    assert result.fit["n_groups"] == reference["n_groups"]
    assert result.fit["loglik"] == pytest.approx(reference["loglik"], abs=1e-6)
    components = result.fit["variance_components"]
    assert components["residual_sd"] == pytest.approx(reference["sigma"], rel=1e-4)
    for term, sd in components["sd"].items():
        assert sd == pytest.approx(reference[f"sd_{term}"], rel=1e-3)


def test_terms_are_named_as_the_config_writes_them(fits):
    assert fits["moderation_ml"].fixed["term"].tolist() == [
        "Intercept",
        "z(E)",
        "within(GSE)",
        "z(E):within(GSE)",
    ]
    assert list(fits["sr_within_between"].random.columns[:3]) == [
        "participant_id",
        "Intercept",
        "within(GSE)",
    ]


def test_rows_dropped_are_counted_against_the_scores_table(fits, scores):
    fit = fits["sr_within_between"].fit
    assert fit["n_obs"] + fit["n_dropped_missing"] == len(scores)


def test_a_failed_sr_spec_fails_the_model_with_its_reason(scores, sr_tables):
    result = fit_mixed_model(
        scores,
        MODELS["sr_within_between"],
        profile=False,
        sr_tables={"observation": sr_tables["observation"].iloc[:0]},
        sr_failures={"observation": "the normative line could not be fitted"},
    )
    assert result.status == "failed"
    assert "SR spec 'observation' failed" in result.reason
    assert "the normative line could not be fitted" in result.reason
    assert result.fit["reason"] == result.reason and result.fixed.empty


def test_unknown_columns_and_specs_are_config_errors_naming_the_model(scores, sr_tables):
    with pytest.raises(ConfigError, match=r"mixed_models\.m: 'NOPE' is not a column"):
        fit_mixed_model(scores, MixedModelSpec("z(P)", ["z(NOPE)"], name="m"), profile=False)
    with pytest.raises(ConfigError, match=r"mixed_models\.m: no SR table for spec 'other'"):
        fit_mixed_model(scores, MixedModelSpec("sr:other", ["E"], name="m"), sr_tables=sr_tables)
    with pytest.raises(ConfigError, match=r"mixed_models\.m\.fixed\[1\]: term 'lag\(z\(E\)\)'"):
        MixedModelSpec("P", ["E", "lag(z(E))"], name="m")


def test_a_random_term_must_vary_within_participants(scores):
    with pytest.raises(ConfigError, match=r"random\[0\].*row-varying"):
        MixedModelSpec("P", ["between(E)"], ["between(E)"], name="m")
    person_level = scores.assign(base=scores.groupby("participant_id")["E"].transform("first"))
    result = fit_mixed_model(
        person_level, MixedModelSpec("z(P)", ["z(base)"], ["z(base)"], name="m"), profile=False
    )
    assert result.status == "failed"
    assert "does not vary within any participant" in result.reason


def test_likelihood_ratio_test_resolves_both_models_on_the_same_rows(scores, sr_tables):
    small = MixedModelSpec("z(P)", ["z(E)"], [], name="small")
    large = MixedModelSpec("z(P)", ["z(E)"], ["z(E)"], name="large")
    out = likelihood_ratio_test(scores, small, large, sr_tables=sr_tables)
    assert out["status"] == "ok"
    fitted = [
        fit_mixed_model(scores, spec.with_method("ml"), profile=False) for spec in (small, large)
    ]
    assert out["loglik_small"] == pytest.approx(fitted[0].fit["loglik"], abs=1e-6)
    assert out["loglik_large"] == pytest.approx(fitted[1].fit["loglik"], abs=1e-6)


# --------------------------------------------------------------------------------------
# Config-time checks (before any data is read)
# --------------------------------------------------------------------------------------


def _config_error(mixed_models: dict, per_cohort: bool = False) -> str:
    import yaml

    from srflow.config import load_config

    raw = yaml.safe_load((Path(__file__).parents[1] / "config" / "config.yaml").read_text())
    if per_cohort:
        raw["cohorts"]["synthetic"]["mixed_models"] = mixed_models
    else:
        raw["mixed_models"] = mixed_models
    with pytest.raises(ConfigError) as info:
        load_config(raw)
    return str(info.value)


def test_config_errors_name_the_block_and_key():
    message = _config_error(
        {
            "unknown_spec": {"outcome": "sr_z:nope", "fixed": ["E"]},
            "sliding": {"outcome": "P", "fixed": ["E", "sr:sliding3"]},
            "grammar": {"outcome": "P", "fixed": ["z(E"]},
            "column": {"outcome": "P", "fixed": ["within(GSE)"]},
            "random_between": {"outcome": "P", "fixed": ["E"], "random": ["between(E)"]},
            "random_person": {"outcome": "P", "fixed": ["E"], "random": ["sr:person"]},
            "fine": {"outcome": "sr_z:observation", "fixed": ["within(E)", "lag(E)"]},
        }
    )
    assert (
        "mixed_models.unknown_spec.outcome: 'sr_z:nope' names SR spec 'nope', which does not exist"
        in message
    )
    assert (
        "mixed_models.sliding.fixed[1]: 'sr:sliding3' names SR spec 'sliding3' of level sliding"
        in (message)
    )
    assert "mixed_models.grammar.fixed[0]: 'z(E' is not a valid term: expected ')'" in message
    assert (
        "mixed_models.column.fixed[0]: 'within(GSE)' names 'GSE', which is not a column" in message
    )
    assert "mixed_models.random_between.random[0]: 'between(E)' cannot be a random term" in message
    assert "mixed_models.random_person.random[0]: 'sr:person' cannot be a random term" in message
    assert "row-varying" in message
    assert "mixed_models.fine" not in message


def test_per_cohort_blocks_are_named_with_their_cohort():
    message = _config_error({"m": {"outcome": "P", "fixed": ["z(NOPE)"]}}, per_cohort=True)
    assert "cohorts.synthetic.mixed_models.m.fixed[0]: 'z(NOPE)' names 'NOPE'" in message
