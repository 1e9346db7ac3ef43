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

Modules: :mod:`~srflow.validation.rules` (the pandera schema), :mod:`~srflow.validation.failures`
(failure cases to the failures table), :mod:`~srflow.validation.flags` (straightlining, empty
wave slots), :mod:`~srflow.validation.ledger` and :mod:`~srflow.validation.typed` (the per-row
ledger and the typed validated table), :mod:`~srflow.validation.result` (the result and its
messages) and :mod:`~srflow.validation.stage` (the stage that puts them together).
"""

from srflow.validation.result import (
    FAILURE_COLUMNS,
    LEDGER_COLUMNS,
    MESSAGE_FAILURES,
    NO_DATA_REASON,
    RULES,
    ValidationResult,
)
from srflow.validation.rules import build_schema
from srflow.validation.stage import validate

__all__ = [
    "FAILURE_COLUMNS",
    "LEDGER_COLUMNS",
    "MESSAGE_FAILURES",
    "NO_DATA_REASON",
    "RULES",
    "ValidationResult",
    "build_schema",
    "validate",
]
