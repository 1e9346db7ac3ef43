"""Pandera's failure cases turned into the failures table, with the source column, raw value and a message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from srflow.config import CohortConfig
from srflow.errors import ValidationError
from srflow.io import (
    IngestResult,
    as_text,
)
from srflow.validation.result import FAILURE_COLUMNS, RULES
from srflow.validation.rules import MAX_WAVE


def _explain(check: str, column: str, cohort: CohortConfig, ingested: IngestResult) -> str:
    if check == "participant_id_present":
        return "the participant id is missing or blank"
    if check == "wave_integer_ge_1":
        return f"the wave must be a whole number from 1 to {MAX_WAVE}"
    if check == "unique_participant_wave":
        return "this participant has more than one row for this wave; every copy is excluded"
    if check == "time_parseable":
        kind = cohort.columns.time_type
        if kind == "number":
            return "the time cannot be read as a number"
        if cohort.columns.time_origin is not None:
            return (
                f"the time cannot be read as a date (text) or as {cohort.columns.time_unit} "
                f"since {cohort.columns.time_origin}"
            )
        return (
            "the time cannot be read as a date (ISO 2020-12-31 or day-first 31.12.2020); "
            "for dates stored as numbers give columns.time as {column, type: date, "
            "origin: '1970-01-01', unit: days} (Excel serial dates: origin: excel)"
        )
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


def _run_schema(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """Validate lazily; returns pandera's failure cases (index, column, check), possibly empty."""
    try:
        schema.validate(frame, lazy=True, inplace=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
        unexpected = cases[cases["index"].isna() | ~cases["check"].isin(RULES)]
        if len(unexpected):  # a schema-level problem (e.g. a column missing), not a row failure
            raise ValidationError(
                f"the canonical table does not fit the schema: {unexpected.to_dict('records')}"
            ) from None
        return cases[["index", "column", "check"]]
    return pd.DataFrame(
        {
            "index": pd.Series(dtype="int64"),
            "column": pd.Series(dtype="str"),
            "check": pd.Series(dtype="str"),
        }
    )


def _failures_table(
    cases: pd.DataFrame,
    table: pd.DataFrame,
    ingested: IngestResult,
    cohort: CohortConfig,
) -> pd.DataFrame:
    if not len(cases):
        empty = {
            c: pd.Series(dtype="int64" if c in ("source_row", "_position") else "str")
            for c in (*FAILURE_COLUMNS, "_position")
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
        values[duplicate] = [
            f"{p},{w}" for p, w in zip(pid_text[duplicate], waves_text[duplicate], strict=False)
        ]
    out = pd.DataFrame(
        {
            "source_row": rows["source_row"].to_numpy(dtype=np.int64),
            "participant_id": rows["participant_id"].astype("str").to_numpy(),
            "wave": waves_text,
            "column": source_columns,
            "value": pd.Series(values).fillna("").to_numpy(),
            "check": cases["check"].to_numpy(),
            "message": messages,
            "_position": positions,
        }
    )
    for column in ("participant_id", "wave", "column", "value", "check", "message"):
        out[column] = out[column].astype("str")
    return out
