"""Tests of srflow.scoring against hand-computed scores and synthetic ground truth.

Every expected number below is computed by hand from the tiny fixture next to it
(the arithmetic is written out in the comment or in the expression); tolerances are
exact equality for sums/counts of small integers and 1e-12 relative otherwise.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srflow import scoring
from srflow.config import load_config
from srflow.errors import ConfigError, DataWarning, InputError, ValidationError
from srflow.io import read_cohort
from srflow.validation import validate

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC = REPO / "data" / "synthetic"
NAN = np.nan


def make_cohort(instruments: dict, *, covariates: dict | None = None, combine: str = "sum"):
    """A CohortConfig from a config mapping (validated by srflow.config like a real one)."""
    raw = {
        "cohorts": {
            "t": {
                "input": "unused.csv",
                "columns": {"participant": "pid", "wave": "wave", "covariates": covariates or {}},
                "instruments": instruments,
                "exposure": {"combine": combine},
            }
        }
    }
    return load_config(raw).cohort("t")


def make_table(
    items: dict[str, list], *, ids=None, waves=None, time=None, extra: dict | None = None
) -> pd.DataFrame:
    """A validated-like table: keys, float64 items, optional extra (covariate) columns."""
    n = len(next(iter(items.values())))
    table = pd.DataFrame(
        {
            "source_row": np.arange(1, n + 1, dtype=np.int64),
            "participant_id": pd.array(
                ids if ids is not None else [f"p{i:02d}" for i in range(n)], dtype="str"
            ),
            "wave": np.asarray(waves if waves is not None else [1] * n, dtype=np.int64),
            "time": np.asarray(time if time is not None else [NAN] * n, dtype=np.float64),
        }
    )
    for name, values in items.items():
        table[name] = np.asarray(values, dtype=np.float64)
    for name, values in (extra or {}).items():
        table[name] = values
    return table


def ghq(score="prorated_sum", min_answered=0.8, **extra):
    return {
        "role": "problems",
        "items": {"prefix": "CM_"},
        "range": [0, 3],
        "score": score,
        "min_answered": min_answered,
        **extra,
    }


def twelve_items(rows: list[list[float]]) -> dict[str, list[float]]:
    matrix = np.asarray(rows, dtype=float)
    return {f"CM_{j + 1:02d}": matrix[:, j] for j in range(matrix.shape[1])}


# --- problems scores ----------------------------------------------------------------------


def test_prorated_sum_with_two_and_three_missing_items():
    rows = [
        [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3],  # complete: sum 18
        [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, NAN, NAN],  # 10 of 12 (0.833 >= 0.8): mean 15/10 * 12 = 18
        [3, 3, 3, 0, 0, 0, 1, 1, 1, NAN, NAN, NAN],  # 9 of 12 (0.75 < 0.8): missing
        [NAN] * 12,  # nothing answered: missing, never 0
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, NAN],  # 11 answered: 1/11 * 12
    ]
    out = scoring.score(make_table(twelve_items(rows)), make_cohort({"ghq": ghq()}))
    expected = [18.0, 18.0, NAN, NAN, 12.0 / 11.0]
    np.testing.assert_allclose(out["P"].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(out["ghq"].to_numpy(), out["P"].to_numpy())
    assert out["P"].iloc[0] == 18.0  # complete rows are exact (sum * 12 / 12)


def test_sum_needs_every_item_and_all_missing_is_nan_not_zero():
    rows = [
        [1] * 12,  # sum 12
        [1] * 11 + [NAN],  # one item missing: sum score is missing
        [NAN] * 12,  # all missing: NaN (pandas' sum would give 0)
        [0] * 12,  # a real zero stays 0
    ]
    out = scoring.score(make_table(twelve_items(rows)), make_cohort({"ghq": ghq(score="sum")}))
    np.testing.assert_array_equal(out["P"].to_numpy(), [12.0, NAN, NAN, 0.0])


@pytest.mark.parametrize("method", ["sum", "mean", "prorated_sum"])
def test_no_answered_item_is_nan_for_every_method(method):
    # min_answered at its smallest allowed share: even then an empty questionnaire is missing.
    out = scoring.score(
        make_table(twelve_items([[NAN] * 12, [2] * 12])),
        make_cohort({"ghq": ghq(score=method, min_answered=0.01)}),
    )
    assert math.isnan(out["P"].iloc[0])
    assert out["P"].iloc[1] == {"sum": 24.0, "mean": 2.0, "prorated_sum": 24.0}[method]


def test_mean_uses_answered_items_and_min_answered_share():
    items = {"CM_1": [1, 1, 2], "CM_2": [NAN, NAN, 2], "CM_3": [3, NAN, 2], "CM_4": [NAN, NAN, 3]}
    out = scoring.score(
        make_table(items), make_cohort({"ghq": ghq(score="mean", min_answered=0.5)})
    )
    # (1 + 3) / 2 = 2 with 2/4 answered; 1/4 answered < 0.5 -> missing; (2+2+2+3)/4 = 2.25
    np.testing.assert_array_equal(out["P"].to_numpy(), [2.0, NAN, 2.25])


def test_min_answered_share_is_not_defeated_by_float_rounding():
    # 0.7 * 10 = 7.000000000000001 in binary; 7 of 10 answered must still be enough.
    items = {f"CM_{j:02d}": [1.0 if j <= 7 else NAN, 1.0 if j <= 6 else NAN] for j in range(1, 11)}
    out = scoring.score(
        make_table(items), make_cohort({"ghq": ghq(score="prorated_sum", min_answered=0.7)})
    )
    np.testing.assert_array_equal(out["P"].to_numpy(), [10.0, NAN])  # 7/7*10; 6 of 10 < 0.7


def test_reverse_items_on_0_to_3():
    items = {"CM_1": [0, 1, 2, 3], "CM_2": [0, 1, 2, NAN], "CM_3": [3, 3, 0, 1]}
    cohort = make_cohort({"ghq": ghq(score="sum", reverse=["CM_2", "CM_3"])})
    out = scoring.score(make_table(items), cohort)
    # row sums: 0 + (3-0) + (3-3) = 3; 1 + 2 + 0 = 3; 2 + 1 + 3 = 6; CM_2 missing -> NaN
    np.testing.assert_array_equal(out["P"].to_numpy(), [3.0, 3.0, 6.0, NAN])
    matrix = scoring.item_matrix(make_table(items), cohort.problems, ["CM_1", "CM_2", "CM_3"])
    np.testing.assert_array_equal(matrix[:, 1], [3, 2, 1, NAN])


def test_reverse_on_a_range_not_starting_at_zero():
    items = {"CM_1": [1, 5, 3], "CM_2": [1, 1, 1]}
    cohort = make_cohort(
        {
            "ghq": {
                "role": "problems",
                "items": {"prefix": "CM_"},
                "range": [1, 5],
                "reverse": ["CM_1"],
            }
        }
    )
    out = scoring.score(make_table(items), cohort)
    # 1 + 5 - x: 5, 1, 3; plus 1
    np.testing.assert_array_equal(out["P"].to_numpy(), [6.0, 2.0, 4.0])


def test_reverse_item_not_among_items_is_a_config_error():
    cohort = make_cohort({"ghq": ghq(score="sum", reverse=["CM_9"])})
    with pytest.raises(ConfigError, match="CM_9"):
        scoring.score(make_table({"CM_1": [1.0], "CM_2": [2.0]}), cohort)


# --- stressors and E ------------------------------------------------------------------------


def stressor(columns, method="severity", score="sum", min_answered=0.8, low=0, high=5):
    return {
        "role": "stressors",
        "items": {"columns": list(columns)},
        "range": [low, high],
        "method": method,
        "score": score,
        "min_answered": min_answered,
    }


def test_count_versus_severity():
    items = {"CM_1": [1, 1], "S1": [0, 0], "S2": [2, 2], "S3": [5, 5], "S4": [NAN, 1]}
    sev = stressor(["S1", "S2", "S3", "S4"], "severity", score="mean", min_answered=0.5)
    cnt = stressor(["S1", "S2", "S3", "S4"], "count", score="mean", min_answered=0.5)
    cohort = make_cohort({"ghq": ghq(score="sum"), "sev": sev, "cnt": cnt})
    out = scoring.score(make_table(items), cohort)
    # row 1, items [0, 2, 5, NaN]: severity 7 over 3 answered, count 2 (the 2 and the 5) over 3
    # row 2, items [0, 2, 5, 1]: severity 8 / 4, count 3 / 4
    np.testing.assert_allclose(out["sev"].to_numpy(), [7 / 3, 8 / 4], rtol=1e-12)
    np.testing.assert_allclose(out["cnt"].to_numpy(), [2 / 3, 3 / 4], rtol=1e-12)
    matrix = scoring.item_matrix(
        make_table(items), cohort.instruments["cnt"], ["S1", "S2", "S3", "S4"]
    )
    np.testing.assert_array_equal(matrix, [[0, 1, 1, NAN], [0, 1, 1, 1]])
    # as sums: the missing item makes row 1 missing; row 2 severity 8, count 3
    cohort_sum = make_cohort(
        {
            "ghq": ghq(score="sum"),
            "sev": stressor(["S1", "S2", "S3", "S4"]),
            "cnt": stressor(["S1", "S2", "S3", "S4"], "count"),
        }
    )
    out_sum = scoring.score(make_table(items), cohort_sum)
    np.testing.assert_array_equal(out_sum["sev"].to_numpy(), [NAN, 8.0])
    np.testing.assert_array_equal(out_sum["cnt"].to_numpy(), [NAN, 3.0])


def test_count_threshold_is_the_range_low_not_zero():
    items = {"CM_1": [1, 1, 1], "S1": [1, 2, 4]}
    cohort = make_cohort({"ghq": ghq(score="sum"), "c": stressor(["S1"], "count", low=1, high=4)})
    out = scoring.score(make_table(items), cohort)
    np.testing.assert_array_equal(out["c"].to_numpy(), [0.0, 1.0, 1.0])


def test_combine_sum_and_nan_when_a_subscale_is_nan():
    items = {"CM_1": [1, 1, 1], "A1": [1, 2, NAN], "A2": [0, 3, 1], "B1": [4, NAN, 2]}
    cohort = make_cohort(
        {"ghq": ghq(score="sum"), "a": stressor(["A1", "A2"]), "b": stressor(["B1"])}
    )
    out = scoring.score(make_table(items), cohort)
    np.testing.assert_array_equal(out["a"].to_numpy(), [1.0, 5.0, NAN])
    np.testing.assert_array_equal(out["b"].to_numpy(), [4.0, NAN, 2.0])
    # E = a + b: 1 + 4 = 5; b missing -> missing; a missing -> missing
    np.testing.assert_array_equal(out["E"].to_numpy(), [5.0, NAN, NAN])


def test_combine_zmean_by_hand():
    # a scores 1, 2, 3, 4: mean 2.5, SD (ddof=1) sqrt((2.25 + 0.25 + 0.25 + 2.25) / 3) = sqrt(5/3)
    # b scores 2, 2, 4, NaN: mean 8/3, SD sqrt((4/9 + 4/9 + 16/9) / 2) = sqrt(4/3)
    items = {"CM_1": [1, 1, 1, 1], "A1": [1, 2, 3, 4], "B1": [2, 2, 4, NAN]}
    cohort = make_cohort(
        {"ghq": ghq(score="sum"), "a": stressor(["A1"]), "b": stressor(["B1"])}, combine="zmean"
    )
    out = scoring.score(make_table(items), cohort)
    sa, sb = math.sqrt(5 / 3), math.sqrt(4 / 3)
    expected = [
        ((1 - 2.5) / sa + (2 - 8 / 3) / sb) / 2,  # -1.1619 - 0.5774 = -1.7392, halved
        ((2 - 2.5) / sa + (2 - 8 / 3) / sb) / 2,  # -0.3873 - 0.5774 = -0.9646, halved
        ((3 - 2.5) / sa + (4 - 8 / 3) / sb) / 2,  # 0.3873 + 1.1547 = 1.5420, halved
        NAN,  # b missing
    ]
    np.testing.assert_allclose(out["E"].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(
        out["E"].to_numpy()[:3], [-0.8696226, -0.4823243, 0.7709994], atol=1e-7
    )
    # the instrument columns keep the raw scores, only E is z-combined
    np.testing.assert_array_equal(out["a"].to_numpy(), [1.0, 2.0, 3.0, 4.0])


def test_zmean_with_a_constant_instrument_warns_and_gives_missing_e():
    items = {"CM_1": [1, 1, 1], "A1": [1, 2, 3], "B1": [2, 2, 2]}
    stressors = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([2.0, 2.0, 2.0])}
    with pytest.warns(DataWarning, match="'b'"):
        exposure = scoring.combine_exposure(stressors, "zmean")
    assert np.isnan(exposure).all()
    # scoring a table: E missing in every row is an error naming the cause, not a warning
    cohort = make_cohort(
        {"ghq": ghq(score="sum"), "a": stressor(["A1"]), "b": stressor(["B1"])}, combine="zmean"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            ValidationError,
            match=r"E \(exposure\): missing in all 3 rows: .*zmean.*'b' \(3 scored rows, all 2\)",
        ):
            scoring.score(make_table(items), cohort)


def test_a_score_missing_in_every_row_is_an_error_with_its_cause():
    cohort = make_cohort({"ghq": ghq(score="sum"), "a": stressor(["A1", "A2"])})
    # A2 is never answered and score: sum needs every item: no row of 'a' (and so of E) is scored
    items = {"CM_1": [1, 2, 3], "A1": [1, 2, 3], "A2": [np.nan] * 3}
    with pytest.raises(ValidationError) as caught:
        scoring.score(make_table(items), cohort)
    message = str(caught.value)
    assert "instruments.a (stressors; items A1, A2): missing in all 3 rows" in message
    assert "item(s) A2 answered in no row, and score: sum needs every item" in message
    assert (
        "E (exposure): missing in all 3 rows: stressor instrument(s) a are never scored" in message
    )


def test_e_is_all_nan_without_stressor_instruments():
    cohort = make_cohort(
        {
            "ghq": ghq(score="sum"),
            "anx": {"role": "covariate", "items": {"prefix": "AX_"}, "range": [0, 3]},
        }
    )
    out = scoring.score(make_table({"CM_1": [1, 2], "AX_1": [3, 0]}), cohort)
    assert out["E"].isna().all() and out["E"].dtype == np.float64
    np.testing.assert_array_equal(out["anx"].to_numpy(), [3.0, 0.0])


# --- table shape ------------------------------------------------------------------------------


def test_output_columns_order_sort_covariates_and_dtypes():
    items = {"CM_1": [1, 2, 3, 0], "CM_2": [0, 0, 1, 1], "LE_1": [5, 0, 1, 2], "GE_1": [1, 1, 2, 3]}
    extra = {
        "sex": pd.Categorical(["f", "m", "f", "m"]),
        "age": np.array([30.0, 41.0, 30.0, 41.0]),
    }
    table = make_table(
        items,
        ids=["b", "a", "b", "a"],
        waves=[2, 2, 1, 1],
        time=[28.0, 30.0, 0.0, 0.0],
        extra=extra,
    )
    cohort = make_cohort(
        {
            "life": stressor(["LE_1"]),  # config order: life, ghq, general
            "ghq": ghq(score="sum"),
            "general": stressor(["GE_1"]),
        },
        covariates={"age": "numeric", "sex": "category"},
    )
    out = scoring.score(table, cohort)
    assert list(out.columns) == [
        "participant_id",
        "wave",
        "time",
        "P",
        "E",
        "life",
        "ghq",
        "general",
        "age",
        "sex",
    ]
    assert list(out["participant_id"]) == ["a", "a", "b", "b"]
    assert list(out["wave"]) == [1, 2, 1, 2]
    assert isinstance(out.index, pd.RangeIndex)
    # rows after sorting: (a,1) = source row 4, (a,2) = 2, (b,1) = 3, (b,2) = 1
    np.testing.assert_array_equal(out["P"].to_numpy(), [1.0, 2.0, 4.0, 1.0])
    np.testing.assert_array_equal(out["E"].to_numpy(), [2 + 3, 0 + 1, 1 + 2, 5 + 1])
    np.testing.assert_array_equal(out["time"].to_numpy(), [0.0, 30.0, 0.0, 28.0])
    np.testing.assert_array_equal(out["age"].to_numpy(), [41.0, 41.0, 30.0, 30.0])
    assert list(out["sex"]) == ["m", "m", "f", "f"] and isinstance(
        out["sex"].dtype, pd.CategoricalDtype
    )
    for column in ["time", "P", "E", "life", "ghq", "general"]:
        assert out[column].dtype == np.float64, column
    # the input is not modified
    assert list(table["participant_id"]) == ["b", "a", "b", "a"]


def test_missing_time_column_gives_nan_time():
    table = make_table({"CM_1": [1.0]}).drop(columns="time")
    out = scoring.score(table, make_cohort({"ghq": ghq(score="sum")}))
    assert out["time"].isna().all() and out["time"].dtype == np.float64


def test_text_items_are_an_input_error():
    table = make_table({"CM_1": [1.0, 2.0]})
    table["CM_2"] = pd.array(["1", "abc"], dtype="str")
    with pytest.raises(InputError, match="numeric"):
        scoring.score(table, make_cohort({"ghq": ghq(score="sum")}))


def test_instrument_without_items_is_an_input_error():
    cohort = make_cohort({"ghq": ghq(score="sum"), "s": stressor(["XX_1"])})
    with pytest.raises(InputError, match=r"instruments\.s\.items"):
        scoring.score(make_table({"CM_1": [1.0]}), cohort)


def test_answered_counts():
    items = {"CM_1": [1, NAN, NAN], "CM_2": [2, 1, NAN], "S1": [0, NAN, 3]}
    cohort = make_cohort({"ghq": ghq(score="sum"), "s": stressor(["S1"])})
    counts = scoring.answered_counts(make_table(items, ids=["z", "y", "x"]), cohort)
    assert list(counts.columns) == ["participant_id", "wave", "ghq", "s"]
    assert list(counts["participant_id"]) == ["x", "y", "z"]
    np.testing.assert_array_equal(counts["ghq"].to_numpy(), [0, 1, 2])
    np.testing.assert_array_equal(counts["s"].to_numpy(), [1, 0, 1])
    assert counts["ghq"].dtype == np.int64
    assert counts.attrs["n_items"] == {"ghq": 2, "s": 1}


def test_score_items_matches_a_row_by_row_reference():
    # Reference: the rules applied one row at a time in plain Python.
    rng = np.random.default_rng(7)
    values = rng.integers(0, 4, (400, 6)).astype(float)
    values[rng.random(values.shape) < 0.25] = NAN
    values[:5] = NAN  # some empty rows for sure

    def reference(row, method, share):
        answered = [v for v in row if not math.isnan(v)]
        if not answered:
            return NAN
        if method == "sum":
            return sum(answered) if len(answered) == len(row) else NAN
        if len(answered) < share * len(row) - 1e-9:
            return NAN
        mean = sum(answered) / len(answered)
        return mean if method == "mean" else mean * len(row)

    for method in ["sum", "mean", "prorated_sum"]:
        got = scoring.score_items(values, method, 0.5)
        want = [reference(row, method, 0.5) for row in values]
        np.testing.assert_allclose(got, want, rtol=1e-12)


# --- synthetic cohort with known truth ----------------------------------------------------------


@pytest.mark.skipif(
    not (SYNTHETIC / "cohort.csv").exists() or not (SYNTHETIC / "truth.csv").exists(),
    reason="data/synthetic/cohort.csv or truth.csv missing (made by `srflow synth`)",
)
def test_bundled_synthetic_cohort_matches_truth_where_complete(monkeypatch):
    # Truth from srflow.synthetic (data/synthetic/truth.csv): P_full is the sum of the 12 GHQ items after
    # reversing, E_general_full / E_life_full the stressor item sums, all before blanking. With every item
    # answered, prorated_sum equals the sum exactly (sum * 12 / 12), so equality is exact.
    monkeypatch.chdir(REPO)
    cohort = load_config(REPO / "config" / "config.yaml").cohort("synthetic")
    validated = validate(read_cohort(cohort), cohort).table
    scores = scoring.score(validated, cohort)
    truth = pd.read_csv(SYNTHETIC / "truth.csv", dtype={"participant_id": "str"})
    merged = scores.merge(truth, on=["participant_id", "wave"], how="inner", validate="one_to_one")
    assert len(merged) == len(scores) == len(truth)
    complete_p = merged["n_missing_problem_items"] == 0
    complete_e = (merged["n_missing_general_items"] == 0) & (merged["n_missing_life_items"] == 0)
    assert complete_p.sum() > 0.6 * len(merged) and complete_e.sum() > 0.3 * len(merged)
    np.testing.assert_array_equal(
        merged.loc[complete_p, "P"].to_numpy(),
        merged.loc[complete_p, "P_full"].to_numpy(dtype=float),
    )
    np.testing.assert_array_equal(
        merged.loc[complete_e, "E"].to_numpy(),
        (merged.loc[complete_e, "E_general_full"] + merged.loc[complete_e, "E_life_full"]).to_numpy(
            dtype=float
        ),
    )
    # whole questionnaire blank (12 missing) -> P missing; 1-2 missing -> prorated, so present
    assert merged.loc[merged["n_missing_problem_items"] == 12, "P"].isna().all()
    assert merged.loc[merged["n_missing_problem_items"].between(1, 2), "P"].notna().all()
    assert (
        merged.loc[merged["n_missing_problem_items"] >= 3, "P"].isna().all()
    )  # 9 of 12 < min_answered 0.8


def _validated_like(data: pd.DataFrame) -> pd.DataFrame:
    """What validation makes of simulate_cohort's data: canonical keys, float64 items (NaN = blank)."""
    table = data.rename(columns={"subject_id": "participant_id"})
    table.insert(0, "source_row", np.arange(1, len(table) + 1, dtype=np.int64))
    items = [c for c in table.columns if c.startswith(("GHQ_", "GE_", "LE_"))]
    for name in items:
        table[name] = table[name].to_numpy(dtype=np.float64, na_value=np.nan)
    table["time"] = np.nan
    return table


def test_simulated_cohort_matches_truth_where_complete():
    # Truth from srflow.synthetic.simulate_cohort (in memory, independent of io/validation): P_full is the
    # sum of the 12 GHQ items after reversing, E_general_full + E_life_full the stressor item sums, all before
    # blanking. Where nothing is blank, the prorated sums equal them exactly (sum * n / n).
    from srflow.synthetic import simulate_cohort

    data, truth = simulate_cohort(400, 6, seed=11)
    cohort = load_config(REPO / "config" / "config.yaml").cohort("synthetic")
    scores = scoring.score(_validated_like(data), cohort)
    assert list(scores["participant_id"]) == list(truth["participant_id"])
    assert list(scores["wave"]) == list(truth["wave"])
    complete_p = (truth["n_missing_problem_items"] == 0).to_numpy()
    complete_e = (
        (truth["n_missing_general_items"] == 0) & (truth["n_missing_life_items"] == 0)
    ).to_numpy()
    assert complete_p.sum() > 0.6 * len(truth) and complete_e.sum() > 0.3 * len(truth)
    np.testing.assert_array_equal(
        scores["P"].to_numpy()[complete_p], truth["P_full"].to_numpy(dtype=float)[complete_p]
    )
    e_full = (truth["E_general_full"] + truth["E_life_full"]).to_numpy(dtype=float)
    np.testing.assert_array_equal(scores["E"].to_numpy()[complete_e], e_full[complete_e])
    n_missing = truth["n_missing_problem_items"].to_numpy()
    assert np.isnan(scores["P"].to_numpy()[n_missing == 12]).all() and (n_missing == 12).any()
    assert not np.isnan(scores["P"].to_numpy()[(n_missing >= 1) & (n_missing <= 2)]).any()
    assert np.isnan(scores["P"].to_numpy()[n_missing >= 3]).all()  # 9 of 12 < 0.8


def test_duplicate_participant_wave_is_an_input_error():
    table = make_table({"CM_1": [1.0, 2.0, 3.0]}, ids=["a", "b", "a"], waves=[1, 1, 1])
    with pytest.raises(InputError, match="more than one row"):
        scoring.score(table, make_cohort({"ghq": ghq(score="sum")}))


def test_items_stored_as_one_block_are_not_modified():
    # Parquet/validation output holds the items in one float64 block; to_numpy then returns a read-only
    # view under copy-on-write. Reversing must copy, and the caller's table must stay unchanged.
    keys = make_table({"CM_1": [0.0, 0.0]}).drop(columns="CM_1")
    block = pd.DataFrame(
        np.array([[0.0, 1.0, 3.0], [2.0, 3.0, 0.0]]), columns=["CM_1", "CM_2", "CM_3"]
    )
    table = pd.concat([keys, block], axis=1)
    out = scoring.score(table, make_cohort({"ghq": ghq(score="sum", reverse=["CM_1"])}))
    np.testing.assert_array_equal(out["P"].to_numpy(), [3 + 1 + 3, 1 + 3 + 0])
    np.testing.assert_array_equal(table["CM_1"].to_numpy(), [0.0, 2.0])


# --- composite P (cohort key problems) -----------------------------------------------------


def composite_cohort(problems, extra_instruments=None):
    """Two problems instruments (prefixes D_ and X_, sums of 0..3 items) and a composite P."""
    instruments = {
        "dep": {"role": "problems", "items": {"prefix": "D_"}, "range": [0, 3], "score": "sum"},
        "anx": {"role": "problems", "items": {"prefix": "X_"}, "range": [0, 3], "score": "sum"},
        **(extra_instruments or {}),
    }
    raw = {
        "cohorts": {
            "t": {
                "input": "unused.csv",
                "columns": {"participant": "pid", "wave": "wave"},
                "instruments": instruments,
                "problems": problems,
            }
        }
    }
    return load_config(raw).cohort("t")


def test_composite_zmean_by_hand():
    # dep 1, 2, 3, 4: mean 2.5, SD sqrt(5/3); anx 2, 2, 4, NaN: mean 8/3, SD sqrt(4/3)
    cohort = composite_cohort({"combine": "zmean"})
    out = scoring.score(make_table({"D_1": [1, 2, 3, 4], "X_1": [2, 2, 4, NAN]}), cohort)
    sd, sx = math.sqrt(5 / 3), math.sqrt(4 / 3)
    expected = [
        ((1 - 2.5) / sd + (2 - 8 / 3) / sx) / 2,
        ((2 - 2.5) / sd + (2 - 8 / 3) / sx) / 2,
        ((3 - 2.5) / sd + (4 - 8 / 3) / sx) / 2,
        NAN,  # anx missing: P missing
    ]
    np.testing.assert_allclose(out["P"].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(out["dep"].to_numpy(), [1.0, 2.0, 3.0, 4.0])  # raw kept
    # the same z-scoring as exposure zmean (one implementation)
    np.testing.assert_array_equal(
        out["P"].to_numpy(),
        scoring.combine_exposure({"dep": out["dep"], "anx": out["anx"]}, "zmean"),
    )


def _three_instruments(seed=3, n=200):
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=n)
    scores = {
        name: np.round(10 + 3 * load * factor + rng.normal(scale=2, size=n))
        for name, load in (("a", 1.0), ("b", 0.7), ("c", 0.4))
    }
    scores["b"][:7] = NAN  # incomplete rows are left out of the component and get no P
    return scores


def test_pca1_equals_sklearn_pca_of_the_z_scores():
    from sklearn.decomposition import PCA

    from srflow.composite import combine_problems

    scores = _three_instruments()
    result = combine_problems(scores, "pca1")
    z = np.column_stack([(s - np.nanmean(s)) / np.nanstd(s, ddof=1) for s in scores.values()])
    complete = ~np.isnan(z).any(axis=1)
    pca = PCA(n_components=3).fit(z[complete])
    sign = np.sign(pca.components_[0].sum())
    weights = np.array(list(result.summary["weights"].values()))
    np.testing.assert_allclose(weights, sign * pca.components_[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.summary["eigenvalues"], pca.explained_variance_, rtol=1e-12)
    assert result.summary["explained_variance"] == pytest.approx(
        pca.explained_variance_ratio_[0], rel=1e-12
    )
    expected = sign * pca.transform(z[complete])[:, 0] / np.sqrt(pca.explained_variance_[0])
    np.testing.assert_allclose(result.values[complete], expected, rtol=0, atol=1e-12)
    assert np.isnan(result.values[~complete]).all() and (~complete).sum() == 7
    # scale: mean 0 and SD 1 (ddof=1) over the complete rows; sign: higher = more problems
    assert abs(result.values[complete].mean()) < 1e-12
    assert result.values[complete].std(ddof=1) == pytest.approx(1.0, rel=1e-12)
    assert weights.sum() > 0 and (weights > 0).all()
    # loadings are the correlations of each instrument with P over the complete rows
    for k, name in enumerate(scores):
        r = np.corrcoef(z[complete, k], result.values[complete])[0, 1]
        assert result.summary["loadings"][name] == pytest.approx(r, rel=1e-12)
    assert result.summary["status"] == "ok" and result.summary["n_complete"] == 193


def test_pca1_by_hand_with_two_instruments_and_its_sign():
    from srflow.composite import combine_problems

    # two instruments with correlation r: eigenvalues 1 + r, 1 - r; weights (1, 1)/sqrt(2);
    # P = (z_a + z_b) / sqrt(2 (1 + r)). Here r = 0.6 (see the composite module's example).
    a, b = np.array([1.0, 2, 3, 4]), np.array([2.0, 1, 4, 3])
    za, zb = (a - 2.5) / math.sqrt(5 / 3), (b - 2.5) / math.sqrt(5 / 3)
    result = combine_problems({"a": a, "b": b}, "pca1")
    np.testing.assert_allclose(result.values, (za + zb) / math.sqrt(2 * 1.6), rtol=1e-12)
    np.testing.assert_allclose(result.summary["eigenvalues"], [1.6, 0.4], rtol=1e-12)
    np.testing.assert_allclose(list(result.summary["weights"].values()), [0.5**0.5] * 2)
    # the sign is fixed by the data's direction, not the eigen solver's: flipping both
    # instruments flips P (more problems stays higher), weights stay positive
    flipped = combine_problems({"a": -a, "b": -b}, "pca1")
    np.testing.assert_allclose(flipped.values, -result.values, rtol=1e-12)
    assert min(flipped.summary["weights"].values()) > 0


def test_pca1_flags_a_negative_loading_and_too_few_rows():
    from srflow.composite import combine_problems

    a = np.array([1.0, 2, 3, 4, 5])
    suspect = combine_problems({"a": a, "b": a**1.5, "c": -a + [0, 0.1, 0, 0.2, 0]}, "pca1")
    assert suspect.summary["status"] == "suspect"
    assert "c load negatively" in suspect.summary["reason"]
    few = combine_problems({"a": a, "b": np.array([1.0, 2, NAN, NAN, NAN])}, "pca1")
    assert few.summary["status"] == "suspect" and np.isnan(few.values).all()
    assert "2 rows have every instrument scored" in few.summary["reason"]


def test_composite_pca1_through_score_and_its_summary_record():
    from srflow.results import ScoringSummary

    scores = _three_instruments()
    items = {"A_1": scores["a"], "B_1": scores["b"], "C_1": scores["c"]}
    instrument = {"role": "problems", "range": [0, 40], "score": "sum"}
    raw = {
        "cohorts": {
            "t": {
                "input": "unused.csv",
                "columns": {"participant": "pid", "wave": "wave"},
                "instruments": {
                    n: {**instrument, "items": {"prefix": f"{n.upper()}_"}} for n in "abc"
                },
                "problems": {"combine": "pca1"},  # instruments null: every problems instrument
            }
        }
    }
    cohort = load_config(raw).cohort("t")
    out = scoring.score(make_table(items), cohort)
    from srflow.composite import combine_problems

    expected = combine_problems({n: out[n].to_numpy() for n in "abc"}, "pca1")
    np.testing.assert_array_equal(out["P"].to_numpy(), expected.values)
    summary = ScoringSummary.from_json(scoring.scoring_summary(out, cohort))
    assert summary.P.combine == "pca1" and summary.P.instruments == ("a", "b", "c")
    assert summary.P.explained_variance == pytest.approx(expected.summary["explained_variance"])
    assert summary.E.instruments == () and summary.cohort == "t"


@pytest.mark.parametrize(
    ("problems", "message"),
    [
        (
            {"instruments": ["dep"]},
            r"cohorts\.t\.problems\.instruments: a composite P needs at least two instruments "
            r"of role problems, found 1 \(dep\)",
        ),
        (
            {"instruments": ["dep", "life"]},
            r"cohorts\.t\.problems\.instruments: 'life' has role stressors; a composite P "
            "combines instruments of role problems only",
        ),
        (
            {"instruments": ["dep", "anxiety"]},
            r"cohorts\.t\.problems\.instruments: no instrument named 'anxiety' "
            r"\(instruments: dep, anx, life\)",
        ),
        ({"combine": "pca2"}, r"cohorts\.t\.problems\.combine: 'pca2' is not allowed"),
    ],
)
def test_composite_config_errors_name_the_key(problems, message):
    life = {"role": "stressors", "items": {"prefix": "L_"}, "range": [0, 1]}
    with pytest.raises(ConfigError, match=message):
        composite_cohort(problems, {"life": life})


def test_two_problems_instruments_without_the_key_point_to_it():
    raw = {
        "cohorts": {
            "t": {
                "input": "unused.csv",
                "columns": {"participant": "pid", "wave": "wave"},
                "instruments": {
                    n: {"role": "problems", "items": {"prefix": f"{n}_"}, "range": [0, 3]}
                    for n in ("dep", "anx")
                },
            }
        }
    }
    with pytest.raises(ConfigError, match=r"found 2 \(to combine several into P, list them in "):
        load_config(raw)


def test_score_stage_writes_the_summary_reliability_and_attrition(tmp_path):
    from srflow.results import ATTRITION_TABLE, RELIABILITY_TABLE, AttritionFit, ScoringSummary
    from srflow.stages import score_stage

    rng = np.random.default_rng(8)
    n_people, waves = 60, 3
    ids = np.repeat([f"p{i:02d}" for i in range(n_people)], waves)
    wave = np.tile(np.arange(1, waves + 1), n_people)
    level = np.repeat(rng.normal(size=n_people), waves)
    items = {
        f"{prefix}_{j}": np.clip(np.round(1.5 + level + rng.normal(size=len(ids))), 0, 3)
        for prefix in ("D", "X")
        for j in (1, 2, 3)
    }
    table = make_table(
        items, ids=list(ids), waves=list(wave), extra={"age": rng.normal(40, 9, len(ids))}
    )
    gone = (wave == 3) & (np.repeat(rng.random(n_people), waves) < 0.3)  # dropouts at wave 3
    table.loc[gone, [c for c in items if c.startswith("D_")]] = np.nan
    table.to_parquet(tmp_path / "validated.parquet")
    instruments = {
        n: {"role": "problems", "items": {"prefix": f"{p}_"}, "range": [0, 3], "score": "sum"}
        for n, p in (("dep", "D"), ("anx", "X"))
    }
    config = {
        "cohorts": {
            "t": {
                "input": "unused.csv",
                "columns": {"participant": "pid", "wave": "wave", "covariates": {"age": "numeric"}},
                "instruments": instruments,
                "problems": {"combine": "pca1", "instruments": ["dep", "anx"]},
            }
        }
    }
    out = {
        name: str(tmp_path / name)
        for name in ("s.parquet", "s.csv", "scoring.json", "rel.csv", "a.csv", "a.json")
    }
    score_stage(
        config,
        "t",
        str(tmp_path / "validated.parquet"),
        out["s.parquet"],
        out["s.csv"],
        out["scoring.json"],
        out["rel.csv"],
        out["a.csv"],
        out["a.json"],
    )
    summary = ScoringSummary.read(out["scoring.json"])
    assert summary.P.combine == "pca1" and summary.P.status == "ok"
    assert summary.P.n_complete == int((~gone).sum())
    reliability = RELIABILITY_TABLE.read(out["rel.csv"])
    assert reliability[["instrument", "wave"]].values.tolist() == [
        [name, w] for name in ("dep", "anx") for w in (1, 2, 3)
    ]
    assert reliability.loc[reliability["instrument"] == "dep", "n"].tolist() == [
        60,
        60,
        60 - int(gone.sum()),
    ]
    fit = AttritionFit.read(out["a.json"])
    assert fit.status == "ok" and fit.n_obs == 60 and fit.n_retained == 60 - int(gone.sum())
    assert ATTRITION_TABLE.read(out["a.csv"])["term"].tolist() == ["Intercept", "age"]


def test_a_composite_p_missing_in_every_row_is_an_error_naming_the_key():
    cohort = composite_cohort({"combine": "zmean"})
    items = {"D_1": [1, 2, NAN, NAN], "X_1": [NAN, NAN, 1, 3]}  # no row has both instruments
    with pytest.raises(
        ValidationError, match=r"P \(problems combine: zmean of dep, anx\): missing in all 4 rows"
    ):
        scoring.score(make_table(items), cohort)
