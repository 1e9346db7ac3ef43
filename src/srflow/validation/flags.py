"""Rows that are not failures but are flagged or set aside: straightlining and empty wide wave slots."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from srflow.config import CohortConfig
from srflow.errors import ConfigError
from srflow.io import (
    IngestResult,
    parse_numbers,
)


def _straightlining(
    table: pd.DataFrame, ingested: IngestResult, cohort: CohortConfig, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """Instrument -> mask of rows whose answered items (at least min_items) are all identical."""
    careless = cohort.careless
    if careless.straightlining == "off":
        return {}
    out = {}
    for name in careless.instruments:
        if name not in cohort.instruments:
            raise ConfigError(
                f"cohorts.{cohort.name}.careless.instruments: no instrument named '{name}' "
                f"(instruments: {', '.join(cohort.instruments)})"
            )
        items = ingested.items.get(name, [])
        if len(items) < careless.min_items:
            out[name] = np.zeros(len(table), dtype=bool)
            continue
        matrix = np.column_stack([parse_numbers(table[item])[0] for item in items])
        answered = (~np.isnan(matrix)).sum(axis=1)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
            spread = np.nanmax(matrix, axis=1) - np.nanmin(matrix, axis=1)
        out[name] = (answered >= careless.min_items) & (spread == 0) & rows
    return out


def _no_data_rows(table: pd.DataFrame, ingested: IngestResult) -> np.ndarray:
    """Wide-file wave slots without any answered item."""
    if ingested.layout != "wide":
        return np.zeros(len(table), dtype=bool)
    item_columns = list(dict.fromkeys(c for items in ingested.items.values() for c in items))
    if not item_columns:
        return np.zeros(len(table), dtype=bool)
    answered = np.zeros(len(table), dtype=bool)
    for name in item_columns:
        answered |= table[name].notna().to_numpy()
    return ~answered
