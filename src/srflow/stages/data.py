"""Stages that read, validate and score a cohort."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from srflow.config import CohortConfig
from srflow.stages._common import cohort_config, say
from srflow.tables import write_json, write_table


def ingest_stage(config_data: Mapping[str, Any], cohort_name: str, table_out: str, meta_out: str) -> None:
    """Read the cohort's raw file into the canonical long table plus a JSON of what was resolved."""
    from srflow import io

    cohort = cohort_config(config_data, cohort_name)
    ingested = io.read_cohort(cohort)
    for note in ingested.notes:
        say(f"note: {note}")
    say(f"read {ingested.n_source_rows} rows from {cohort.input} -> {len(ingested.table)} canonical rows")
    write_table(ingested.table, table_out)
    write_json(ingested.meta(), meta_out)


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
        write_table(result.failures, failures_path)
        write_table(result.ledger, f"{diagnostics_prefix}.ledger.csv")
        result.raise_for_failures(failures_path)
    write_table(result.failures, failures_out)
    write_table(result.ledger, ledger_out)
    write_table(result.table, validated_out)


@dataclass(frozen=True)
class CheckReport:
    """What ``srflow validate`` prints for one cohort, and whether a run would go on."""

    ok: bool
    text: str


def check_cohort(cohort: CohortConfig, failures_out: str | Path | None = None) -> CheckReport:
    """Ingest and validate one cohort without writing results; for ``srflow validate``.

    ``ok`` is False when a pipeline run would stop (``on_invalid: fail`` with failures).
    """
    from srflow import io, validation

    ingested = io.read_cohort(cohort)
    result = validation.validate(ingested, cohort, raise_on_fail=False)
    if failures_out is not None:
        write_table(result.failures, failures_out)
        write_table(result.ledger, Path(failures_out).with_suffix(".ledger.csv"))
    lines = [f"cohort {cohort.name}: {cohort.input}"]
    lines += [f"note: {note}" for note in ingested.notes]
    lines.append(result.summary_text())
    would_stop = cohort.on_invalid == "fail" and not result.ok
    if would_stop:
        lines.append(result.error_message(failures_out))
        if failures_out is None and len(result.failures) > 0:
            lines.append("Add --failures FILE to write every failure (and the row ledger beside it).")
    elif not result.ok:
        lines.append("on_invalid is exclude: the failing rows are dropped and listed in the ledger")
    return CheckReport(ok=not would_stop, text="\n".join(lines))


def score_stage(config_data: Mapping[str, Any], cohort_name: str, validated_in: str, parquet_out: str, csv_out: str) -> None:
    """Score the questionnaires of a validated table into P, E and one column per instrument."""
    from srflow import scoring

    cohort = cohort_config(config_data, cohort_name)
    scores = scoring.score(pd.read_parquet(validated_in), cohort)
    say(f"scored {len(scores)} rows; P missing in {int(scores['P'].isna().sum())}, E missing in {int(scores['E'].isna().sum())}")
    write_table(scores, parquet_out)
    write_table(scores, csv_out)
