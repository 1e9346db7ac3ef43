"""An R-style export: ``write.csv`` of a data frame that was read with ``read.csv`` once before.

Row names in an unnamed first column, a second index column ``X``, quoted text, bare ``NA``,
and weekly assessments: the shape that trips naive readers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from srflow.synthetic.design import (
    COMMENTS,
    GENERAL_ITEMS,
    GENERAL_OTHER,
    LIFE_ITEMS,
    LIFE_OTHER,
    PROBLEM_ITEMS,
)
from srflow.synthetic.simulate import simulate_cohort


def _r_quote(values: pd.Series) -> np.ndarray:
    """Format a text column as R's write.csv does: quoted, inner quotes doubled, NA bare."""
    text = values.astype("string")
    quoted = '"' + text.str.replace('"', '""', regex=False) + '"'
    return quoted.fillna("NA").to_numpy(dtype=object)


def _r_number(values: pd.Series) -> np.ndarray:
    """Format a numeric column as R prints it (no trailing .0), NA bare."""
    numbers = pd.to_numeric(values).astype("Float64")
    is_whole = (numbers.round() == numbers).fillna(False)
    text = pd.Series(
        np.where(
            is_whole, numbers.round().astype("Int64").astype("string"), numbers.astype("string")
        ),
        dtype="string",
    )
    return text.where(numbers.notna(), "NA").to_numpy(dtype=object)


def r_export(seed: int, participants: int = 200, target_columns: int = 196) -> str:
    """An R-style export (write.csv of a data frame that was read with read.csv once before)."""
    fixed = 8 + len(PROBLEM_ITEMS) + len(GENERAL_ITEMS) + 1 + len(LIFE_ITEMS) + 1 + 1
    n_extra = target_columns - fixed
    data, _ = simulate_cohort(
        participants,
        6,
        seed,
        dropout=0.0,
        interval_days=7,
        interval_jitter=2,
        n_extra_items=n_extra,
    )
    rng = np.random.default_rng([seed, 3])
    assessments = rng.integers(4, 7, participants)  # 4-6 weekly assessments each
    person = data["subject_id"].str.slice(1).astype(int).to_numpy() - 1
    data = data.loc[data["wave"].to_numpy() <= assessments[person]].reset_index(drop=True)
    n_rows = len(data)

    def text_column(options: tuple[str, ...], share: float) -> pd.Series:
        chosen = np.asarray(options, dtype=object)[rng.integers(0, len(options), n_rows)]
        return pd.Series(np.where(rng.random(n_rows) < share, chosen, None), dtype="string")

    row_names = pd.Series(np.arange(1, n_rows + 1))
    columns: dict[str, np.ndarray] = {
        "": _r_quote(row_names.astype("string")),
        "X": _r_number(row_names),
        "ID": _r_quote(data["subject_id"]),
        "visit": _r_number(data["wave"]),
        "date": data["date"].to_numpy(dtype=object),  # R writes Date columns unquoted
        "age": _r_number(data["age"]),
        "gender": _r_quote(data["gender"].astype("string")),
        "arm": _r_quote(data["arm"]),
    }
    for item in PROBLEM_ITEMS + GENERAL_ITEMS:
        columns[item] = _r_number(data[item])
    columns["GE_12"] = _r_quote(text_column(GENERAL_OTHER, 0.1))
    for item in LIFE_ITEMS:
        columns[item] = _r_number(data[item])
    columns["LE_26"] = _r_quote(text_column(LIFE_OTHER, 0.05))
    columns["comment"] = _r_quote(text_column(tuple(c for c in COMMENTS if c), 0.12))
    for item in [c for c in data.columns if c.startswith("Q_")]:
        columns[item] = _r_number(data[item])
    if len(columns) != target_columns:
        raise AssertionError(f"r_export has {len(columns)} columns, expected {target_columns}")
    header = ",".join(f'"{name}"' for name in columns)
    body = np.asarray(list(columns.values()), dtype=object).T
    lines = [",".join(row) for row in body]
    return header + "\n" + "\n".join(lines) + "\n"
