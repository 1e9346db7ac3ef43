"""What reading a cohort file produces: the canonical table with its metadata, and value labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class IngestResult:
    """The canonical long table of one cohort file and what was learned reading it.

    Attributes
    ----------
    table
        One row per (source row, wave): ``source_row`` (1-based data record in the file),
        ``participant_id`` (text), ``wave`` (raw), ``time`` (raw, if configured), the item
        columns (missing codes replaced by NaN, otherwise raw), the covariates (raw).
    items
        Instrument name -> resolved item columns, in source order.
    notes
        Things the user should know (ignored index columns, excluded text columns, ...).
    source
        The file read.
    n_source_rows
        Number of data records in the file.
    layout
        ``"long"`` or ``"wide"``.
    role_columns
        Canonical role (``participant_id``, ``wave``, ``time``) -> source column name (or stem,
        for wide files); used to name the source column in validation failures.
    wide_pattern
        The pattern that built the source column names of wide files.
    wide_stems
        Canonical columns that came from per-wave source columns (wide layout only).
    """

    table: pd.DataFrame
    items: dict[str, list[str]]
    notes: list[str]
    source: Path
    n_source_rows: int
    layout: str = "long"
    role_columns: dict[str, str] = field(default_factory=dict)
    wide_pattern: str = "{item}_t{wave}"
    wide_stems: frozenset[str] = frozenset()

    def meta(self) -> dict[str, Any]:
        """Everything but the table, as JSON-ready values (see :meth:`from_meta`)."""
        return {
            "source": str(self.source),
            "n_source_rows": int(self.n_source_rows),
            "items": {name: list(columns) for name, columns in self.items.items()},
            "notes": list(self.notes),
            "layout": self.layout,
            "role_columns": dict(self.role_columns),
            "wide_pattern": self.wide_pattern,
            "wide_stems": sorted(self.wide_stems),
        }

    @classmethod
    def from_meta(cls, table: pd.DataFrame, meta: dict[str, Any]) -> IngestResult:
        """Rebuild an IngestResult from a stored table (e.g. parquet) and :meth:`meta`."""
        return cls(
            table=table,
            items={name: list(columns) for name, columns in meta["items"].items()},
            notes=list(meta.get("notes", [])),
            source=Path(meta["source"]),
            n_source_rows=int(meta["n_source_rows"]),
            layout=meta.get("layout", "long"),
            role_columns=dict(meta.get("role_columns", {})),
            wide_pattern=meta.get("wide_pattern", "{item}_t{wave}"),
            wide_stems=frozenset(meta.get("wide_stems", ())),
        )

    def source_column(self, column: str, wave: Any = None) -> str:
        """Name of the source column behind a canonical column (at a wave, for wide files)."""
        name = self.role_columns.get(column, column)
        if self.layout == "wide" and name in self.wide_stems and wave is not None:
            return self.wide_pattern.format(item=name, wave=wave)
        return name


@dataclass(frozen=True)
class ValueLabels:
    """Value labels stored in an SPSS or Stata file.

    Attributes
    ----------
    format
        ``"SPSS"``, ``"Stata"`` or ``""`` (a format without value labels).
    columns
        Column name -> {stored code: label}, only for columns that carry labels.
    """

    format: str = ""
    columns: dict[str, dict[Any, str]] = field(default_factory=dict)
