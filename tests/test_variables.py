"""The variable grammar and resolver (srflow.variables) against hand computations.

Every expected value below is worked out by hand in the comment next to it; tolerances are
1e-12 (floating-point rounding only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srflow.errors import ConfigError, ModelError
from srflow.variables import (
    Base,
    GrammarError,
    parse_term,
    resolve_variables,
    term_problems,
)

# ------------------------------------------------------------------------------------
# Grammar
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, factors",
    [
        ("E", [(("column", "E"), (), 1)]),
        ("sr_z:observation", [(("sr_z", "observation"), (), 1)]),
        ("z(E):optimism", [(("column", "E"), ("z",), 1), (("column", "optimism"), (), 1)]),
        ("z(within(lag(GSE)))", [(("column", "GSE"), ("z", "within", "lag"), 1)]),
        ("between(sr:person)^2", [(("sr", "person"), ("between",), 2)]),
        ("sr:person:wave^3", [(("sr", "person"), (), 1), (("column", "wave"), (), 3)]),
        ("lag(E):z(lag(E))", [(("column", "E"), ("lag",), 1), (("column", "E"), ("z", "lag"), 1)]),
    ],
)
def test_parse_valid_terms(text, factors):
    term = parse_term(text)
    assert term.text == text
    got = [((f.base.kind, f.base.name), f.transforms, f.power) for f in term.factors]
    assert got == factors
    assert ":".join(f.text for f in term.factors) == text  # names round-trip as written


@pytest.mark.parametrize(
    "text, message",
    [
        ("z(E", "expected ')' closing z( at position 3, found the end"),
        ("lag(z(E))", "nest in a way the grammar does not allow"),
        ("within(between(E))", "nest in a way the grammar does not allow"),
        ("z(z(E))", "nest in a way the grammar does not allow"),
        ("between(within(E))", "nest in a way the grammar does not allow"),
        ("E:E", "E appears twice in the interaction; write a power such as E^2"),
        ("E^4", "expected the power 2 or 3 after '^' at position 2"),
        ("sr:", "expected an SR spec name after 'sr:' at position 3"),
        ("z (E)", "may not contain spaces"),
        ("", "non-empty text"),
        ("E:", "expected a column name"),
        ("log(E)", "unknown transform 'log(' at position 0"),
        ("E)", "expected ':' or the end of the term at position 1, found ')'"),
    ],
)
def test_grammar_errors_say_where(text, message):
    with pytest.raises(GrammarError) as info:
        parse_term(text)
    assert message in str(info.value)


def test_term_problems_for_the_config_check():
    levels = {"per_wave": "wave", "win": "sliding", "person": "period"}
    assert term_problems("z(E):sr:person", "m.fixed", {"E"}, levels) == []
    assert term_problems("z(E", "m.fixed", {"E"}, levels)[0].startswith(
        "m.fixed: 'z(E' is not a valid term: expected ')' closing z( at position 3"
    )
    sliding = term_problems("sr:win", "m.fixed", {"E"}, levels)
    assert len(sliding) == 1 and "SR spec 'win' of level sliding" in sliding[0]
    assert term_problems("sr_z:nope", "m.outcome", {"E"}, levels) == [
        "m.outcome: 'sr_z:nope' names SR spec 'nope', which does not exist (SR specs: per_wave, person, win)"
    ]
    assert (
        "not allowed here (allowed transforms: z())"
        in term_problems("lag(E)", "r.predictors", {"E"}, levels, transforms=("z",))[0]
    )
    assert term_problems("E:P", "r.outcome", {"E", "P"}, levels, single=True) == [
        "r.outcome: 'E:P' must be a single variable (no interaction, no power)"
    ]


# ------------------------------------------------------------------------------------
# Transforms
# ------------------------------------------------------------------------------------


def test_lag_is_keyed_on_wave_numbers_with_gaps():
    # a: waves 1, 2, 4, 5 (3 missing); b: waves 3, 2 (given out of order); c: wave 1 only.
    scores = pd.DataFrame(
        {
            "participant_id": ["a", "a", "a", "a", "b", "b", "c"],
            "wave": [1, 2, 4, 5, 3, 2, 1],
            "x": [10.0, 20.0, 40.0, 50.0, 300.0, 200.0, 7.0],
        }
    )
    out = resolve_variables(scores, {}, ["x", "lag(x)"])
    # lag exists where wave - 1 is observed: a2 <- a1 (10), a5 <- a4 (40), b3 <- b2 (200)
    assert out.rows.tolist() == [1, 3, 4]
    assert out.frame["lag(x)"].tolist() == [10.0, 40.0, 200.0]
    assert out.frame[["participant_id", "wave"]].values.tolist() == [["a", 2], ["a", 5], ["b", 3]]


def test_lag_of_a_missing_previous_value_is_missing():
    scores = pd.DataFrame(
        {
            "participant_id": ["a", "a", "a"],
            "wave": [1, 2, 3],
            "x": [np.nan, 2.0, 3.0],
            "y": [1.0, 1.0, 5.0],
        }
    )
    out = resolve_variables(scores, {}, ["y", "lag(x)"])
    assert out.rows.tolist() == [2] and out.frame["lag(x)"].tolist() == [2.0]


def test_lag_with_one_wave_per_participant_is_a_clear_error():
    scores = pd.DataFrame(
        {
            "participant_id": ["a", "b", "c"],
            "wave": [1, 1, 2],
            "age": [30.0, 40.0, 50.0],
            "P": [1.0, 2.0, 3.0],
        }
    )
    with pytest.raises(ModelError) as info:
        resolve_variables(scores, {}, ["P", "lag(age)"], where="mixed_models.m.fixed")
    assert str(info.value) == (
        "mixed_models.m.fixed: lag(age) is missing on every row: no participant has "
        "age at two consecutive wave numbers (w - 1 and w)"
    )


def test_within_and_between_use_the_models_rows_on_unbalanced_data():
    # a: E = 1, 2, 6 but y is missing at wave 3, so a's model rows are waves 1-2: mean 1.5.
    # b: E = 4 (one row). c: E = 3, 5, 10, 2 (all complete): mean 5.
    scores = pd.DataFrame(
        {
            "participant_id": ["a", "a", "a", "b", "c", "c", "c", "c"],
            "wave": [1, 2, 3, 1, 1, 2, 3, 4],
            "E": [1.0, 2.0, 6.0, 4.0, 3.0, 5.0, 10.0, 2.0],
            "y": [0.0, 1.0, np.nan, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    out = resolve_variables(scores, {}, ["y", "within(E)", "between(E)", "z(between(E))"])
    assert out.rows.tolist() == [0, 1, 3, 4, 5, 6, 7]
    assert out.frame["between(E)"].tolist() == [1.5, 1.5, 4.0, 5.0, 5.0, 5.0, 5.0]
    assert out.frame["within(E)"].tolist() == [-0.5, 0.5, 0.0, -2.0, 0.0, 5.0, -3.0]
    # z over the 7 model rows of between(E): mean 27/7, SD with ddof 1
    b = np.array([1.5, 1.5, 4.0, 5.0, 5.0, 5.0, 5.0])
    np.testing.assert_allclose(
        out.frame["z(between(E))"], (b - b.mean()) / b.std(ddof=1), rtol=1e-12
    )


def test_z_is_computed_after_the_complete_case_filter():
    scores = pd.DataFrame(
        {
            "participant_id": list("abcde"),
            "wave": [1] * 5,
            "x": [1.0, 2.0, 3.0, 4.0, 100.0],
            "y": [1.0, 0.0, 2.0, 1.0, np.nan],
        }
    )
    out = resolve_variables(scores, {}, ["y", "z(x)", "z(x):y", "x^2"])
    # model rows: a-d; x = 1..4, mean 2.5, SD sqrt(5/3) (the 100 of row e does not count)
    z = (np.array([1.0, 2.0, 3.0, 4.0]) - 2.5) / np.sqrt(5 / 3)
    np.testing.assert_allclose(out.frame["z(x)"], z, rtol=1e-12)
    np.testing.assert_allclose(out.frame["z(x):y"], z * np.array([1.0, 0.0, 2.0, 1.0]), rtol=1e-12)
    assert out.frame["x^2"].tolist() == [1.0, 4.0, 9.0, 16.0]
    assert list(out.frame.columns) == ["participant_id", "wave", "y", "z(x)", "z(x):y", "x^2"]


def test_z_of_a_constant_and_transforms_of_text_are_errors():
    scores = pd.DataFrame(
        {
            "participant_id": list("abc"),
            "wave": [1, 1, 1],
            "x": [2.0, 2.0, 2.0],
            "g": ["u", "v", "u"],
        }
    )
    with pytest.raises(ModelError, match=r"^m: z\(x\) is undefined: the variable is constant"):
        resolve_variables(scores, {}, ["z(x)"], where="m")
    with pytest.raises(ConfigError, match=r"^m: within\(g\) needs a numeric variable"):
        resolve_variables(scores, {}, ["within(g)"], where="m")
    with pytest.raises(ConfigError, match=r"multiplies or powers the non-numeric g"):
        resolve_variables(scores, {}, ["x:g"], where="m")


def test_text_columns_pass_through_and_can_be_lagged():
    scores = pd.DataFrame(
        {"participant_id": ["a", "a", "b"], "wave": [1, 2, 2], "g": ["u", "v", "w"]}
    )
    out = resolve_variables(scores, {}, ["g", "lag(g)"])
    assert out.frame[["g", "lag(g)"]].values.tolist() == [["v", "u"]]


def test_grammar_errors_and_unknown_columns_raise_config_errors_naming_the_key():
    scores = pd.DataFrame({"participant_id": ["a"], "wave": [1], "E": [1.0]})
    with pytest.raises(ConfigError, match=r"^mixed_models\.m\.fixed: 'z\(E' is not a valid term"):
        resolve_variables(scores, {}, ["z(E"], where="mixed_models.m.fixed")
    with pytest.raises(
        ConfigError, match=r"^mixed_models\.m\.fixed: 'GSE' is not a column of the scores table"
    ):
        resolve_variables(scores, {}, ["within(GSE)"], where="mixed_models.m.fixed")


# ------------------------------------------------------------------------------------
# SR scores as variables
# ------------------------------------------------------------------------------------


@pytest.fixture
def cohort():
    """3 participants, waves 1-3 (b lacks wave 2), and one SR table of each level."""
    scores = pd.DataFrame(
        {
            "participant_id": ["a", "a", "a", "b", "b", "c", "c", "c"],
            "wave": [1, 2, 3, 1, 3, 1, 2, 3],
            "E": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        }
    )
    row = pd.DataFrame(
        {
            "participant_id": ["a", "a", "b", "c", "c", "c"],
            "wave": [1, 3, 3, 1, 2, 3],
            "E": 0.0,
            "P": 0.0,
            "P_expected": 0.0,
            "sr": [0.1, 0.3, 1.3, 2.1, 2.2, 2.3],
            "sr_z": [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5],
        }
    )
    change = pd.DataFrame(
        {
            "participant_id": ["a", "a", "c"],
            "wave_from": [1, 2, 2],
            "wave": [2, 3, 3],
            "E": 0.0,
            "P_previous": 0.0,
            "P": 0.0,
            "P_expected": 0.0,
            "sr": [12.0, 23.0, 33.0],
            "sr_z": [-1.0, 0.0, 1.0],
        }
    )
    period = pd.DataFrame(
        {
            "participant_id": ["c", "a"],
            "E": 0.0,
            "P": 0.0,
            "P_expected": 0.0,
            "sr": [-7.0, 5.0],
            "sr_z": [-0.7, 0.7],
        }
    )
    sliding = pd.DataFrame(
        {
            "participant_id": ["a"],
            "window": [1],
            "E": 0.0,
            "P": 0.0,
            "P_expected": 0.0,
            "sr": [1.0],
            "sr_z": [0.0],
        }
    )
    tables = {
        "per_wave": row,
        "observation": row.copy(),
        "change": change,
        "person": period,
        "sliding3": sliding,
    }
    return scores, tables


@pytest.mark.parametrize("spec", ["per_wave", "observation"])
def test_row_level_sr_joins_on_participant_and_wave(cohort, spec):
    scores, tables = cohort
    out = resolve_variables(scores, tables, ["E", f"sr:{spec}", f"sr_z:{spec}"])
    # scores rows without an SR row (a2, b1) are not in the model
    assert out.rows.tolist() == [0, 2, 4, 5, 6, 7]
    assert out.frame[f"sr:{spec}"].tolist() == [0.1, 0.3, 1.3, 2.1, 2.2, 2.3]
    assert out.frame[f"sr_z:{spec}"].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]


def test_change_sr_joins_at_the_intervals_end_wave(cohort):
    scores, tables = cohort
    out = resolve_variables(scores, tables, ["sr:change", "E"])
    assert out.frame[["participant_id", "wave"]].values.tolist() == [["a", 2], ["a", 3], ["c", 3]]
    assert out.frame["sr:change"].tolist() == [12.0, 23.0, 33.0]


def test_period_sr_gives_every_row_of_a_participant_the_same_value(cohort):
    scores, tables = cohort
    out = resolve_variables(scores, tables, ["sr:person", "E", "within(E):sr_z:person"])
    assert out.rows.tolist() == [0, 1, 2, 5, 6, 7]  # b has no period score
    assert out.frame["sr:person"].tolist() == [5.0, 5.0, 5.0, -7.0, -7.0, -7.0]
    # within(E): a -1, 0, 1 (mean 2) times 0.7; c -1, 0, 1 (mean 7) times -0.7
    np.testing.assert_allclose(
        out.frame["within(E):sr_z:person"], [-0.7, 0.0, 0.7, 0.7, 0.0, -0.7], rtol=1e-12
    )


def test_sliding_sr_cannot_be_joined_and_failed_specs_say_why(cohort):
    scores, tables = cohort
    with pytest.raises(ConfigError) as info:
        resolve_variables(scores, tables, ["sr:sliding3"], where="mixed_models.m.outcome")
    assert str(info.value) == (
        "mixed_models.m.outcome: SR spec 'sliding3' has level sliding (one score per "
        "participant and window), which cannot be joined to a model's rows"
    )
    with pytest.raises(ModelError) as info:
        resolve_variables(
            scores,
            tables,
            ["sr:per_wave"],
            where="m.outcome",
            sr_failures={"per_wave": "SR spec 'per_wave': E is constant in wave 2"},
        )
    assert str(info.value) == (
        "m.outcome: SR spec 'per_wave' failed, so sr:per_wave has no values: "
        "SR spec 'per_wave': E is constant in wave 2"
    )
    with pytest.raises(ConfigError, match=r"^m: no SR table for spec 'other'"):
        resolve_variables(scores, tables, ["sr:other"], where="m")


def test_sr_join_ignores_how_the_participant_id_was_read(cohort):
    scores, _ = cohort
    scores = scores.assign(
        participant_id=scores["participant_id"].map({"a": "1", "b": "2", "c": "3"})
    )
    period = pd.DataFrame({"participant_id": [3, 1], "sr": [-7.0, 5.0], "sr_z": [-0.7, 0.7]})
    out = resolve_variables(scores, {"person": period}, ["sr:person"])
    assert out.frame["sr:person"].tolist() == [5.0, 5.0, 5.0, -7.0, -7.0, -7.0]


def test_base_repr():
    assert Base("sr_z", "person").text == "sr_z:person" and Base("column", "E").text == "E"
