"""The validated table with the contract's types."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from srflow.config import CohortConfig
from srflow.io import (
    IngestResult,
    as_text,
    parse_dates,
    parse_numbers,
)
from srflow.validation.rules import _item_ranges, _RowKeys


def _typed_table(
    table: pd.DataFrame,
    keep: np.ndarray,
    keys: _RowKeys,
    days: np.ndarray,
    ingested: IngestResult,
    cohort: CohortConfig,
) -> pd.DataFrame:
    """Kept rows with the contract's types, sorted by participant_id and wave."""
    rows = np.flatnonzero(keep)
    # The participant codes are in sorted id order, so sorting codes sorts the ids.
    rows = rows[np.lexsort((keys.waves[rows], keys.codes[rows]))]
    out: dict[str, Any] = {
        "source_row": table["source_row"].to_numpy(dtype=np.int64)[rows],
        "participant_id": keys.participant_id.take(rows).reset_index(drop=True),
        "wave": keys.waves[rows].astype(np.int64),
        "time": np.asarray(days, dtype="float64")[rows],
    }
    for name, _, _ in _item_ranges(ingested, cohort):
        out[name] = parse_numbers(table[name])[0][rows]
    for name, kind in cohort.columns.covariates.items():
        if name in out:
            continue
        out[name] = _typed_covariate(table[name].take(rows).reset_index(drop=True), kind)
    return pd.DataFrame(out)


def _nullable_integers(numbers: np.ndarray) -> pd.Series:
    missing = np.isnan(numbers)
    return pd.Series(
        pd.arrays.IntegerArray(np.where(missing, 0, numbers).astype(np.int64), missing)
    )


def _typed_covariate(values: pd.Series, kind: str) -> pd.Series:
    if kind == "numeric":
        return pd.Series(parse_numbers(values)[0], dtype="float64")
    if kind == "integer":
        numbers = parse_numbers(values)[0]
        return _nullable_integers(numbers)
    if kind == "date":
        return parse_dates(values).reset_index(drop=True)
    if kind == "category":
        if pd.api.types.is_numeric_dtype(values.dtype):
            numbers = values.to_numpy(dtype="float64", na_value=np.nan)
            if np.all(np.isnan(numbers) | (numbers == np.round(numbers))):
                values = _nullable_integers(numbers)
            return values.astype("category").reset_index(drop=True)
        return as_text(values).astype("category").reset_index(drop=True)
    return as_text(values).reset_index(drop=True)
