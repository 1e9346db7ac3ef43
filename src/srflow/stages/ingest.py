"""Stage of rule ``ingest``: the raw file -> the canonical long table and what was resolved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from srflow.config import item_reference_problems
from srflow.errors import ConfigError
from srflow.stages._common import cohort_config, say
from srflow.tables import write_json, write_table


def ingest_stage(
    config_data: Mapping[str, Any], cohort_name: str, table_out: str, meta_out: str
) -> None:
    """Read the cohort's raw file into the canonical long table plus a JSON of what was resolved."""
    from srflow import io

    cohort = cohort_config(config_data, cohort_name)
    ingested = io.read_cohort(cohort)
    problems = item_reference_problems(cohort, ingested.items)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))
    for note in ingested.notes:
        say(f"note: {note}")
    say(
        f"read {ingested.n_source_rows} rows from {cohort.input} -> {len(ingested.table)} canonical rows"
    )
    write_table(ingested.table, table_out)
    write_json(ingested.meta(), meta_out)
