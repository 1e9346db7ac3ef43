"""The validation rules as a vectorised pandera schema over the canonical table."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa

from srflow.config import CohortConfig
from srflow.io import (
    IngestResult,
    parse_dates,
    parse_numbers,
    participant_text,
    time_to_days,
)

#: Highest wave number accepted: beyond it a "wave" is a typo or another column (and the
#: (participant, wave) keys would overflow 64-bit integers).
MAX_WAVE = 100_000


def _wave_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Wave numbers (float, NaN if invalid) and the valid mask (integer 1..MAX_WAVE)."""
    numbers, _ = parse_numbers(values)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(numbers) & (numbers == np.round(numbers)) & (numbers >= 1)
        valid &= numbers <= MAX_WAVE
    return np.where(valid, numbers, np.nan), valid


def _item_numeric_ok(values: pd.Series) -> pd.Series:
    _, not_numeric = parse_numbers(values)
    return pd.Series(~not_numeric, index=values.index)


def _in_range_check(low: float, high: float) -> Callable[[pd.Series], pd.Series]:
    def check(values: pd.Series) -> pd.Series:
        numbers, _ = parse_numbers(values)
        with np.errstate(invalid="ignore"):
            ok = np.isnan(numbers) | ((numbers >= low) & (numbers <= high))
        return pd.Series(ok, index=values.index)

    return check


def _covariate_ok(kind: str) -> Callable[[pd.Series], pd.Series]:
    def check(values: pd.Series) -> pd.Series:
        present = values.notna().to_numpy()
        if kind in ("numeric", "integer"):
            numbers, not_numeric = parse_numbers(values)
            ok = ~not_numeric
            if kind == "integer":
                with np.errstate(invalid="ignore"):
                    ok &= np.isnan(numbers) | (numbers == np.round(numbers))
        elif kind == "date":
            ok = ~present | parse_dates(values).notna().to_numpy()
        else:
            ok = np.ones(len(values), dtype=bool)
        return pd.Series(ok, index=values.index)

    return check


class _RowKeys:
    """Participant, wave and time of every canonical row, computed once.

    The schema validates the canonical table or a subset of its rows that keeps the
    table's index (0..n-1); checks look their rows up here by that index, so the
    expensive parts (date parsing, grouping by participant) run once.
    """

    def __init__(
        self, table: pd.DataFrame, cohort: CohortConfig, has_data: np.ndarray | None = None
    ):
        self.participant_id = participant_text(table["participant_id"])
        self.present = self.participant_id.notna().to_numpy()
        codes, _ = pd.factorize(self.participant_id, sort=True, use_na_sentinel=True)
        self.codes = codes.astype(np.int64)
        self.waves, self.wave_valid = _wave_numbers(table["wave"])
        self.time_type = cohort.columns.time_type
        self.parsed = None
        if cohort.columns.time and "time" in table.columns:
            group = pd.Series(np.where(self.present, self.codes, np.nan))
            self.parsed = time_to_days(
                table["time"].reset_index(drop=True),
                group,
                self.time_type,
                eligible=has_data,
                origin=cohort.columns.time_origin,
                unit=cohort.columns.time_unit,
            )

    def duplicated(self, positions: np.ndarray) -> np.ndarray:
        """Among the given rows, every copy of a (participant, wave) key that occurs more than once."""
        usable = self.present[positions] & self.wave_valid[positions]
        wave = np.where(usable, self.waves[positions], 0).astype(np.int64)
        key = pd.Series(self.codes[positions] * (int(np.nanmax(self.waves, initial=0)) + 1) + wave)
        return key.duplicated(keep=False).to_numpy() & usable

    def reversed_time(self, positions: np.ndarray) -> np.ndarray:
        """True where a row's time is earlier than a time at an earlier wave of the same participant.

        Rows are compared with the latest time at the participant's earlier waves (a
        running maximum), so the kept rows are in order whatever else is excluded. Rows
        with a missing id, invalid wave, duplicated key or no readable time take no part.
        """
        days = self.parsed.days[positions]
        usable = (
            self.present[positions]
            & self.wave_valid[positions]
            & ~self.duplicated(positions)
            & np.isfinite(days)
        )
        out = np.zeros(len(positions), dtype=bool)
        idx = np.flatnonzero(usable)
        if not len(idx):
            return out
        codes, waves, times = self.codes[positions][idx], self.waves[positions][idx], days[idx]
        order = np.lexsort((waves, codes))
        codes, times, idx = codes[order], times[order], idx[order]
        running = pd.Series(times).groupby(codes, sort=False).cummax().to_numpy()
        previous = np.empty_like(running)
        previous[0] = np.nan
        previous[1:] = running[:-1]
        same = np.zeros(len(codes), dtype=bool)
        same[1:] = codes[1:] == codes[:-1]
        with np.errstate(invalid="ignore"):
            bad = same & (times < previous)
        out[idx[bad]] = True
        return out


def build_schema(
    ingested: IngestResult,
    cohort: CohortConfig,
    has_data: np.ndarray | None = None,
    *,
    _keys: _RowKeys | None = None,
) -> pa.DataFrameSchema:
    """The pandera schema of a cohort's canonical table.

    Parameters
    ----------
    ingested
        The ingest result (its resolved items decide the item columns).
    cohort
        The cohort's config (ranges, covariate types, time type).
    has_data
        Rows whose dates may define a participant's first assessment (default all).

    Returns
    -------
    pandera.pandas.DataFrameSchema
        Column and frame checks named after the rules in :data:`RULES`; every check is
        vectorised and handles missing values itself (``ignore_na=False``). It validates
        ``ingested.table`` (with its 0..n-1 index) or a subset of its rows that keeps
        that index.
    """
    keys = _keys or _RowKeys(ingested.table.reset_index(drop=True), cohort, has_data)

    def column(checks: list[pa.Check]) -> pa.Column:
        return pa.Column(None, checks=checks, nullable=True, required=True)

    def rows(obj: pd.Series | pd.DataFrame) -> np.ndarray:
        return obj.index.to_numpy()

    # Row-key rules are attached to a column (not the frame) so that pandera reports one
    # failure per row instead of one per column of the frame.
    columns: dict[str, pa.Column] = {
        "participant_id": column(
            [
                pa.Check(
                    lambda s: pd.Series(keys.present[rows(s)], index=s.index),
                    name="participant_id_present",
                    ignore_na=False,
                ),
                pa.Check(
                    lambda s: pd.Series(~keys.duplicated(rows(s)), index=s.index),
                    name="unique_participant_wave",
                    ignore_na=False,
                ),
            ]
        ),
        "wave": column(
            [
                pa.Check(
                    lambda s: pd.Series(keys.wave_valid[rows(s)], index=s.index),
                    name="wave_integer_ge_1",
                    ignore_na=False,
                )
            ]
        ),
    }
    if keys.parsed is not None:
        columns["time"] = column(
            [
                pa.Check(
                    lambda s: pd.Series(~keys.parsed.unparseable[rows(s)], index=s.index),
                    name="time_parseable",
                    ignore_na=False,
                ),
                pa.Check(
                    lambda s: pd.Series(~keys.reversed_time(rows(s)), index=s.index),
                    name="time_non_decreasing",
                    ignore_na=False,
                ),
            ]
        )
    for name, low, high in _item_ranges(ingested, cohort):
        columns[name] = column(
            [
                pa.Check(_item_numeric_ok, name="item_numeric", ignore_na=False),
                pa.Check(_in_range_check(low, high), name="item_in_range", ignore_na=False),
            ]
        )
    for name, kind in cohort.columns.covariates.items():
        if name not in columns:
            columns[name] = column(
                [pa.Check(_covariate_ok(kind), name="covariate_type", ignore_na=False)]
            )
    return pa.DataFrameSchema(columns, coerce=False, strict=False)


def _item_ranges(ingested: IngestResult, cohort: CohortConfig) -> list[tuple[str, float, float]]:
    """(item, lowest, highest) for every item once; an item shared by instruments gets the narrowest range."""
    ranges: dict[str, tuple[float, float]] = {}
    for name, instrument in cohort.instruments.items():
        low, high = instrument.range
        for item in ingested.items.get(name, []):
            if item in ranges:
                low0, high0 = ranges[item]
                ranges[item] = (max(low0, low), min(high0, high))
            else:
                ranges[item] = (low, high)
    return [(item, low, high) for item, (low, high) in ranges.items()]
