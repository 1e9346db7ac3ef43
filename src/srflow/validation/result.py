"""The outcome of validation: validated table, failures and ledger, and the messages built from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from srflow.errors import ValidationError, shorten

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
            lines.append(
                f"failures: {len(self.failures)} in {self.failures['source_row'].nunique()} source rows"
            )
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
            lines.append(
                f"  row {row.source_row}, column {row.column}, value {shorten(row.value)!r}: {row.check} ({row.message})"
            )
        if len(self.failures) > MESSAGE_FAILURES:
            lines.append(f"  ... and {len(self.failures) - MESSAGE_FAILURES} more")
        if failures_path:
            lines.append(
                f"The full list of failures is in {failures_path} (the ledger next to it lists every row)."
            )
        else:
            lines.append(
                f"Only the first {MESSAGE_FAILURES} failures are shown; the full list was not written."
            )
        cohort = f"cohorts.{self.cohort}." if self.cohort else ""
        lines.append(
            f"Fix the data or set on_invalid: exclude ({cohort}on_invalid) to drop the failing rows and go on."
        )
        return "\n".join(lines)

    def raise_for_failures(self, failures_path: str | Path | None = None) -> None:
        """Raise ValidationError (carrying this result as ``.result``) if any check failed."""
        if not self.ok:
            error = ValidationError(self.error_message(failures_path))
            error.result = self
            raise error
