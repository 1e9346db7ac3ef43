"""Writing tables and JSON the same way everywhere: deterministic bytes, strict JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def jsonable(value: Any) -> Any:
    """Convert numpy/pandas values and containers to plain JSON values; NaN and infinities become null."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Path):
        return str(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def write_json(data: Any, path: str | Path) -> None:
    """Write strict JSON with sorted keys, two-space indent and a final newline."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(jsonable(data), indent=2, sort_keys=True, allow_nan=False) + "\n",
        encoding="utf-8",
    )


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write a table as Parquet (``.parquet``) or CSV (anything else), deterministically.

    Columns holding a mix of text and numbers (raw values awaiting validation) are stored
    as text in Parquet so they round-trip exactly.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        out = df.copy()
        for column in out.columns:
            if out[column].dtype == object:
                values = out[column]
                present = values.notna()
                out[column] = values.where(~present, values[present].map(str)).astype("string")
        out.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False, lineterminator="\n")
