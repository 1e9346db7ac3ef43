"""Assessment times: dates in the common layouts and days since a participant's first assessment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from srflow.io.values import as_text, parse_numbers

#: Day-first and other common date layouts tried after ISO 8601, in this order.
DATE_FORMATS = (
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%d-%m-%Y",
    "%d.%m.%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%d-%m-%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%y",
    "%d/%m/%y",
    "%d %b %Y",
    "%d %B %Y",
)


@dataclass(frozen=True)
class ParsedTime:
    """Assessment times read from the raw time column.

    Attributes
    ----------
    days
        Days since the participant's first assessment (dates) or the numbers as given; NaN
        where missing or unparseable.
    unparseable
        True where a value is present but could not be read.
    kind
        ``"date"`` or ``"number"``.
    """

    days: np.ndarray
    unparseable: np.ndarray
    kind: str


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse dates written as ISO 8601 or common day-first layouts (``31.12.2020``, ``31/12/2020``).

    Ambiguous dates such as ``03/04/2020`` are read day first (3 April). Values already
    stored as dates (SPSS, Stata, parquet, Excel) are used as they are.

    Parameters
    ----------
    values
        Raw date column.

    Returns
    -------
    pandas.Series
        ``datetime64`` values (time zone dropped), NaT where missing or unparseable.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = pd.Series(values, copy=False)
    elif pd.api.types.is_object_dtype(values.dtype) and any(
        isinstance(v, (date, datetime)) for v in values
    ):
        is_date = np.array([isinstance(v, (date, datetime)) for v in values], dtype=bool)
        out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
        out[is_date] = pd.to_datetime(
            pd.Series(list(values[is_date]), index=values.index[is_date], dtype=object)
        )
        rest = ~is_date & values.notna().to_numpy()
        if rest.any():
            out[rest] = parse_dates(as_text(values[rest]))
        return out
    else:
        text = as_text(values).str.strip()
        out = pd.to_datetime(text, format="ISO8601", errors="coerce")
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        for fmt in DATE_FORMATS:
            todo = out.isna().to_numpy() & text.notna().to_numpy()
            if not todo.any():
                break
            out[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert(None)
    return out


def time_to_days(
    values: pd.Series,
    participant_id: pd.Series,
    time_type: str = "auto",
    eligible: np.ndarray | None = None,
    origin: str | None = None,
    unit: str = "days",
) -> ParsedTime:
    """Turn the raw time column into days since each participant's first assessment.

    Parameters
    ----------
    values
        Raw time column (dates, numbers, or text holding either).
    participant_id
        Participant of each row (same index as ``values``).
    time_type
        ``"date"``, ``"number"`` (used as given) or ``"auto"`` (number if the present
        values are numeric, else date; when most are numbers, the few others are
        reported as unparseable numbers rather than turning the column into dates).
    eligible
        Rows whose dates may define a participant's first assessment (e.g. excluding wide
        wave slots without data); default every row.
    origin, unit
        Dates stored as numbers: a number ``x`` is the date ``origin + x unit``
        (``origin="1970-01-01", unit="days"`` as R writes a ``Date``; ``origin="excel"``
        for Excel serial dates, day 1 = 1900-01-01). Text dates in the same column are
        still read as text. Only used when the column is read as dates.

    Returns
    -------
    ParsedTime
        Days (float64), the unparseable mask and the kind used.
    """
    present = values.notna().to_numpy()
    if time_type == "auto" and origin is not None:
        time_type = "date"  # an origin says the numbers are dates
    if time_type == "auto":
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            time_type = "date"
        else:
            numbers, not_numeric = parse_numbers(values)
            # A stray text among numbers is a bad number, not a sign of a date column.
            n_numeric = int((~np.isnan(numbers)).sum())
            time_type = "date" if not_numeric.sum() > n_numeric else "number"
    if time_type == "number":
        numbers, not_numeric = parse_numbers(values)
        return ParsedTime(days=numbers, unparseable=not_numeric, kind="number")
    dates = parse_dates(values) if origin is None else numeric_dates(values, origin, unit)
    parsed = dates.notna().to_numpy()
    stamps = dates.to_numpy(dtype="datetime64[ns]")
    use = parsed if eligible is None else parsed & np.asarray(eligible, dtype=bool)
    origin_source = pd.Series(np.where(use, stamps, np.datetime64("NaT")), index=values.index)
    keys = participant_id.reset_index(drop=True)
    first = (
        origin_source.reset_index(drop=True)
        .groupby(keys, sort=False)
        .transform("min")
        .to_numpy(dtype="datetime64[ns]")
    )
    days = (stamps - first) / np.timedelta64(1, "D")
    days = np.asarray(days, dtype="float64")
    days[~parsed] = np.nan
    return ParsedTime(days=days, unparseable=present & ~parsed, kind="date")


#: Day 0 of Excel's (1900) serial dates: 1899-12-30, so that serial 61 is 1900-03-01
#: (Excel counts a 29 February 1900 that never was; serials before 61 are not used).
EXCEL_ORIGIN = "1899-12-30"
#: Units a numeric date may count in, as numpy timedelta codes.
DATE_UNITS = {"days": "D", "hours": "h", "minutes": "m", "seconds": "s", "milliseconds": "ms"}


def numeric_dates(values: pd.Series, origin: str, unit: str = "days") -> pd.Series:
    """Dates stored as numbers (``origin + value * unit``); text cells are parsed as dates.

    Parameters
    ----------
    values
        Raw time column: numbers such as R's ``Date`` (days since 1970-01-01) or Excel
        serial dates, possibly mixed with dates written as text.
    origin
        The date of value 0 (ISO 8601), or ``"excel"`` (1899-12-30).
    unit
        What one unit of the number is: ``days``, ``hours``, ``minutes``, ``seconds`` or
        ``milliseconds``.

    Returns
    -------
    pandas.Series
        ``datetime64`` values, NaT where missing or unreadable.

    Examples
    --------
    >>> import pandas as pd
    >>> numeric_dates(pd.Series([0, 18628, None]), "1970-01-01").dt.strftime("%Y-%m-%d").tolist()
    ['1970-01-01', '2021-01-01', nan]
    >>> numeric_dates(pd.Series(["44197"]), "excel").dt.strftime("%Y-%m-%d").tolist()
    ['2021-01-01']
    """
    start = np.datetime64(EXCEL_ORIGIN if origin == "excel" else origin, "ns")
    numbers, not_numeric = parse_numbers(values)
    step = np.timedelta64(1, DATE_UNITS[unit]).astype("timedelta64[ns]").astype(np.float64)
    # Beyond about 290 years from 1970 nanosecond stamps overflow: such numbers are not dates.
    span = np.abs(numbers * step) < 9.0e18
    offsets = np.where(np.isfinite(numbers) & span, numbers * step, np.nan)
    stamps = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = np.isfinite(offsets)
    stamps[ok] = start + np.round(offsets[ok]).astype(np.int64).astype("timedelta64[ns]")
    out = pd.Series(stamps, index=values.index)
    if not_numeric.any():
        out[not_numeric] = parse_dates(values[not_numeric]).to_numpy(dtype="datetime64[ns]")
    return out
