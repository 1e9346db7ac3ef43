"""Tests of srflow.io: reading every format into the same canonical long table.

Fixtures in tests/data/io/ are hand-made (see each test); the expected values are written
out by hand from the fixture rows. Binary formats (parquet, sav, dta, xlsx) are written at
test time from the same small table, so every format is compared with one hand-computed
answer.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import SYNTHETIC_COLUMNS
from srflow.config import load_config
from srflow.errors import DataWarning, InputError
from srflow.io import (
    clean_column,
    parse_dates,
    parse_numbers,
    read_cohort,
    read_raw,
    resolve_items,
    time_to_days,
)
from srflow.validation import validate

DATA = Path(__file__).parent / "data" / "io"
SYNTHETIC = Path(__file__).resolve().parents[1] / "data" / "synthetic"
MESSY = SYNTHETIC / "messy"

SMALL_COLUMNS = {
    "participant": "id",
    "wave": "wave",
    "time": "date",
    "covariates": {"age": "integer", "sex": "category"},
}
SMALL_INSTRUMENTS = {"a": {"role": "problems", "items": {"prefix": "A_"}, "range": [0, 3]}}


def cohort_for(path: Path | str, **overrides):
    """A one-cohort config for the small fixtures (overrides replace cohort keys)."""
    cohort = {
        "input": str(path),
        "columns": SMALL_COLUMNS,
        "missing_codes": [-99],
        "on_invalid": "exclude",
        "careless": {"straightlining": "off"},
        "instruments": SMALL_INSTRUMENTS,
    }
    cohort.update(overrides)
    return load_config({"cohorts": {"c": cohort}}).cohort("c")


def read_quietly(cohort):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return read_cohort(cohort)


# The small table, by hand (tests/data/io/small_*.csv):
#   P1 w1 2021-03-01 A 0 1 2; P1 w2 2021-03-15 A 1 -99 2; P2 w1 03.03.2021 A 3 3 3; P2 w2 2021-04-02 A 2 NA 1
# -99 is a declared missing code and NA a missing token, so A_2 is missing in rows 2 and 4.
# Days since each participant's first assessment: P1 0, 14; P2 0 (3 March), 30 (2 April).
EXPECTED_SMALL = pd.DataFrame(
    {
        "source_row": np.array([1, 2, 3, 4], dtype=np.int64),
        "participant_id": pd.Series(["P1", "P1", "P2", "P2"], dtype="str"),
        "wave": np.array([1, 2, 1, 2], dtype=np.int64),
        "time": [0.0, 14.0, 0.0, 30.0],
        "A_1": [0.0, 1.0, 3.0, 2.0],
        "A_2": [1.0, np.nan, 3.0, np.nan],
        "A_3": [2.0, 2.0, 3.0, 1.0],
    }
)


def small_frame_typed() -> pd.DataFrame:
    """The small table with native types, for the binary formats."""
    return pd.DataFrame(
        {
            "id": ["P1", "P1", "P2", "P2"],
            "wave": [1.0, 2.0, 1.0, 2.0],
            "date": pd.to_datetime(["2021-03-01", "2021-03-15", "2021-03-03", "2021-04-02"]),
            "age": [30.0, 30.0, 41.0, 41.0],
            "sex": ["f", "f", "m", "m"],
            "A_1": [0.0, 1.0, 3.0, 2.0],
            "A_2": [1.0, -99.0, 3.0, np.nan],
            "A_3": [2.0, 2.0, 3.0, 1.0],
            "A_note": ["", "fine; thanks, mostly", "line one\nline two", ""],
        }
    )


def write_binary(kind: str, folder: Path) -> Path:
    frame = small_frame_typed()
    if kind == "parquet":
        path = folder / "small.parquet"
        frame.to_parquet(path, index=False)
    elif kind == "sav":
        import pyreadstat

        path = folder / "small.sav"
        pyreadstat.write_sav(frame, str(path))
    elif kind == "dta":
        path = folder / "small.dta"
        frame.to_stata(path, write_index=False, convert_dates={"date": "td"}, version=118)
    elif kind == "xlsx":
        path = folder / "small.xlsx"
        frame.to_excel(path, sheet_name="data", index=False)
    else:
        raise AssertionError(kind)
    return path


TEXT_FIXTURES = [
    "small_bom.csv",
    "small_semicolon.csv",
    "small.tsv",
    "small_tab.txt",
    "small_cp1252.csv",
]


@pytest.mark.parametrize("name", TEXT_FIXTURES)
def test_text_formats_give_the_hand_computed_table(name):
    cohort = cohort_for(DATA / name)
    ingested = read_quietly(cohort)
    assert ingested.n_source_rows == 4
    assert ingested.items == {"a": ["A_1", "A_2", "A_3"]}  # A_note (free text) excluded
    # Raw values survive ingest: the time column is still the text of the file.
    assert list(ingested.table["time"]) == ["2021-03-01", "2021-03-15", "03.03.2021", "2021-04-02"]
    result = validate(ingested, cohort)
    pd.testing.assert_frame_equal(result.table[EXPECTED_SMALL.columns], EXPECTED_SMALL)
    assert list(result.table["age"]) == [30, 30, 41, 41]
    assert list(result.table["sex"].astype(str)) == ["f", "f", "m", "m"]


@pytest.mark.parametrize("kind", ["parquet", "sav", "dta", "xlsx"])
def test_binary_formats_give_the_same_table(kind, tmp_path):
    path = write_binary(kind, tmp_path)
    cohort = cohort_for(path, sheet="data")
    result = validate(read_quietly(cohort), cohort)
    pd.testing.assert_frame_equal(result.table[EXPECTED_SMALL.columns], EXPECTED_SMALL)
    assert list(result.table["age"]) == [30, 30, 41, 41]


def test_raw_text_is_not_coerced():
    frame, _ = read_raw(DATA / "small_semicolon.csv")
    # Every column stays text; NA and the empty cell are missing; the line break is kept.
    assert all(str(dtype) == "str" for dtype in frame.dtypes)
    assert frame.loc[0, "A_1"] == "0"
    assert frame.loc[1, "A_2"] == "-99"
    assert pd.isna(frame.loc[3, "A_2"]) and pd.isna(frame.loc[0, "A_note"])
    assert frame.loc[2, "A_note"] == "line one\nline two"
    assert frame.loc[1, "A_note"] == "fine; thanks, mostly"


def test_cp1252_fallback_is_noted():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one channel: the note is returned, never also warned
        frame, notes = read_raw(DATA / "small_cp1252.csv")
    assert frame.loc[0, "A_note"] == "caf\u00e9"
    assert any("cp1252" in note for note in notes)


def test_cp1252_late_in_a_large_file(tmp_path):
    # The first 64 KiB are plain ASCII, so only the full read finds the cp1252 byte.
    lines = ["id,wave,A_1,note"] + [f"P{i},1,1,plain" for i in range(8000)] + ["P9999,1,2,caf\xe9"]
    path = tmp_path / "late.csv"
    path.write_bytes("\n".join(lines).encode("cp1252") + b"\n")
    frame, notes = read_raw(path)
    assert any("not valid UTF-8" in note for note in notes)
    assert len(frame) == 8001 and frame["note"].iloc[-1] == "caf\u00e9"


def test_wide_pivot():
    # tests/data/io/wide.csv: 2 wide rows, waves 1-3; A_3 has no wave-3 column; P1 has nothing at wave 3.
    cohort = cohort_for(
        DATA / "wide.csv",
        layout="wide",
        columns={"participant": "pid", "time": "date", "covariates": {"sex": "category"}},
    )
    ingested = read_quietly(cohort)
    table = ingested.table
    assert list(table["source_row"]) == [1, 1, 1, 2, 2, 2]
    assert list(table["participant_id"]) == ["P1", "P1", "P1", "P2", "P2", "P2"]
    assert list(table["wave"]) == [1, 2, 3, 1, 2, 3]
    assert list(table["sex"]) == ["f", "f", "f", "m", "m", "m"]
    np.testing.assert_array_equal(table["A_1"].to_numpy(), [0, 1, np.nan, 3, 2, 1])
    np.testing.assert_array_equal(table["A_2"].to_numpy(), [1, np.nan, np.nan, 3, 1, 1])
    np.testing.assert_array_equal(table["A_3"].to_numpy(), [2, 2, np.nan, 3, 1, np.nan])
    assert any("'A_3' has no column for wave(s) 3" in note for note in ingested.notes)
    assert ingested.source_column("A_2", 2) == "A_2_t2"

    result = validate(ingested, cohort)
    # The empty slot (P1, wave 3) is kept in the ledger and excluded as no data, not a failure.
    assert result.ok
    assert list(result.ledger["status"]) == ["kept", "kept", "excluded", "kept", "kept", "kept"]
    assert result.ledger.loc[2, "reason"] == "no_data_at_wave"
    # Days since first assessment: P1 0, 14; P2 0, 30, 59 (3 Mar -> 2 Apr -> 1 May 2021).
    assert list(result.table["time"]) == [0.0, 14.0, 0.0, 30.0, 59.0]


def test_index_columns_ignored_and_noted():
    # tests/data/io/r_style.csv: "" (1..n), X (1..n), X.1 (0..n-1) are row indexes;
    # "index" holds 5, 6, 7, which is not a row counter, so it is not reported as ignored.
    cohort = cohort_for(
        DATA / "r_style.csv",
        columns={"participant": "ID", "wave": "visit"},
    )
    ingested = read_cohort(cohort)
    assert sum("'A_open'" in note for note in ingested.notes) == 1
    assert ingested.notes[:3] == [
        "ignored column '': a row index (1..n)",
        "ignored column 'X': a row index (1..n)",
        "ignored column 'X.1': a row index (0..n-1)",
    ]
    assert not any("'index'" in note for note in ingested.notes)
    assert ingested.items == {"a": ["A_1", "A_2", "A_3"]}
    assert list(ingested.table.columns) == [
        "source_row",
        "participant_id",
        "wave",
        "A_1",
        "A_2",
        "A_3",
    ]
    assert (
        "A_open" in ingested.notes[3]
        and "holds text (2 of 2 values are not numbers)" in ingested.notes[3]
    )


def test_configured_index_like_column_is_kept(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("X,wave,A_1,A_2\n1,1,0,1\n2,1,1,1\n")
    cohort = cohort_for(path, columns={"participant": "X", "wave": "wave"})
    ingested = read_quietly(cohort)
    assert list(ingested.table["participant_id"]) == ["1", "2"]
    assert ingested.notes == []


def test_explicit_text_column_is_not_excluded(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,wave,A_1,A_open\nP1,1,0,text\nP2,1,1,more text\n")
    cohort = cohort_for(
        path,
        columns={"participant": "id", "wave": "wave"},
        instruments={
            "a": {"role": "problems", "items": {"columns": ["A_1", "A_open"]}, "range": [0, 3]}
        },
    )
    ingested = read_cohort(cohort)
    assert ingested.items == {"a": ["A_1", "A_open"]}
    result = validate(ingested, cohort)
    assert list(result.failures["check"]) == ["item_numeric", "item_numeric"]
    assert list(result.failures["value"]) == ["text", "more text"]


def test_missing_codes_numeric_and_text(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        "id,wave,A_1,A_2,A_3,age\nP1,1,-99,-99.0,n/a,-99\nP2,1,1, -99 ,999,40\nP3,1, NA ,1,2,N/A\n"
    )
    cohort = cohort_for(
        path,
        columns={"participant": "id", "wave": "wave", "covariates": {"age": "numeric"}},
        missing_codes=[-99, "n/a"],
        instruments={
            "a": {
                "role": "problems",
                "items": {"prefix": "A_"},
                "range": [0, 3],
                "missing_codes": ["999"],
            }
        },
    )
    table = read_quietly(cohort).table
    np.testing.assert_array_equal(
        table["A_1"].to_numpy(), [np.nan, 1, np.nan]
    )  # " NA " is missing too
    np.testing.assert_array_equal(table["A_2"].to_numpy(), [np.nan, np.nan, 1])
    np.testing.assert_array_equal(table["A_3"].to_numpy(), [np.nan, np.nan, 2])
    np.testing.assert_array_equal(table["age"].to_numpy(), [np.nan, 40, np.nan])
    assert table["A_1"].dtype == np.float64


def test_clean_column_compares_codes_numerically():
    for values in (
        pd.Series([-99, 1, 2]),
        pd.Series(["-99", "1", "x"]),
        pd.Series([-99.0, 1.0, np.nan]),
    ):
        cleaned, n_present, _ = clean_column(values, ["-99"], numeric=False)
        assert pd.isna(cleaned.iloc[0]) and not pd.isna(cleaned.iloc[1])
        assert n_present == 2 - int(pd.isna(values.iloc[2]))


def test_date_to_days_since_first_assessment():
    # P1: 2021-01-10, then 31.01.2021 (day-first) -> 21 days; 2021-01-05 is the first assessment
    # of P1 even though it comes last in the file (min over the participant's dates) -> -5 + 5 = 0.
    values = pd.Series(["2021-01-10", "31.01.2021", "2021-01-05", "2020-12-31", "not a date", None])
    pids = pd.Series(["P1", "P1", "P1", "P2", "P2", "P2"])
    parsed = time_to_days(values, pids, "auto")
    assert parsed.kind == "date"
    np.testing.assert_array_equal(parsed.days, [5.0, 26.0, 0.0, 0.0, np.nan, np.nan])
    np.testing.assert_array_equal(parsed.unparseable, [False, False, False, False, True, False])


def test_numeric_time_used_as_given():
    parsed = time_to_days(pd.Series(["0", "7.5", "abc", None]), pd.Series(["a"] * 4), "auto")
    assert parsed.kind == "number"
    np.testing.assert_array_equal(parsed.days, [0.0, 7.5, np.nan, np.nan])
    np.testing.assert_array_equal(parsed.unparseable, [False, False, True, False])


def test_parse_dates_formats():
    parsed = parse_dates(
        pd.Series(["2021-02-03", "03/02/2021", "03.02.2021", "3 Feb 2021", "2021-02-03T10:00:00"])
    )
    assert list(parsed.dt.strftime("%Y-%m-%d")) == ["2021-02-03"] * 5


def test_parse_numbers_reports_text():
    numbers, not_numeric = parse_numbers(
        pd.Series([" 1", "2.5", "1e1", "abc", None, "nan"], dtype="str")
    )
    np.testing.assert_array_equal(numbers, [1.0, 2.5, 10.0, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(not_numeric, [False, False, False, True, False, True])


def test_numeric_ids_become_text(tmp_path):
    frame = pd.DataFrame({"id": [1.0, 2.0], "wave": [1, 1], "A_1": [0.0, 1.0]})
    path = tmp_path / "ids.parquet"
    frame.to_parquet(path)
    cohort = cohort_for(path, columns={"participant": "id", "wave": "wave"})
    assert list(read_cohort(cohort).table["participant_id"]) == ["1", "2"]


def test_unknown_column_names_near_match():
    cohort = cohort_for(DATA / "small_bom.csv", columns={**SMALL_COLUMNS, "wave": "wav"})
    with pytest.raises(InputError) as info:
        read_cohort(cohort)
    message = str(info.value)
    assert "small_bom.csv" in message and "columns.wave" in message and "'wav'" in message
    assert "did you mean 'wave'" in message
    assert "Available columns: 'id', 'wave', 'date'" in message


def test_unknown_covariate_names_key():
    cohort = cohort_for(
        DATA / "small_bom.csv", columns={**SMALL_COLUMNS, "covariates": {"gender": "category"}}
    )
    with pytest.raises(InputError, match=r"columns\.covariates\.gender names column 'gender'"):
        read_cohort(cohort)


def test_instrument_without_match():
    cohort = cohort_for(
        DATA / "small_bom.csv",
        instruments={"ghq": {"role": "problems", "items": {"prefix": "a_"}, "range": [0, 3]}},
    )
    with pytest.raises(InputError) as info:
        read_cohort(cohort)
    message = str(info.value)
    assert "instruments.ghq.items: prefix 'a_' matches no column" in message
    assert "Similar columns: A_1, A_2, A_3" in message


def test_resolve_items_selectors():
    columns = ["id", "GE_01", "GE_02", "GE_10", "GE_11", "GE_12", "LE_01"]
    cfg = load_config(
        {
            "cohorts": {
                "c": {
                    "input": "x.csv",
                    "columns": {"participant": "id", "wave": "w"},
                    "instruments": {
                        "p": {"role": "problems", "items": {"prefix": "GE_"}, "range": [0, 5]},
                        "r": {
                            "role": "stressors",
                            "items": {"regex": "^GE_(0[1-9]|1[01])$"},
                            "range": [0, 5],
                        },
                        "c": {
                            "role": "stressors",
                            "items": {"columns": ["LE_01", "GE_02"]},
                            "range": [0, 5],
                        },
                    },
                }
            }
        }
    ).cohort("c")
    assert resolve_items(columns, cfg.instruments["p"]) == [
        "GE_01",
        "GE_02",
        "GE_10",
        "GE_11",
        "GE_12",
    ]
    assert resolve_items(columns, cfg.instruments["r"]) == ["GE_01", "GE_02", "GE_10", "GE_11"]
    assert resolve_items(columns, cfg.instruments["c"]) == ["GE_02", "LE_01"]  # source order
    with pytest.raises(InputError, match=r"'LE_1' \(did you mean 'LE_01'"):
        resolve_items(
            ["id", "LE_01"], dataclasses.replace(cfg.instruments["c"], selector=("LE_1",))
        )


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="input file not found"):
        read_raw(tmp_path / "nope.csv")
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(InputError, match="unsupported file type '.json'"):
        read_raw(tmp_path / "data.json")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="is empty"):
        read_raw(tmp_path / "empty.csv")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="cannot read .*bad.parquet"):
        read_raw(tmp_path / "bad.parquet")


def test_ragged_rows(tmp_path):
    (tmp_path / "long_row.csv").write_text("a,b,c\n1,2,3\n4,5,6,7\n")
    with pytest.raises(InputError, match=r"row 2 \(line 3\) has 4"):
        read_raw(tmp_path / "long_row.csv")
    # a short row is not padded with blanks: its row number is named
    (tmp_path / "short_row.csv").write_text("a,b,c\n1,2,3\n4,5\n7,8,9\n1\n")
    with pytest.raises(
        InputError, match=r"2 data row\(s\).*row 2 \(line 3\) has 2; row 4 \(line 5\) has 1"
    ):
        read_raw(tmp_path / "short_row.csv")


def test_explicit_delimiter_and_encoding():
    frame, _ = read_raw(DATA / "small_semicolon.csv", delimiter=";", encoding="utf-8")
    assert list(frame.columns) == [
        "id",
        "wave",
        "date",
        "age",
        "sex",
        "A_1",
        "A_2",
        "A_3",
        "A_note",
    ]


# --------------------------------------------------------------------------- synthetic files


def needs(path: Path):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not generated (run srflow synth)")


@needs(MESSY / "r_export.csv")
def test_r_export_ingests(synthetic_cohort):
    # data/synthetic/README.md: 200 participants (ID), 4-6 weekly visits, 196 columns,
    # "" and X are row numbers, GE_12 and LE_26 are free text sharing the item prefixes.
    cohort = synthetic_cohort(
        MESSY / "r_export.csv", columns={"participant": "ID", "wave": "visit", "time": "date"}
    )
    ingested = read_cohort(cohort)
    frame, _ = read_raw(MESSY / "r_export.csv")
    assert frame.shape[1] == 196
    table = ingested.table
    assert ingested.n_source_rows == len(table) == len(frame)
    assert table["participant_id"].nunique() == 200
    counts = table.groupby("participant_id").size()
    assert counts.min() >= 4 and counts.max() <= 6
    assert "ignored column '': a row index (1..n)" in ingested.notes
    assert "ignored column 'X': a row index (1..n)" in ingested.notes
    assert "GE_12" not in ingested.items["hassles"] and len(ingested.items["hassles"]) == 11
    assert "LE_26" not in ingested.items["life_events"] and len(ingested.items["life_events"]) == 25
    assert any("'GE_12'" in n for n in ingested.notes) and any(
        "'LE_26'" in n for n in ingested.notes
    )
    result = validate(ingested, cohort)
    assert result.ok and result.n_kept == len(table)


@needs(MESSY / "cohort.sav")
@pytest.mark.parametrize(
    "name", ["cohort.sav", "cohort.dta", "cohort.xlsx", "cohort.parquet", "cohort_wide.csv"]
)
def test_synthetic_formats_match_cohort_csv(synthetic_cohort, name):
    # README: the messy files hold the first 60 participants of cohort.csv (411 rows).
    reference_cohort = synthetic_cohort(SYNTHETIC / "cohort.csv")
    reference = validate(read_quietly(reference_cohort), reference_cohort).table
    reference = reference[reference["participant_id"] <= "S0060"].reset_index(drop=True)
    if name == "cohort_wide.csv":
        cohort = synthetic_cohort(
            MESSY / name, layout="wide", columns={"participant": "subject_id", "time": "date"}
        )
    else:
        cohort = synthetic_cohort(MESSY / name, sheet="cohort")
    table = validate(read_quietly(cohort), cohort).table
    assert len(table) == len(reference) == 411
    columns = ["participant_id", "wave", "time"] + [
        c for c in reference.columns if c[:3] in ("GHQ", "GE_", "LE_")
    ]
    pd.testing.assert_frame_equal(table[columns], reference[columns])


# --------------------------------------------------------------------------- value labels

LABELLED_COLUMNS = {**SYNTHETIC_COLUMNS, "covariates": {"age": "integer", "gender": "category"}}


@needs(MESSY / "cohort.sav")
@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("cohort.sav", "1 = female, 2 = male, 3 = diverse"),
        ("cohort.dta", "0 = female, 1 = male, 2 = diverse"),
    ],
)
def test_spss_and_stata_value_labels_give_cohort_csv_genders(synthetic_cohort, name, codes):
    # data/synthetic/README.md: the .sav/.dta files hold the first 60 participants of cohort.csv
    # (411 rows, same order); gender is coded 1-3 (SPSS) or 0-2 (Stata) with value labels, while
    # cohort.csv holds the label texts themselves. So the labelled codes must equal cohort.csv's text.
    reference, _ = read_raw(SYNTHETIC / "cohort.csv")
    reference = reference.iloc[:411].reset_index(drop=True)
    cohort = synthetic_cohort(MESSY / name, columns=LABELLED_COLUMNS)
    ingested = read_quietly(cohort)
    table = ingested.table
    assert list(table["participant_id"]) == list(reference["subject_id"])
    assert list(table["gender"]) == list(reference["gender"])
    assert set(table["gender"]) == {"female", "male"}  # no 'diverse' among these 60 participants
    fmt = "SPSS" if name.endswith(".sav") else "Stata"
    assert f"covariate 'gender': {fmt} value labels applied ({codes})" in ingested.notes
    # Items keep their stored numbers; the integer covariate stays numeric.
    raw, _ = read_raw(MESSY / name)
    np.testing.assert_array_equal(
        table["GHQ_01"].to_numpy(), raw["GHQ_01"].to_numpy(dtype="float64", na_value=np.nan)
    )
    assert table["GHQ_01"].dtype == np.float64 and pd.api.types.is_numeric_dtype(table["age"].dtype)
    # read_raw itself still gives the codes (srflow.starter relies on that).
    assert set(raw["gender"].dropna().astype(int)) == ({1, 2} if fmt == "SPSS" else {0, 1})
    typed = validate(ingested, cohort).table
    assert isinstance(typed["gender"].dtype, pd.CategoricalDtype)
    assert sorted(typed["gender"].cat.categories) == ["female", "male"]


def test_hand_made_sav_labels_only_category_covariates(tmp_path):
    import pyreadstat

    # By hand: grp codes 1, 2, 9 (no label), -99 (declared missing code); A_1 is an item with labels
    # (0 = never, 3 = always) and must stay numeric; dose is a numeric covariate with labels, also kept.
    frame = pd.DataFrame(
        {
            "id": ["P1", "P1", "P2", "P2"],
            "wave": [1.0, 2.0, 1.0, 2.0],
            "grp": [1.0, 2.0, 9.0, -99.0],
            "dose": [0.0, 1.0, 1.0, 0.0],
            "A_1": [0.0, 3.0, 2.0, 3.0],
            "A_2": [1.0, 1.0, 0.0, 2.0],
        }
    )
    path = tmp_path / "labelled.sav"
    pyreadstat.write_sav(
        frame,
        str(path),
        variable_value_labels={
            "grp": {1: "low", 2: "high"},
            "dose": {0: "none", 1: "full"},
            "A_1": {0: "never", 3: "always"},
        },
    )
    cohort = cohort_for(
        path,
        columns={
            "participant": "id",
            "wave": "wave",
            "covariates": {"grp": "category", "dose": "numeric"},
        },
    )
    ingested = read_cohort(cohort)
    assert any("without a value label kept as they are: 9" in note for note in ingested.notes)
    table = ingested.table
    assert table["grp"].tolist()[:3] == ["low", "high", "9"] and pd.isna(table["grp"].iloc[3])
    assert table["A_1"].tolist() == [0.0, 3.0, 2.0, 3.0] and table["A_1"].dtype == np.float64
    assert table["dose"].tolist() == [0.0, 1.0, 1.0, 0.0] and table["dose"].dtype == np.float64
    assert "covariate 'grp': SPSS value labels applied (1 = low, 2 = high)" in ingested.notes
    assert not any("'dose'" in note or "'A_1'" in note for note in ingested.notes)
    typed = validate(ingested, cohort).table
    assert typed["A_1"].tolist() == [0.0, 3.0, 2.0, 3.0]
    assert sorted(typed["grp"].cat.categories) == ["9", "high", "low"]


# --- dates stored as numbers ------------------------------------------------------------------


def test_numeric_dates_count_from_the_origin():
    # 18628 days after 1970-01-01 is 2021-01-01 (51 years of 365 days + 13 leap days = 18628);
    # Excel serial 44197 is the same day (44197 - 25569, the serial of 1970-01-01, = 18628).
    from srflow.io.dates import numeric_dates

    r_dates = numeric_dates(
        pd.Series(["18628", "18642.5", None, "2021-01-03", "soon"]), "1970-01-01"
    )
    assert r_dates.iloc[0] == pd.Timestamp("2021-01-01")
    assert r_dates.iloc[1] == pd.Timestamp("2021-01-15 12:00")
    assert pd.isna(r_dates.iloc[2]) and pd.isna(r_dates.iloc[4])
    assert r_dates.iloc[3] == pd.Timestamp("2021-01-03")  # a date written as text stays readable
    excel = numeric_dates(pd.Series([44197.0, 25569.0]), "excel")
    assert excel.tolist() == [pd.Timestamp("2021-01-01"), pd.Timestamp("1970-01-01")]
    hours = numeric_dates(pd.Series([36]), "2021-01-01", unit="hours")
    assert hours.iloc[0] == pd.Timestamp("2021-01-02 12:00")


def test_numeric_dates_become_days_since_first_assessment(tmp_path):
    # P1 at 18628 and 18642 (14 days later), P2 at 18700 and 18730: days 0, 14, 0, 30
    path = tmp_path / "numeric_dates.csv"
    path.write_text("id,wave,date,A_1\nP1,1,18628,1\nP1,2,18642,2\nP2,1,18700,0\nP2,2,18730,3\n")
    plain = cohort_for(path, columns={"participant": "id", "wave": "wave", "time": "date"})
    numeric = validate(read_cohort(plain), plain)
    assert numeric.table["time"].tolist() == [
        18628.0,
        18642.0,
        18700.0,
        18730.0,
    ]  # numbers as given
    dated = cohort_for(
        path,
        columns={
            "participant": "id",
            "wave": "wave",
            "time": {"column": "date", "origin": "1970-01-01"},
        },
    )
    assert (dated.columns.time, dated.columns.time_type, dated.columns.time_origin) == (
        "date",
        "date",
        "1970-01-01",
    )
    result = validate(read_cohort(dated), dated)
    assert result.ok and result.table["time"].tolist() == [0.0, 14.0, 0.0, 30.0]
    as_dates = cohort_for(
        path, columns={"participant": "id", "wave": "wave", "time": "date", "time_type": "date"}
    )
    failed = validate(read_cohort(as_dates), as_dates)
    assert set(failed.failures["check"]) == {"time_parseable"}
    assert "origin: '1970-01-01'" in failed.failures["message"].iloc[0]


# --- one channel for notes --------------------------------------------------------------------


def test_a_text_column_caught_by_a_prefix_is_noted_once_in_the_ingest_log(tmp_path):
    from srflow.stages._common import run_logged
    from srflow.stages.ingest import ingest_stage

    config = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text()
    )
    cohort = config["cohorts"]["synthetic"]
    cohort["input"] = str(MESSY / "dirty.csv")
    cohort["instruments"]["hassles"]["items"] = {"prefix": "GE_"}
    log = tmp_path / "ingest.log"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the library returns notes, it does not also warn
        run_logged(
            log,
            ingest_stage,
            config_data=config,
            cohort_name="synthetic",
            table_out=str(tmp_path / "c.parquet"),
            meta_out=str(tmp_path / "m.json"),
        )
    text = log.read_text()
    assert text.count("GE_12") == 1
    assert (
        "note: column 'GE_12' matches the prefix 'GE_' of instrument 'hassles' but holds text"
        in text
    )
