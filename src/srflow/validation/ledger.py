"""Per-row bookkeeping: reasons joined in rule order, fast text columns, days rebased per participant."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa_arrow

from srflow.validation.result import RULES

#: Rules whose failure makes a row's date unfit to be a participant's first assessment.
_KEY_RULES = frozenset(
    {
        "participant_id_present",
        "wave_integer_ge_1",
        "unique_participant_wave",
        "time_parseable",
        "time_non_decreasing",
    }
)


def _rebase_days(days: np.ndarray, codes: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Shift each participant's days so that 0 is their earliest eligible assessment.

    A date that failed a key or time rule (e.g. an out-of-order date) must not become the
    participant's first assessment.
    """
    use = eligible & np.isfinite(days) & (codes >= 0)
    origin = np.array(
        pd.Series(np.where(use, days, np.nan)).groupby(codes, sort=False).transform("min"),
        dtype="float64",
    )
    origin[codes < 0] = np.nan
    return days - origin


def _joined_reasons(positions: np.ndarray, checks: np.ndarray, n: int) -> np.ndarray:
    """Per row, the failed rules in rule order joined by "; " ("" for rows without failure)."""
    bits = np.zeros(n, dtype=np.int64)
    for i, rule in enumerate(RULES):
        bits[positions[checks == rule]] |= 1 << i
    out = np.full(n, "", dtype=object)
    for pattern in np.unique(bits[bits > 0]):  # a handful of distinct combinations
        out[bits == pattern] = "; ".join(rule for i, rule in enumerate(RULES) if pattern >> i & 1)
    return out


def _append_label(labels: np.ndarray, mask: np.ndarray, label: str) -> None:
    """Add ``label`` to the "; "-joined labels of the masked rows, in place."""
    rows = np.flatnonzero(mask)
    current = labels[rows]
    labels[rows] = np.where(current == "", label, current + "; " + label)


def _text_from_codes(codes: np.ndarray, labels: list[str]) -> pd.Series:
    """A text column holding ``labels[code]`` per row (fast for a million rows)."""
    taken = pa_arrow.array(labels, type=pa_arrow.string()).take(
        pa_arrow.array(np.asarray(codes, dtype=np.int32))
    )
    return pd.Series(taken.to_pandas(), dtype="str")


def _text_column(values: np.ndarray) -> pd.Series:
    """A text column from an object array that is mostly ``""``."""
    filled = np.flatnonzero(values != "")
    uniques, inverse = np.unique(values[filled].astype(str), return_inverse=True)
    codes = np.zeros(len(values), dtype=np.int32)
    codes[filled] = inverse + 1
    return _text_from_codes(codes, ["", *uniques.tolist()])
