"""Read a cohort's raw data file into srflow's canonical long table.

The file format is chosen by extension. Text files are read with every cell as text
first (nothing is silently coerced), the standard missing-value tokens become
missing, and only then are item and covariate columns converted to numbers when
every non-missing value is numeric; anything else stays as raw text so that
validation can report the offending value. Wide files are pivoted to one row per
(source row, wave). README.md (Outputs, ``ingest/canonical.parquet``) describes it.

Modules: :mod:`~srflow.io.readers` (a file as it is, by extension; delimited text in
:mod:`~srflow.io.text`), :mod:`~srflow.io.values` (numbers, text, missing codes),
:mod:`~srflow.io.dates` (assessment times), :mod:`~srflow.io.columns` (item selectors and
column roles), :mod:`~srflow.io.wide` (wide layout), :mod:`~srflow.io.labels` (value labels)
and :mod:`~srflow.io.cohort` (the stage that puts them together).
"""

from srflow.io.cohort import TEXT_SHARE_LIMIT, read_cohort
from srflow.io.columns import resolve_items
from srflow.io.dates import DATE_FORMATS, ParsedTime, parse_dates, time_to_days
from srflow.io.labels import apply_value_labels
from srflow.io.readers import SUPPORTED_EXTENSIONS, TEXT_EXTENSIONS, read_raw, read_raw_labelled
from srflow.io.result import IngestResult, ValueLabels
from srflow.io.text import DELIMITERS
from srflow.io.values import (
    NA_TOKENS,
    as_text,
    clean_column,
    parse_numbers,
    participant_text,
    replace_missing_codes,
)

__all__ = [
    "DATE_FORMATS",
    "DELIMITERS",
    "NA_TOKENS",
    "SUPPORTED_EXTENSIONS",
    "TEXT_EXTENSIONS",
    "TEXT_SHARE_LIMIT",
    "IngestResult",
    "ParsedTime",
    "ValueLabels",
    "apply_value_labels",
    "as_text",
    "clean_column",
    "parse_dates",
    "parse_numbers",
    "participant_text",
    "read_cohort",
    "read_raw",
    "read_raw_labelled",
    "replace_missing_codes",
    "resolve_items",
    "time_to_days",
]
