"""Validate the canonical table (stage 2 of the pipeline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from srflow.config import CohortConfig
from srflow.io import (
    IngestResult,
    as_text,
)
from srflow.validation.failures import _failures_table, _run_schema
from srflow.validation.flags import _no_data_rows, _straightlining
from srflow.validation.ledger import (
    _KEY_RULES,
    _append_label,
    _joined_reasons,
    _rebase_days,
    _text_column,
    _text_from_codes,
)
from srflow.validation.result import NO_DATA_REASON, ValidationResult
from srflow.validation.rules import _RowKeys, build_schema
from srflow.validation.typed import _typed_table


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

    ledger = pd.DataFrame(
        {
            "source_row": table["source_row"].to_numpy(dtype=np.int64),
            "participant_id": keys.participant_id.reset_index(drop=True),
            "wave": as_text(table["wave"]).reset_index(drop=True),
            "status": _text_from_codes(excluded.astype(np.int32), ["kept", "excluded"]),
            "reason": _text_column(reasons),
            "flags": _text_column(flags),
        }
    )

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
    if cohort.on_invalid == "fail" and raise_on_fail:
        result.raise_for_failures(failures_path)
    return result
