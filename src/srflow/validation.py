"""Validate the canonical long table against rules built from the cohort's config.

The rules form a pandera ``DataFrameSchema`` (see :func:`build_schema`); every check is
vectorised (a whole column or the whole frame at once) so that a million rows validate
in seconds. Validation is lazy: every failure is collected, mapped back to the data
record in the source file, and turned into three tables (contract stage 2): the
validated table, one row per failure, and a ledger saying for every canonical row
whether it was kept or why it was excluded.

Rule names (``failures.check`` and the ledger reason):

``participant_id_present``, ``wave_integer_ge_1``, ``unique_participant_wave``,
``time_parseable``, ``time_non_decreasing``, ``item_numeric``, ``item_in_range``,
``covariate_type``. Not failures: ``no_data_at_wave`` (a wide-file wave slot without
any answered item, excluded) and ``straightlining:<instrument>`` (flagged, or excluded
when ``careless.straightlining`` is ``exclude``).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
from pandera.errors import SchemaErrors

from srflow.config import CohortConfig
from srflow.errors import ConfigError, ValidationError
from srflow.io import IngestResult, as_text, parse_dates, parse_numbers, participant_text, time_to_days

logger = logging.getLogger(__name__)

#: Every rule, in the order reasons are listed.
RULES: tuple[str, ...] = (
    "participant_id_present",
    "wave_integer_ge_1",
    "unique_participant_wave",
    "time_parseable",
    "time_non_decreasing",
    "item_numeric",
    "item_in_range",
    "covariate_type",
)
NO_DATA_REASON = "no_data_at_wave"
FAILURE_COLUMNS = ("source_row", "participant_id", "wave", "column", "value", "check", "message")
LEDGER_COLUMNS = ("source_row", "participant_id", "wave", "status", "reason", "flags")
#: How many failures the ValidationError message lists.
MESSAGE_FAILURES = 10


@dataclass
class ValidationResult:
    """Outcome of :func:`validate`.

    Attributes
    ----------
    table
        Kept rows, typed: ``source_row``, ``participant_id`` (str), ``wave`` (int64),
        ``time`` (float64), items (float64), covariates; sorted by participant_id, wave.
    failures
        One row per failed (row, column, check): source_row, participant_id, wave, column
        (the source file's column), value (raw, as text), check (rule name), message.
    ledger
        One row per canonical row of the ingest: source_row, participant_id, wave, status
        (``kept`` or ``excluded``), reason (``""`` or rules joined by ``"; "``), flags.
    source
        The validated file.
    cohort
        The cohort's name.
    """

    table: pd.DataFrame
    failures: pd.DataFrame
    ledger: pd.DataFrame
    source: Path | None = None
    cohort: str = ""

    @property
    def ok(self) -> bool:
        """True when no row failed a check (flags and empty wave slots do not count)."""
        return self.failures.empty

    @property
    def n_kept(self) -> int:
        """Number of canonical rows kept."""
        return int((self.ledger["status"] == "kept").sum())

    @property
    def n_excluded(self) -> int:
        """Number of canonical rows excluded."""
        return int((self.ledger["status"] == "excluded").sum())

    def failure_counts(self) -> dict[str, int]:
        """Number of failures per rule, in rule order."""
        counts = self.failures["check"].value_counts()
        return {rule: int(counts[rule]) for rule in RULES if rule in counts.index}

    def summary_text(self) -> str:
        """A few lines for the command line: rows kept/excluded, failures by check, flags."""
        lines = [
            f"validation of {self.source or 'the input'}: {len(self.ledger)} rows, "
            f"{self.n_kept} kept, {self.n_excluded} excluded"
        ]
        counts = self.failure_counts()
        if counts:
            lines.append(f"failures: {len(self.failures)} in {self.failures['source_row'].nunique()} source rows")
            lines += [f"  {rule}: {count}" for rule, count in counts.items()]
        else:
            lines.append("failures: none")
        excluded = self.ledger.loc[self.ledger["status"] == "excluded", "reason"]
        for reason in (NO_DATA_REASON,):
            count = int((excluded == reason).sum())
            if count:
                lines.append(f"  excluded as {reason} (wave slot without answers): {count}")
        flags = self.ledger["flags"]
        flagged = flags[flags != ""].str.split("; ").explode().value_counts()
        for flag, count in flagged.sort_index().items():
            lines.append(f"  flagged {flag}: {int(count)}")
        return "\n".join(lines)

    def error_message(self, failures_path: str | Path | None = None) -> str:
        """The readable message of the ValidationError for ``on_invalid: fail``."""
        counts = ", ".join(f"{rule} {count}" for rule, count in self.failure_counts().items())
        lines = [
            f"{self.source or 'the input'} failed validation: {len(self.failures)} failure(s) in "
            f"{self.failures['source_row'].nunique()} source row(s) ({counts}).",
            "First failures:",
        ]
        for row in self.failures.head(MESSAGE_FAILURES).itertuples(index=False):
            lines.append(f"  row {row.source_row}, column {row.column}, value {row.value!r}: {row.check} ({row.message})")
        if len(self.failures) > MESSAGE_FAILURES:
            lines.append(f"  ... and {len(self.failures) - MESSAGE_FAILURES} more")
        if failures_path:
            lines.append(f"The full list of failures is in {failures_path} (the ledger next to it lists every row).")
        else:
            lines.append(f"Only the first {MESSAGE_FAILURES} failures are shown; the full list was not written.")
        cohort = f"cohorts.{self.cohort}." if self.cohort else ""
        lines.append(f"Fix the data or set on_invalid: exclude ({cohort}on_invalid) to drop the failing rows and go on.")
        return "\n".join(lines)

    def raise_for_failures(self, failures_path: str | Path | None = None) -> None:
        """Raise ValidationError (carrying this result as ``.result``) if any check failed."""
        if not self.ok:
            error = ValidationError(self.error_message(failures_path))
            error.result = self
            raise error


# --------------------------------------------------------------------------- checks


def _wave_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Wave numbers (float, NaN if invalid) and the valid mask (integer >= 1)."""
    numbers, _ = parse_numbers(values)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(numbers) & (numbers == np.round(numbers)) & (numbers >= 1)
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

    def __init__(self, table: pd.DataFrame, cohort: CohortConfig, has_data: np.ndarray | None = None):
        self.participant_id = participant_text(table["participant_id"])
        self.present = self.participant_id.notna().to_numpy()
        codes, _ = pd.factorize(self.participant_id, sort=True, use_na_sentinel=True)
        self.codes = codes.astype(np.int64)
        self.waves, self.wave_valid = _wave_numbers(table["wave"])
        self.time_type = cohort.columns.time_type
        self.parsed = None
        if cohort.columns.time and "time" in table.columns:
            group = pd.Series(np.where(self.present, self.codes, np.nan))
            self.parsed = time_to_days(table["time"].reset_index(drop=True), group, self.time_type, eligible=has_data)

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
        usable = self.present[positions] & self.wave_valid[positions] & ~self.duplicated(positions) & np.isfinite(days)
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
        "participant_id": column([
            pa.Check(
                lambda s: pd.Series(keys.present[rows(s)], index=s.index), name="participant_id_present", ignore_na=False
            ),
            pa.Check(
                lambda s: pd.Series(~keys.duplicated(rows(s)), index=s.index), name="unique_participant_wave", ignore_na=False
            ),
        ]),
        "wave": column([pa.Check(
            lambda s: pd.Series(keys.wave_valid[rows(s)], index=s.index), name="wave_integer_ge_1", ignore_na=False
        )]),
    }
    if keys.parsed is not None:
        columns["time"] = column([
            pa.Check(
                lambda s: pd.Series(~keys.parsed.unparseable[rows(s)], index=s.index), name="time_parseable", ignore_na=False
            ),
            pa.Check(
                lambda s: pd.Series(~keys.reversed_time(rows(s)), index=s.index), name="time_non_decreasing", ignore_na=False
            ),
        ])
    for name, low, high in _item_ranges(ingested, cohort):
        columns[name] = column([
            pa.Check(_item_numeric_ok, name="item_numeric", ignore_na=False),
            pa.Check(_in_range_check(low, high), name="item_in_range", ignore_na=False),
        ])
    for name, kind in cohort.columns.covariates.items():
        if name not in columns:
            columns[name] = column([pa.Check(_covariate_ok(kind), name="covariate_type", ignore_na=False)])
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


# --------------------------------------------------------------------------- messages


def _explain(check: str, column: str, cohort: CohortConfig, ingested: IngestResult) -> str:
    if check == "participant_id_present":
        return "the participant id is missing or blank"
    if check == "wave_integer_ge_1":
        return "the wave must be a whole number of at least 1"
    if check == "unique_participant_wave":
        return "this participant has more than one row for this wave; every copy is excluded"
    if check == "time_parseable":
        kind = cohort.columns.time_type
        what = "a number" if kind == "number" else "a date (ISO 2020-12-31 or day-first 31.12.2020)"
        return f"the time cannot be read as {what}"
    if check == "time_non_decreasing":
        return "the time is earlier than at an earlier wave of this participant"
    if check in ("item_numeric", "item_in_range"):
        owners = [n for n, items in ingested.items.items() if column in items]
        inst = cohort.instruments[owners[0]] if owners else None
        if check == "item_numeric":
            return f"an item answer must be a number (instrument {owners[0] if owners else '?'})"
        low, high = inst.range if inst else (float("nan"), float("nan"))
        owner = inst.name if inst else "?"
        return f"outside the range {_num(low)} to {_num(high)} of instrument {owner} and not a missing code"
    if check == "covariate_type":
        kind = cohort.columns.covariates.get(column, "?")
        return f"not a valid {kind} value for covariate {column}"
    return check


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# --------------------------------------------------------------------------- the stage


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


def validate(
    ingested: IngestResult,
    cohort: CohortConfig,
    *,
    failures_path: str | Path | None = None,
    raise_on_fail: bool = True,
) -> ValidationResult:
    """Validate the canonical table (stage 2 of the pipeline).

    Parameters
    ----------
    ingested
        The result of :func:`srflow.io.read_cohort`.
    cohort
        The cohort's config: ranges, covariate types, ``on_invalid``, ``careless``.
    failures_path
        Where the caller writes the failures table; named in the error message.
    raise_on_fail
        With ``on_invalid: fail`` and any failure, raise ValidationError (default). Set False
        to get the result back and call :meth:`ValidationResult.raise_for_failures` after
        writing the diagnostic files.

    Returns
    -------
    ValidationResult
        The validated table, the failures and the ledger.

    Raises
    ------
    ValidationError
        ``on_invalid: fail`` and at least one failure; the exception's ``result`` attribute
        holds the full ValidationResult so the caller can write failures and ledger.
    """
    table = ingested.table.reset_index(drop=True)
    n = len(table)
    no_data = _no_data_rows(table, ingested)
    checked = table.iloc[np.flatnonzero(~no_data)] if no_data.any() else table

    keys = _RowKeys(table, cohort, ~no_data)
    schema = build_schema(ingested, cohort, has_data=~no_data, _keys=keys)
    failure_cases = _run_schema(schema, checked)
    failures = _failures_table(failure_cases, table, ingested, cohort)

    failed_rows = np.zeros(n, dtype=bool)
    reasons = np.full(n, "", dtype=object)
    if len(failures):
        positions = failures["_position"].to_numpy()
        failed_rows[positions] = True
        reasons[:] = _joined_reasons(positions, failures["check"].to_numpy(), n)
    reasons[no_data] = NO_DATA_REASON

    straight = _straightlining(table, ingested, cohort, ~no_data)
    flags = np.full(n, "", dtype=object)
    excluded = failed_rows | no_data
    for name, mask in straight.items():
        label = f"straightlining:{name}"
        _append_label(flags, mask, label)
        if cohort.careless.straightlining == "exclude":
            _append_label(reasons, mask, label)
            excluded |= mask

    ledger = pd.DataFrame({
        "source_row": table["source_row"].to_numpy(dtype=np.int64),
        "participant_id": keys.participant_id.reset_index(drop=True),
        "wave": as_text(table["wave"]).reset_index(drop=True),
        "status": _text_from_codes(excluded.astype(np.int32), ["kept", "excluded"]),
        "reason": _text_column(reasons),
        "flags": _text_column(flags),
    })

    days = np.full(n, np.nan)
    if keys.parsed is not None:
        days = keys.parsed.days
        if keys.parsed.kind == "date":
            key_failed = np.zeros(n, dtype=bool)
            if len(failures):
                key_rules = failures["check"].isin(list(_KEY_RULES)).to_numpy()
                key_failed[failures["_position"].to_numpy()[key_rules]] = True
            days = _rebase_days(days, keys.codes, ~no_data & ~key_failed)
    validated = _typed_table(table, ~excluded, keys, days, ingested, cohort)
    result = ValidationResult(
        table=validated,
        failures=failures.drop(columns="_position").reset_index(drop=True),
        ledger=ledger,
        source=ingested.source,
        cohort=cohort.name,
    )
    logger.info("%s", result.summary_text())
    if cohort.on_invalid == "fail" and raise_on_fail:
        result.raise_for_failures(failures_path)
    return result


#: Rules whose failure makes a row's date unfit to be a participant's first assessment.
_KEY_RULES = frozenset({
    "participant_id_present", "wave_integer_ge_1", "unique_participant_wave", "time_parseable", "time_non_decreasing",
})


def _rebase_days(days: np.ndarray, codes: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Shift each participant's days so that 0 is their earliest eligible assessment.

    A date that failed a key or time rule (e.g. an out-of-order date) must not become the
    participant's first assessment.
    """
    use = eligible & np.isfinite(days) & (codes >= 0)
    origin = np.array(pd.Series(np.where(use, days, np.nan)).groupby(codes, sort=False).transform("min"), dtype="float64")
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
    taken = pa_arrow.array(labels, type=pa_arrow.string()).take(pa_arrow.array(np.asarray(codes, dtype=np.int32)))
    return pd.Series(taken.to_pandas(), dtype="str")


def _text_column(values: np.ndarray) -> pd.Series:
    """A text column from an object array that is mostly ``""``."""
    filled = np.flatnonzero(values != "")
    uniques, inverse = np.unique(values[filled].astype(str), return_inverse=True)
    codes = np.zeros(len(values), dtype=np.int32)
    codes[filled] = inverse + 1
    return _text_from_codes(codes, ["", *uniques.tolist()])


def _run_schema(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """Validate lazily; returns pandera's failure cases (index, column, check), possibly empty."""
    try:
        schema.validate(frame, lazy=True, inplace=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
        unexpected = cases[cases["index"].isna() | ~cases["check"].isin(RULES)]
        if len(unexpected):  # a schema-level problem (e.g. a column missing), not a row failure
            raise ValidationError(f"the canonical table does not fit the schema: {unexpected.to_dict('records')}") from None
        return cases[["index", "column", "check"]]
    return pd.DataFrame({"index": pd.Series(dtype="int64"), "column": pd.Series(dtype="str"), "check": pd.Series(dtype="str")})


def _failures_table(
    cases: pd.DataFrame,
    table: pd.DataFrame,
    ingested: IngestResult,
    cohort: CohortConfig,
) -> pd.DataFrame:
    if not len(cases):
        empty = {
            c: pd.Series(dtype="int64" if c in ("source_row", "_position") else "str") for c in (*FAILURE_COLUMNS, "_position")
        }
        return pd.DataFrame(empty)
    cases = cases.copy()
    cases = cases.drop_duplicates(["index", "column", "check"])
    cases["_position"] = cases["index"].to_numpy(dtype=np.int64)
    cases["_rank"] = cases["check"].map({rule: i for i, rule in enumerate(RULES)})
    column_order = {name: i for i, name in enumerate(table.columns)}
    cases["_col"] = cases["column"].map(column_order)
    cases = cases.sort_values(["_position", "_col", "_rank"], kind="stable")
    positions = cases["_position"].to_numpy()

    rows = table.iloc[positions]
    waves_text = as_text(rows["wave"]).to_numpy()
    values = np.empty(len(cases), dtype=object)
    source_columns = np.empty(len(cases), dtype=object)
    messages = np.empty(len(cases), dtype=object)
    for canonical in cases["column"].unique():
        mask = (cases["column"] == canonical).to_numpy()
        if canonical == "participant_id" or canonical == "time":
            raw = as_text(rows.loc[:, canonical])
        else:
            raw = as_text(rows[canonical])
        values[mask] = raw.to_numpy()[mask]
        if ingested.layout == "wide" and ingested.source_column(canonical) in ingested.wide_stems:
            source_columns[mask] = [ingested.source_column(canonical, w) for w in waves_text[mask]]
        else:
            source_columns[mask] = ingested.source_column(canonical)
    for (canonical, check), index in cases.groupby(["column", "check"], sort=False).indices.items():
        messages[index] = _explain(check, canonical, cohort, ingested)
    # The duplicate rule concerns two columns: name both and show both values.
    duplicate = (cases["check"] == "unique_participant_wave").to_numpy()
    if duplicate.any():
        pid_column = ingested.source_column("participant_id")
        wave_column = ingested.source_column("wave")
        source_columns[duplicate] = f"{pid_column},{wave_column}"
        pid_text = rows["participant_id"].astype("str").to_numpy()
        values[duplicate] = [f"{p},{w}" for p, w in zip(pid_text[duplicate], waves_text[duplicate])]
    out = pd.DataFrame({
        "source_row": rows["source_row"].to_numpy(dtype=np.int64),
        "participant_id": rows["participant_id"].astype("str").to_numpy(),
        "wave": waves_text,
        "column": source_columns,
        "value": pd.Series(values).fillna("").to_numpy(),
        "check": cases["check"].to_numpy(),
        "message": messages,
        "_position": positions,
    })
    for column in ("participant_id", "wave", "column", "value", "check", "message"):
        out[column] = out[column].astype("str")
    return out


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
    return pd.Series(pd.arrays.IntegerArray(np.where(missing, 0, numbers).astype(np.int64), missing))


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
