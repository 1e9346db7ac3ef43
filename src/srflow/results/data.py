"""Data-stage outputs: ``validation/failures.csv``, ``validation/ledger.csv`` and the scores.

Failures and ledger are written by :func:`srflow.stages.validate_stage` (rule ``validate``)
from :func:`srflow.validation.validate`; ``scores.parquet`` and ``scores.csv`` by
:func:`srflow.stages.score_stage` (rule ``score``).
"""

from __future__ import annotations

from srflow.results._table import TableContract, col, pattern

#: ``validation/failures.csv``: one row per failed check (``source_row`` counts from 1 as
#: the data rows of the input file; ``value`` is the offending raw value, as text).
FAILURES_TABLE = TableContract(
    what="validation failures table",
    rule="validate",
    columns=(
        col("source_row", "int"),
        col("participant_id", "text"),
        col("wave", "flexible"),
        col("column", "text"),
        col("value", "text"),
        col("check", "text"),
        col("message", "text"),
    ),
)

#: ``validation/ledger.csv``: one row per source row; ``status`` kept or excluded, the
#: ``reason`` for an exclusion and careless-responding ``flags`` (both ";"-separated).
LEDGER_TABLE = TableContract(
    what="validation ledger",
    rule="validate",
    columns=(
        col("source_row", "int"),
        col("participant_id", "text"),
        col("wave", "flexible"),
        col("status", "text"),
        col("reason", "text"),
        col("flags", "text"),
    ),
)

#: ``scores.parquet`` / ``scores.csv``: participant_id, wave, time, P, E, then one column per
#: instrument and per covariate (covariates keep their type: numbers or text).
SCORES_TABLE = TableContract(
    what="scores table",
    rule="score",
    columns=(
        col("participant_id", "text"),
        col("wave", "int"),
        col("time", "float"),
        col("P", "float"),
        col("E", "float"),
        pattern(r".+", "flexible"),
    ),
)
