"""Stage of rule ``validate``: the canonical table -> validated table, failures and ledger."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from srflow import results
from srflow.stages._common import cohort_config, say
from srflow.tables import write_table


def _load_ingested(table_in: str | Path, meta_in: str | Path):
    from srflow import io

    meta = json.loads(Path(meta_in).read_text(encoding="utf-8"))
    return io.IngestResult.from_meta(pd.read_parquet(table_in), meta)


def validate_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    table_in: str,
    meta_in: str,
    validated_out: str,
    failures_out: str,
    ledger_out: str,
    diagnostics_prefix: str,
) -> None:
    """Validate; write the validated table, failures and ledger, or stop with a readable message.

    Under ``on_invalid: fail`` nothing is written to ``results/`` when a rule is broken; the
    failures and ledger go to ``<diagnostics_prefix>.failures.csv`` / ``.ledger.csv`` so the
    user can see every problem.
    """
    from srflow import validation

    cohort = cohort_config(config_data, cohort_name)
    result = validation.validate(_load_ingested(table_in, meta_in), cohort, raise_on_fail=False)
    say(result.summary_text())
    if cohort.on_invalid == "fail" and not result.ok:
        failures_path = f"{diagnostics_prefix}.failures.csv"
        results.FAILURES_TABLE.write(result.failures, failures_path)
        results.LEDGER_TABLE.write(result.ledger, f"{diagnostics_prefix}.ledger.csv")
        result.raise_for_failures(failures_path)
    results.FAILURES_TABLE.write(result.failures, failures_out)
    results.LEDGER_TABLE.write(result.ledger, ledger_out)
    write_table(result.table, validated_out)
