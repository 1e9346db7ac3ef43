"""Wide files: per-wave column names and the pivot to one row per (source row, wave)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from srflow.errors import InputError


def _wide_regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\{item\}|\{wave\})", pattern)
    out = []
    for part in parts:
        if part == "{item}":
            out.append(r"(?P<item>.+)")
        elif part == "{wave}":
            out.append(r"(?P<wave>\d+)")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "$")


def _pivot_wide(
    frame: pd.DataFrame,
    participant: str,
    used: list[str],
    stems: dict[str, dict[int, str]],
    notes: list[str],
) -> pd.DataFrame:
    """One row per (wide row, wave) for every wave that has a column of a used stem."""
    n = len(frame)
    waves = sorted({w for name in used if name in stems for w in stems[name]})
    if not waves:
        raise InputError("layout wide: none of the configured columns has a per-wave column")
    n_waves = len(waves)
    # Row-major order: wide row 1 at every wave, then wide row 2, ...
    row_of = np.repeat(np.arange(n), n_waves)
    order = (np.arange(n)[:, None] + np.arange(n_waves)[None, :] * n).ravel()
    out: dict[str, Any] = {
        "source_row": row_of.astype(np.int64) + 1,
        "wave": np.tile(np.asarray(waves, dtype=np.int64), n),
    }
    stable_columns = {participant, *(c for c in used if c not in stems)}
    for name in stable_columns:
        out[name] = frame[name].take(row_of).reset_index(drop=True)
    for name in used:
        if name not in stems:
            continue
        present = [frame[c] for c in stems[name].values()]
        dtypes = {str(p.dtype) for p in present}
        filler_dtype = present[0].dtype if len(dtypes) == 1 else object
        parts = []
        for wave in waves:
            source = stems[name].get(wave)
            parts.append(
                frame[source]
                if source is not None
                else pd.Series(np.nan, index=frame.index, dtype=filler_dtype)
            )
        stacked = pd.concat(parts, ignore_index=True)
        out[name] = stacked.take(order).reset_index(drop=True)
    absent = {name: [w for w in waves if w not in stems[name]] for name in used if name in stems}
    for name, missing in absent.items():
        if missing:
            notes.append(
                f"column '{name}' has no column for wave(s) {', '.join(map(str, missing))}; treated as missing there"
            )
    return pd.DataFrame(out)
