"""A long table with injected faults, and the list of them (the validation tests' answer key).

The faults: a duplicated (participant, wave) row, a wave dated before the previous one,
out-of-range, missing-code and non-numeric cells, straight-lined GHQ answers, free text with
embedded line breaks, a text column caught by the GE_ prefix, and the unnamed index column
of the written file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from srflow.synthetic.design import COMMENTS, GENERAL_OTHER, PROBLEM_ITEMS

#: Cell faults: column, written value, kind, what validation should make of it.
_CELL_FAULTS = (
    ("GHQ_05", "7", "out_of_range", "failure"),
    ("GE_03", "-1", "out_of_range", "failure"),
    ("LE_10", "9", "out_of_range", "failure"),
    ("GHQ_02", "-99", "missing_code", "missing"),
    ("GHQ_10", "-99", "missing_code", "missing"),
    ("GE_07", "-99", "missing_code", "missing"),
    ("LE_14", "-99", "missing_code", "missing"),
    ("GHQ_06", "n/a", "non_numeric", "failure"),
)
#: The answer every GHQ item gets in the three straight-lined rows.
_STRAIGHT_LEVELS = ("0", "1", "3")


def dirty_table(data: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Inject faults into a long table; return (dirty table as strings, fault list).

    Fault rows are 1-based data rows of the written file (header not counted;
    a record with an embedded line break still counts as one row).
    """
    rng = np.random.default_rng([seed, 2])  # the order of the draws below fixes the file: keep it
    frame = pd.DataFrame(
        {c: data[c].astype("string").fillna("").astype(object) for c in data.columns}
    )
    waves_per_person = data.groupby("subject_id", sort=False)["wave"].max()
    long_enough = waves_per_person.index[waves_per_person >= 4].to_numpy()
    dup_person, late_person = rng.choice(long_enough, size=2, replace=False)

    # Duplicate (participant, wave) row: an identical second copy right after the original.
    dup_at = int(
        np.flatnonzero(
            (data["subject_id"] == dup_person).to_numpy() & (data["wave"] == 2).to_numpy()
        )[0]
    )
    frame = pd.concat(
        [frame.iloc[: dup_at + 1], frame.iloc[[dup_at]], frame.iloc[dup_at + 1 :]],
        ignore_index=True,
    )
    # Free text after the duplicate: the copy carries the original's text by construction.
    _add_free_text(frame, rng, dup_at)
    wave3, early = _misdate(frame, late_person)

    used = set(
        np.flatnonzero(frame["subject_id"].isin([dup_person, late_person]).to_numpy()).tolist()
    )
    candidates = np.setdiff1d(np.arange(len(frame)), np.fromiter(used, dtype=int))
    picks = rng.choice(candidates, size=12, replace=False)
    picks.sort()
    order = rng.permutation(len(picks))
    cell_rows = picks[order[: len(_CELL_FAULTS)]]
    straight = picks[order[len(_CELL_FAULTS) : len(_CELL_FAULTS) + len(_STRAIGHT_LEVELS)]]
    for (column, value, _kind, _expected), position in zip(_CELL_FAULTS, cell_rows, strict=True):
        frame.at[position, column] = value
    for level, position in zip(_STRAIGHT_LEVELS, straight, strict=True):
        for item in PROBLEM_ITEMS:
            frame.at[position, item] = level

    # Record faults in file order.
    faults = [
        (int(position), column, value, kind, expected)
        for (column, value, kind, expected), position in zip(_CELL_FAULTS, cell_rows, strict=True)
    ]
    faults += [
        (
            int(position),
            f"{PROBLEM_ITEMS[0]}:{PROBLEM_ITEMS[-1]}",
            level,
            "straight_lining",
            "quality",
        )
        for level, position in zip(_STRAIGHT_LEVELS, straight, strict=True)
    ]
    faults += [
        (dup_at, "subject_id,wave", "", "duplicate_key", "failure"),
        (dup_at + 1, "subject_id,wave", "", "duplicate_key", "failure"),
        (int(wave3), "date", early, "time_order", "failure"),
    ]
    for column in ("comment", "GE_12"):
        for position in np.flatnonzero(
            np.char.find(frame[column].to_numpy().astype(str), "\n") >= 0
        ):
            faults.append(
                (int(position), column, frame.at[position, column], "embedded_newline", "parse")
            )
    fault_table = _fault_table(frame, faults)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame, fault_table


def _add_free_text(frame: pd.DataFrame, rng: np.random.Generator, dup_at: int) -> None:
    """A ``comment`` column, and a text column ``GE_12`` (other hassle) caught by the GE_ prefix."""
    n_rows = len(frame)
    comment = np.where(
        rng.random(n_rows) < 0.15,
        np.asarray(COMMENTS, dtype=object)[rng.integers(0, len(COMMENTS), n_rows)],
        "",
    )
    comment[dup_at + 1] = comment[dup_at]
    other_hassle = np.where(
        rng.random(n_rows) < 0.08,
        np.asarray(GENERAL_OTHER, dtype=object)[rng.integers(0, len(GENERAL_OTHER), n_rows)],
        "",
    )
    other_hassle[dup_at + 1] = other_hassle[dup_at]
    frame["comment"] = comment
    frame.insert(frame.columns.get_loc("GE_11") + 1, "GE_12", other_hassle)


def _misdate(frame: pd.DataFrame, person: str) -> tuple[int, str]:
    """Date the person's wave 3 four days before their wave 2; return its row and the new date."""
    rows = np.flatnonzero((frame["subject_id"] == person).to_numpy())
    wave2, wave3 = rows[1], rows[2]
    early = (np.datetime64(frame.at[wave2, "date"]) - np.timedelta64(4, "D")).astype(str)
    frame.at[wave3, "date"] = early
    return int(wave3), early


def _fault_table(frame: pd.DataFrame, faults: list[tuple[int, str, str, str, str]]) -> pd.DataFrame:
    """The fault list: cell and row faults sorted by (row, column), then the file-level faults."""
    records = [
        {
            "row": position + 1,
            "subject_id": frame.at[position, "subject_id"],
            "wave": int(frame.at[position, "wave"]),
            "column": column,
            "value": value,
            "kind": kind,
            "expected": expected,
        }
        for position, column, value, kind, expected in faults
    ]
    structural = [
        {
            "row": pd.NA,
            "subject_id": "",
            "wave": pd.NA,
            "column": "",
            "value": "",
            "kind": "unnamed_index_column",
            "expected": "parse",
        },
        {
            "row": pd.NA,
            "subject_id": "",
            "wave": pd.NA,
            "column": "GE_12",
            "value": "",
            "kind": "prefix_collision",
            "expected": "parse",
        },
    ]
    fault_table = pd.DataFrame(records).sort_values(["row", "column"], kind="stable")
    fault_table = pd.concat([fault_table, pd.DataFrame(structural)], ignore_index=True)
    fault_table["row"] = fault_table["row"].astype("Int64")
    fault_table["wave"] = fault_table["wave"].astype("Int64")
    return fault_table
