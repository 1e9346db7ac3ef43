"""Delimited text files: delimiter and encoding detection, the fast Arrow reader and its pandas fallback."""

from __future__ import annotations

import csv
import io as _stdio
from pathlib import Path

import pandas as pd
import pyarrow as pa

from srflow.errors import InputError, shorten
from srflow.io.values import NA_TOKENS, _na_tokens_to_missing

#: Candidate delimiters for sniffing, in order of preference on ties.
DELIMITERS = (",", ";", "\t")


def _sniff(sample: str) -> str:
    """Pick the delimiter that occurs most often in the header line."""
    first_line = sample.lstrip("\ufeff").split("\n", 1)[0]
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    return best if counts[best] > 0 else ","


def _decode_sample(raw: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode the first bytes of a text file; returns (text, encoding used)."""
    if encoding is None and raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"  # a byte-order mark says so (Excel's "Unicode text" export)
    if encoding and encoding.lower().replace("-", "").replace("_", "").startswith("utf16"):
        cut = len(raw) - len(raw) % 2  # whole 2-byte units; the decoder replaces a torn one
        return raw[:cut].decode(encoding, errors="replace"), encoding
    cut = raw.rfind(b"\n")
    head = raw[: cut + 1] if cut > 0 else raw
    if encoding:
        return head.decode(encoding, errors="replace"), encoding
    try:
        return head.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return head.decode("cp1252", errors="replace"), "cp1252"


def _header_names(sample: str, delimiter: str) -> list[str]:
    reader = csv.reader(_stdio.StringIO(sample.lstrip("\ufeff")), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return []
    return header


def _read_text(
    path: Path, delimiter: str | None, encoding: str | None, notes: list[str]
) -> pd.DataFrame:
    with open(path, "rb") as handle:
        raw_head = handle.read(1 << 16)
        # the sample must hold the whole header line, however long its names are
        while b"\n" not in raw_head and len(raw_head) < MAX_HEADER_BYTES:
            more = handle.read(1 << 20)
            if not more:
                break
            raw_head += more
    if not raw_head.strip():
        raise InputError(f"{path} is empty; it must start with a header line naming the columns")
    for magic, kind in COMPRESSED_MAGIC.items():
        if raw_head.startswith(magic):
            raise InputError(
                f"{path} is a {kind} file, not delimited text; unpack it and point "
                "cohorts.<name>.input at the data file inside"
            )
    sample, sample_encoding = _decode_sample(raw_head, encoding)
    if delimiter is None:
        delimiter = _sniff(sample)
    names = _header_names(sample, delimiter)
    if not names:
        raise InputError(f"{path}: no header line found; the first line must name the columns")
    read_encoding = encoding or sample_encoding
    fallback_note = (
        f"{path.name} is not valid UTF-8; read as cp1252 (set the cohort's encoding to be explicit)"
    )
    if encoding is None and sample_encoding == "cp1252":
        notes.append(fallback_note)
    try:
        table = _arrow_read(path, names, delimiter, read_encoding)
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if encoding is None and read_encoding == "utf-8" and "UTF8" in message.upper():
            notes.append(fallback_note)
            read_encoding = "cp1252"
            table = _arrow_read(path, names, delimiter, read_encoding)
        else:
            ragged = _ragged_rows(path, delimiter, read_encoding, len(names))
            if ragged:
                raise InputError(_ragged_message(path, ragged, len(names))) from None
            frame = _pandas_read(path, delimiter, read_encoding, message)
            notes.append(
                f"{path.name}: the fast reader stopped ({shorten(message.splitlines()[0])}); "
                "read with the pandas reader"
            )
            return frame
    return table.to_pandas()


#: First bytes of compressed files that are sometimes given a .csv name.
COMPRESSED_MAGIC = {b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip", b"BZh": "bzip2", b"\xfd7zXZ": "xz"}
#: Longest header line read to find the column names.
MAX_HEADER_BYTES = 1 << 26
#: How many ragged rows an error message lists.
RAGGED_SHOWN = 10


def _ragged_rows(
    path: Path, delimiter: str, encoding: str, n_fields: int
) -> list[tuple[int, int, int, int]]:
    """(data row, first line, last line, fields) of every record whose field count differs from the header's.

    Only run after the fast reader failed, so its speed does not matter; quoted fields
    that span lines count as one record, as the fast reader counts them.
    """
    codec = "utf-8-sig" if encoding.lower().replace("-", "") in ("utf8", "utf8sig") else encoding
    out: list[tuple[int, int, int]] = []
    with open(path, encoding=codec, errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        end = reader.line_num
        for row_number, record in enumerate(reader, start=1):
            start, end = end + 1, reader.line_num
            if not record:  # a blank line is no record
                continue
            if len(record) != n_fields:
                out.append((row_number, start, end, len(record)))
    return out


def _ragged_message(path: Path, ragged: list[tuple[int, int, int, int]], n_fields: int) -> str:
    def one(row: int, start: int, end: int, count: int) -> str:
        if end - start > 1:  # one record over many lines: a quote that is never closed
            return (
                f"row {row} (line {start}) has {count}, running to line {end}: an unclosed quote?"
            )
        return f"row {row} (line {start}) has {count}"

    shown = "; ".join(one(*entry) for entry in ragged[:RAGGED_SHOWN])
    more = f"; ... {len(ragged)} rows in all" if len(ragged) > RAGGED_SHOWN else ""
    return (
        f"{path}: {len(ragged)} data row(s) do not have the header's {n_fields} fields "
        f"(rule: every row has as many fields as the header): {shown}{more}. "
        "A short row is usually a truncated or wrapped line, a long one an unquoted delimiter "
        "inside a value; fix the file (or the cohort key 'delimiter') so that every row lines up"
    )


def _arrow_read(path: Path, names: list[str], delimiter: str, encoding: str) -> pa.Table:
    import pyarrow.csv as pcsv

    unique = list(names)
    seen: dict[str, int] = {}
    for i, name in enumerate(unique):  # arrow needs distinct names for column_types
        if name in seen:
            seen[name] += 1
            unique[i] = f"{name}\x00{seen[name]}"
        else:
            seen[name] = 0
    read_options = pcsv.ReadOptions(
        column_names=unique,
        skip_rows=1,
        encoding="utf8" if encoding.lower().replace("-", "") in ("utf8", "utf8sig") else encoding,
        block_size=1 << 24,
    )
    parse_options = pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert_options = pcsv.ConvertOptions(
        column_types={name: pa.string() for name in unique},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=list(NA_TOKENS),
    )
    table = pcsv.read_csv(
        path,
        read_options=read_options,
        parse_options=parse_options,
        convert_options=convert_options,
    )
    return table.rename_columns(names)


def _pandas_read(path: Path, delimiter: str, encoding: str, arrow_message: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_values=[],
            encoding="utf-8-sig" if encoding == "utf-8" else encoding,
            engine="c",
        )
    except Exception as exc:
        raise InputError(
            f"cannot parse {path} as delimited text (delimiter {delimiter!r}): {arrow_message}; {exc}. "
            "Check the delimiter (cohort key 'delimiter'), quoting and that every row has the same number of fields"
        ) from exc
    for name in frame.columns:
        frame[name] = _na_tokens_to_missing(frame[name].astype("str"))
    return frame
