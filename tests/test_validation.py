"""Tests of srflow.validation: every rule, the ledger, the policies, and a property test.

Expected failures are written out by hand from the fixture rows (tests/data/validation/
and the small CSV texts below). The dirty synthetic file is checked against the list of
injected faults its generator wrote (data/synthetic/messy/dirty_faults.csv).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SYNTHETIC_COLUMNS
from srflow.config import load_config
from srflow.errors import DataWarning, ValidationError
from srflow.io import IngestResult, read_cohort
from srflow.validation import FAILURE_COLUMNS, LEDGER_COLUMNS, RULES, validate

DATA = Path(__file__).parent / "data" / "validation"
MESSY = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "messy"

COLUMNS = {
    "participant": "id",
    "wave": "wave",
    "time": "date",
    "covariates": {"age": "integer", "start": "date"},
}
INSTRUMENTS = {"a": {"role": "problems", "items": {"prefix": "A_"}, "range": [0, 3]}}


def cohort_for(path, **overrides):
    cohort = {
        "input": str(path),
        "columns": COLUMNS,
        "on_invalid": "exclude",
        "careless": {"straightlining": "flag", "min_items": 3},
        "instruments": INSTRUMENTS,
    }
    cohort.update(overrides)
    return load_config({"cohorts": {"c": cohort}}).cohort("c")


def run(path, **overrides):
    cohort = cohort_for(path, **overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return validate(read_cohort(cohort), cohort)


def failure_tuples(result):
    return [
        tuple(r)
        for r in result.failures[["source_row", "column", "value", "check"]].itertuples(index=False)
    ]


# --------------------------------------------------------------------------- one fixture per rule

VALID = """id,wave,date,age,start,A_1,A_2,A_3
P1,1,2021-01-01,30,2020-12-01,0,1,2
P1,2,2021-01-20,30,2020-12-01,1,1,2
P2,1,2021-02-01,41,2020-11-15,3,2,1
P2,2,2021-03-01,41,2020-11-15,2,0,1
"""

# rule -> (line replaced (1-based data row), new line, expected failures, expected ledger reasons by row)
RULE_CASES = {
    "participant_id_present": (
        2,
        " ,2,2021-01-20,30,2020-12-01,1,1,2",
        [(2, "id", "", "participant_id_present")],
    ),
    "wave_integer_ge_1": (
        4,
        "P2,two,2021-03-01,41,2020-11-15,2,0,1",
        [(4, "wave", "two", "wave_integer_ge_1")],
    ),
    "unique_participant_wave": (
        2,
        "P1,1,2021-01-20,30,2020-12-01,1,1,2",
        [
            (1, "id,wave", "P1,1", "unique_participant_wave"),
            (2, "id,wave", "P1,1", "unique_participant_wave"),
        ],
    ),
    "time_parseable": (
        3,
        "P2,1,32.01.2021,41,2020-11-15,3,2,1",
        [(3, "date", "32.01.2021", "time_parseable")],
    ),
    "time_non_decreasing": (
        4,
        "P2,2,2021-01-31,41,2020-11-15,2,0,1",
        [(4, "date", "2021-01-31", "time_non_decreasing")],
    ),
    "item_numeric": (
        1,
        "P1,1,2021-01-01,30,2020-12-01,0,x1,2",
        [(1, "A_2", "x1", "item_numeric")],
    ),
    "item_in_range": (
        3,
        "P2,1,2021-02-01,41,2020-11-15,3,2,3.5",
        [(3, "A_3", "3.5", "item_in_range")],
    ),
    "covariate_type": (
        4,
        "P2,2,2021-03-01,41.5,someday,2,0,1",
        [(4, "age", "41.5", "covariate_type"), (4, "start", "someday", "covariate_type")],
    ),
}


def test_every_rule_has_a_case():
    assert set(RULE_CASES) == set(RULES)


def test_valid_fixture_passes(tmp_path):
    path = tmp_path / "valid.csv"
    path.write_text(VALID)
    result = run(path, on_invalid="fail")
    assert result.ok and result.n_kept == 4 and result.failures.empty
    assert list(result.ledger["reason"]) == [""] * 4


@pytest.mark.parametrize("rule", list(RULE_CASES))
def test_each_rule(rule, tmp_path):
    row, line, expected = RULE_CASES[rule]
    lines = VALID.splitlines()
    lines[row] = line
    path = tmp_path / f"{rule}.csv"
    path.write_text("\n".join(lines) + "\n")
    result = run(path)
    assert failure_tuples(result) == expected
    assert list(result.failures.columns) == list(FAILURE_COLUMNS)
    failed_rows = sorted({r for r, *_ in expected})
    ledger = result.ledger.set_index("source_row")
    for source_row in range(1, 5):
        if source_row in failed_rows:
            assert ledger.loc[source_row, "status"] == "excluded"
            assert ledger.loc[source_row, "reason"] == rule
        else:
            assert ledger.loc[source_row, "status"] == "kept"
            assert ledger.loc[source_row, "reason"] == ""
    assert len(result.table) == 4 - len(failed_rows)
    with pytest.raises(ValidationError):
        run(path, on_invalid="fail")


# --------------------------------------------------------------------------- all rules in one file


# tests/data/validation/faults.csv: rows 1, 2, 8, 15 are valid; every other row breaks one rule;
# row 15 answers 2, 2, 2 (straight-lining with min_items 3).
FAULTS_EXPECTED = [
    (3, "id", "", "participant_id_present"),
    (4, "wave", "0", "wave_integer_ge_1"),
    (5, "wave", "1.5", "wave_integer_ge_1"),
    (6, "id,wave", "P3,1", "unique_participant_wave"),
    (7, "id,wave", "P3,1", "unique_participant_wave"),
    (9, "date", "2021-03-01", "time_non_decreasing"),
    (10, "date", "someday", "time_parseable"),
    (11, "A_1", "abc", "item_numeric"),
    (12, "A_2", "4", "item_in_range"),
    (13, "age", "40.5", "covariate_type"),
    (14, "start", "notadate", "covariate_type"),
]


def test_faults_file_failures_and_ledger():
    result = run(DATA / "faults.csv")
    assert failure_tuples(result) == FAULTS_EXPECTED
    ledger = result.ledger
    assert list(ledger.columns) == list(LEDGER_COLUMNS)
    assert list(ledger["source_row"]) == list(range(1, 16))
    expected_reason = {row: check for row, _, _, check in FAULTS_EXPECTED}
    assert list(ledger["reason"]) == [expected_reason.get(r, "") for r in range(1, 16)]
    assert list(ledger["status"]) == [
        "excluded" if r in expected_reason else "kept" for r in range(1, 16)
    ]
    assert list(ledger["flags"]) == [""] * 14 + ["straightlining:a"]
    assert ledger.loc[2, "participant_id"] is np.nan or pd.isna(ledger.loc[2, "participant_id"])
    assert list(ledger["wave"][:5]) == ["1", "2", "1", "0", "1.5"]

    table = result.table
    assert list(table["source_row"]) == [1, 2, 8, 15]
    assert list(table["participant_id"]) == ["P1", "P1", "P4", "P8"]
    assert table["wave"].dtype == np.int64 and list(table["wave"]) == [1, 2, 1, 1]
    # P1: 1 Jan -> 20 Jan = 19 days. P4's out-of-order 1 March row is excluded, so its
    # first assessment is 10 March (time 0), not the excluded earlier date.
    assert list(table["time"]) == [0.0, 19.0, 0.0, 0.0]
    assert table["A_1"].dtype == np.float64 and list(table["A_1"]) == [0.0, 1.0, 0.0, 2.0]
    assert str(table["age"].dtype) == "Int64" and list(table["age"]) == [30, 30, 35, 50]
    assert list(table["start"]) == [pd.Timestamp("2020-12-01")] * 4


def test_faults_file_summary_and_error_message():
    result = run(DATA / "faults.csv")
    assert result.summary_text() == "\n".join(
        [
            f"validation of {DATA / 'faults.csv'}: 15 rows, 4 kept, 11 excluded",
            "failures: 11 in 11 source rows",
            "  participant_id_present: 1",
            "  wave_integer_ge_1: 2",
            "  unique_participant_wave: 2",
            "  time_parseable: 1",
            "  time_non_decreasing: 1",
            "  item_numeric: 1",
            "  item_in_range: 1",
            "  covariate_type: 2",
            "  flagged straightlining:a: 1",
        ]
    )
    with pytest.raises(ValidationError) as info:
        run(DATA / "faults.csv", on_invalid="fail")
    message = str(info.value)
    assert str(DATA / "faults.csv") in message
    assert "11 failure(s) in 11 source row(s)" in message
    assert (
        "row 3, column id, value '': participant_id_present (the participant id is missing or blank)"
        in message
    )
    assert (
        "row 12, column A_2, value '4': item_in_range (outside the range 0 to 3 of instrument a"
        in message
    )
    assert "row 14, column start" not in message  # only the first 10 are listed
    assert "... and 1 more" in message
    assert "fix the data or set on_invalid: exclude" in message.lower()
    assert "Only the first 10 failures are shown; the full list was not written." in message
    # The caller can still write the diagnostic tables.
    assert len(info.value.result.failures) == 11 and len(info.value.result.ledger) == 15


def test_fail_policy_names_the_given_path():
    cohort = cohort_for(DATA / "faults.csv", on_invalid="fail")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        ingested = read_cohort(cohort)
    with pytest.raises(ValidationError, match="results/c/validation/failures.csv"):
        validate(ingested, cohort, failures_path="results/c/validation/failures.csv")
    result = validate(ingested, cohort, raise_on_fail=False)
    assert not result.ok
    with pytest.raises(ValidationError):
        result.raise_for_failures()


def test_straightlining_policies():
    excluded = run(DATA / "faults.csv", careless={"straightlining": "exclude", "min_items": 3})
    row = excluded.ledger.iloc[14]
    assert (row["status"], row["reason"], row["flags"]) == (
        "excluded",
        "straightlining:a",
        "straightlining:a",
    )
    assert list(excluded.table["source_row"]) == [1, 2, 8]
    assert len(excluded.failures) == 11  # straight-lining is not a failure

    off = run(DATA / "faults.csv", careless={"straightlining": "off"})
    assert list(off.ledger["flags"]) == [""] * 15

    # min_items 4 > 3 items: never checked.
    high = run(DATA / "faults.csv", careless={"straightlining": "flag", "min_items": 4})
    assert list(high.ledger["flags"]) == [""] * 15


def test_wide_empty_slot_is_no_data_not_failure():
    # tests/data/validation/wide_empty_slot.csv: P1 has nothing at wave 2; P2 answers 7 to A_2 at wave 2.
    result = run(
        DATA / "wide_empty_slot.csv",
        layout="wide",
        columns={"participant": "pid"},
        careless={"straightlining": "off"},
    )
    assert failure_tuples(result) == [(2, "A_2_t2", "7", "item_in_range")]
    assert list(result.ledger["source_row"]) == [1, 1, 2, 2]
    assert list(result.ledger["wave"]) == ["1", "2", "1", "2"]
    assert list(result.ledger["status"]) == ["kept", "excluded", "kept", "excluded"]
    assert list(result.ledger["reason"]) == ["", "no_data_at_wave", "", "item_in_range"]
    assert (
        result.summary_text().splitlines()[-1]
        == "  excluded as no_data_at_wave (wave slot without answers): 1"
    )
    assert list(result.table["participant_id"]) == ["P1", "P2"]
    assert result.table["time"].isna().all()


def test_wide_failures_name_the_source_column(tmp_path):
    # P1's wave-2 date is before wave 1; P2 has an unreadable wave-1 date.
    path = tmp_path / "wide.csv"
    path.write_text(
        "pid,A_1_t1,A_2_t1,A_3_t1,date_t1,A_1_t2,A_2_t2,A_3_t2,date_t2\n"
        "P1,0,1,2,2021-02-01,1,1,2,2021-01-01\n"
        "P2,0,1,2,soon,1,1,2,2021-01-01\n"
    )
    result = run(
        path,
        layout="wide",
        columns={"participant": "pid", "time": "date"},
        careless={"straightlining": "off"},
    )
    assert failure_tuples(result) == [
        (1, "date_t2", "2021-01-01", "time_non_decreasing"),
        (2, "date_t1", "soon", "time_parseable"),
    ]
    assert list(result.table["time"]) == [0.0, 0.0]


# --------------------------------------------------------------------------- property test

ITEMS = ["A_1", "A_2", "A_3"]
FAULT_KINDS = [
    "duplicate",
    "out_of_range",
    "non_numeric",
    "missing_id",
    "bad_wave",
    "time_reversal",
]


def base_table(n_participants: int = 4, n_waves: int = 3) -> pd.DataFrame:
    rows = []
    for p in range(n_participants):
        for w in range(1, n_waves + 1):
            rows.append(
                {
                    "participant_id": f"P{p}",
                    "wave": w,
                    "time": float(10 * w + p),
                    "A_1": float((p + w) % 4),
                    "A_2": float((p * w) % 4),
                    "A_3": float((p + 2 * w + 1) % 4),
                }
            )
    return pd.DataFrame(rows).astype(
        {"A_1": object, "A_2": object, "A_3": object, "wave": object, "participant_id": object}
    )


def inject(table: pd.DataFrame, faults: list[tuple[str, int, int]]) -> pd.DataFrame:
    records = table.to_dict("records")
    for kind, row, extra in faults:
        row %= len(records)
        record = records[row]
        if kind == "duplicate":
            records.append(dict(record))
        elif kind == "out_of_range":
            record[ITEMS[extra % 3]] = 7.0
        elif kind == "non_numeric":
            record[ITEMS[extra % 3]] = "x"
        elif kind == "missing_id":
            record["participant_id"] = [None, "", "  "][extra % 3]
        elif kind == "bad_wave":
            record["wave"] = [0, "w", 1.5, None][extra % 4]
        elif kind == "time_reversal":
            # Earlier than the participant's wave-1 time in the base table.
            record["time"] = (
                float(record["time"]) - 100.0 if record["wave"] != 1 else float(record["time"])
            )
            if record["wave"] == 1:
                record["A_1"] = -1.0  # a wave-1 row cannot be reversed; break its range instead
    frame = pd.DataFrame(records)
    frame.insert(0, "source_row", np.arange(1, len(frame) + 1, dtype=np.int64))
    return frame


def as_ingested(frame: pd.DataFrame) -> IngestResult:
    return IngestResult(
        table=frame.reset_index(drop=True),
        items={"a": list(ITEMS)},
        notes=[],
        source=Path("memory.csv"),
        n_source_rows=len(frame),
        role_columns={"participant_id": "id", "wave": "wave", "time": "t"},
    )


def property_cohort(on_invalid: str):
    return load_config(
        {
            "cohorts": {
                "p": {
                    "input": "memory.csv",
                    "columns": {
                        "participant": "id",
                        "wave": "wave",
                        "time": "t",
                        "time_type": "number",
                    },
                    "on_invalid": on_invalid,
                    "careless": {"straightlining": "off"},
                    "instruments": INSTRUMENTS,
                }
            }
        }
    ).cohort("p")


fault_lists = st.lists(
    st.tuples(st.sampled_from(FAULT_KINDS), st.integers(0, 11), st.integers(0, 11)),
    max_size=6,
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(faults=fault_lists)
def test_property_exclude_accounts_for_every_row(faults):
    frame = inject(base_table(), faults)
    result = validate(as_ingested(frame), property_cohort("exclude"))
    ledger = result.ledger
    assert len(ledger) == len(frame)
    assert result.n_kept + result.n_excluded == len(frame)
    excluded = ledger["status"] == "excluded"
    assert (ledger.loc[excluded, "reason"] != "").all()
    assert (ledger.loc[~excluded, "reason"] == "").all()
    assert set(result.failures["source_row"]) == set(ledger.loc[excluded, "source_row"])
    assert len(result.table) == result.n_kept
    # Every kept row passes: validating the kept rows alone finds nothing.
    kept = frame[~excluded.to_numpy()]
    again = validate(as_ingested(kept), property_cohort("exclude"))
    assert again.ok and again.n_kept == len(kept)
    assert bool(faults) == (not result.ok)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(faults=fault_lists)
def test_property_fail_raises_iff_fault(faults):
    frame = inject(base_table(), faults)
    cohort = property_cohort("fail")
    if faults:
        with pytest.raises(ValidationError):
            validate(as_ingested(frame), cohort)
    else:
        assert validate(as_ingested(frame), cohort).ok


# --------------------------------------------------------------------------- the dirty synthetic file


@pytest.mark.skipif(
    not (MESSY / "dirty_faults.csv").exists(),
    reason="data/synthetic/messy not generated (srflow synth)",
)
def test_dirty_file_reports_exactly_the_injected_faults(synthetic_cohort):
    cohort = synthetic_cohort(
        MESSY / "dirty.csv",
        columns={
            **SYNTHETIC_COLUMNS,
            "covariates": {"age": "integer", "gender": "category", "arm": "category"},
        },
    )
    faults = pd.read_csv(MESSY / "dirty_faults.csv", dtype=str, keep_default_na=False)
    ingested = read_cohort(cohort)
    assert sum("'GE_12'" in note for note in ingested.notes) == 1
    assert "ignored column '': a row index (1..n)" in ingested.notes
    assert "GE_12" not in ingested.items["hassles"]
    result = validate(ingested, cohort)

    expected = faults[faults["expected"] == "failure"]
    reported = result.failures
    assert sorted(zip(reported["source_row"], reported["column"], strict=False)) == sorted(
        zip(expected["row"].astype(int), expected["column"], strict=False)
    )
    # The value reported is the value written in the file (the duplicate names both key columns).
    by_cell = {
        (r, c): v
        for r, c, v in zip(
            reported["source_row"], reported["column"], reported["value"], strict=False
        )
    }
    for row in expected.itertuples(index=False):
        if row.kind != "duplicate_key":
            assert by_cell[(int(row.row), row.column)] == row.value
    kinds = dict(
        zip(
            zip(reported["source_row"], reported["column"], strict=False),
            reported["check"],
            strict=False,
        )
    )
    check_of = {
        "out_of_range": "item_in_range",
        "non_numeric": "item_numeric",
        "duplicate_key": "unique_participant_wave",
        "time_order": "time_non_decreasing",
    }
    for row in expected.itertuples(index=False):
        assert kinds[(int(row.row), row.column)] == check_of[row.kind]

    # Declared missing codes become missing, no failure.
    table = result.table.set_index("source_row")
    for row in faults[faults["expected"] == "missing"].itertuples(index=False):
        assert np.isnan(table.loc[int(row.row), row.column])
    # Straight-lined rows are flagged, kept.
    ledger = result.ledger.set_index("source_row")
    straight = faults.loc[faults["kind"] == "straight_lining", "row"].astype(int)
    assert set(ledger.index[ledger["flags"] != ""]) == set(straight)
    assert (ledger.loc[list(straight), "status"] == "kept").all()
    assert len(result.ledger) == ingested.n_source_rows == 412
    assert result.n_excluded == len(expected)


def test_parquet_round_trip_keeps_everything(tmp_path):
    # The workflow stores the ingest as parquet + JSON meta between rules: same result after the trip.
    import json

    cohort = cohort_for(
        DATA / "wide_empty_slot.csv",
        layout="wide",
        columns={"participant": "pid"},
        careless={"straightlining": "off"},
    )
    ingested = read_cohort(cohort)
    ingested.table.to_parquet(tmp_path / "t.parquet")
    (tmp_path / "m.json").write_text(json.dumps(ingested.meta()))
    again = IngestResult.from_meta(
        pd.read_parquet(tmp_path / "t.parquet"), json.loads((tmp_path / "m.json").read_text())
    )
    direct, stored = validate(ingested, cohort), validate(again, cohort)
    pd.testing.assert_frame_equal(direct.failures, stored.failures)
    pd.testing.assert_frame_equal(direct.ledger, stored.ledger)
    pd.testing.assert_frame_equal(direct.table, stored.table)
    assert list(stored.failures["column"]) == ["A_2_t2"]
