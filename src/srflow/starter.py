"""Draft a config for a researcher's own data file (``srflow init``).

The draft guesses conservatively and says why. It proposes an instrument only for a
numbered block of columns (``GHQ_01..GHQ_12``) whose items share a range and whose name
is a known problems or stressor questionnaire; it leaves out, with the reason, columns
that are empty, hold text or have fewer than two distinct values (a flag such as an
open-question marker), and blocks it does not recognise. Columns that never change
within a participant are proposed as covariates. Every guess is marked ``CHECK`` with
its evidence (range, number of items, share missing): the draft is a starting point that
passes the schema, not a decision made for the researcher.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from srflow.io import parse_numbers, read_raw
from srflow.io.columns import _INDEX_NAME_RE, _UNNAMED_RE, _is_row_index

PARTICIPANT_NAMES = (
    "participant_id", "participant", "subject_id", "subject", "id", "pid", "record_id", "code",
)  # fmt: skip
WAVE_NAMES = (
    "wave", "visit", "timepoint", "time_point", "session", "occasion", "assessment", "beep", "t",
)  # fmt: skip
COVARIATE_NAMES = {
    "age": "numeric", "sex": "category", "gender": "category", "arm": "category",
    "group": "category",
}  # fmt: skip
#: Name parts (whole tokens of the stem, case-insensitive) of problems questionnaires.
PROBLEM_TOKENS = frozenset({
    "ghq", "phq", "gad", "ces", "cesd", "dass", "k10", "k6", "bdi", "mhi", "cm", "sym", "scl",
    "bsi", "hads", "pss", "who5", "stai",
})  # fmt: skip
#: Name parts of stressor questionnaires (daily hassles, life events, pandemic stressors).
STRESSOR_TOKENS = frozenset({
    "ge", "le", "ce", "dh", "mil", "stress", "stressor", "stressors", "hassle", "hassles",
    "event", "events", "lec", "lte", "ple", "mille",
})  # fmt: skip
NUMBERED = re.compile(r"^(?P<stem>.*?[A-Za-z][_.]?)(?P<number>\d+)$")
COMMON_MISSING_CODES = (-99, -999, -9, 99, 999, -77, -88)
#: Fewest items a block needs to be proposed as an instrument.
MIN_ITEMS = 3
#: Share of a block's items that must span at least half of the block's range.
COMMON_RANGE_SHARE = 0.8
#: wave suffixes recognised in wide files, tried in this order: GHQ_01_t1, GHQ_01_w1, ...
WIDE_PATTERNS = (
    "{item}_t{wave}", "{item}_w{wave}", "{item}.t{wave}", "{item}_wave{wave}", "{item}_T{wave}",
)  # fmt: skip


@dataclass
class Block:
    """A numbered block of columns: the items kept, the columns left out and why."""

    stem: str
    items: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)
    range: tuple[float, float] = (0, 1)
    n_common: int = 0
    codes: list[int] = field(default_factory=list)
    missing_share: float = 0.0
    outside: list[str] = field(default_factory=list)


def _wide_layout(columns: list[str]) -> tuple[str, dict[str, list[str]]] | None:
    """The wave pattern most columns follow, with stem -> its per-wave columns; None if long."""
    best = None
    for pattern in WIDE_PATTERNS:
        regex = re.compile(
            "^"
            + re.escape(pattern)
            .replace(r"\{item\}", "(?P<item>.+?)")
            .replace(r"\{wave\}", r"(?P<wave>\d+)")
            + "$"
        )
        stems: dict[str, list[str]] = defaultdict(list)
        waves = set()
        for column in columns:
            match = regex.match(column)
            if match:
                stems[match.group("item")].append(column)
                waves.add(int(match.group("wave")))
        matched = sum(len(v) for v in stems.values())
        if (
            len(waves) >= 2
            and matched >= 0.3 * len(columns)
            and (best is None or matched > best[2])
        ):
            best = (pattern, dict(stems), matched)
    return None if best is None else (best[0], best[1])


def _normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "_", name.lower()).strip("_")


def _pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    by_norm = {_normalised(c): c for c in columns}
    for name in wanted:
        if name in by_norm:
            return by_norm[name]
    return None


def _plain_number(value: float) -> int | float:
    """3.0 -> 3 (as a questionnaire range is written), 2.5 stays 2.5."""
    return int(value) if float(value).is_integer() else float(value)


def _why_not_an_item(values: pd.Series) -> str | None:
    """Why a column cannot be a questionnaire item (None if it can)."""
    present = values.notna().to_numpy()
    if not present.any():
        return "all empty"
    numbers, not_numeric = parse_numbers(values)
    if not_numeric[present].mean() > 0.05:
        return f"holds text ({int(not_numeric.sum())} of {int(present.sum())} values)"
    distinct = np.unique(numbers[np.isfinite(numbers)])
    if len(distinct) < 2:
        shown = _plain_number(distinct[0]) if len(distinct) else "none"
        return (
            f"fewer than two distinct values (only {shown}; {1 - present.mean():.0%} empty): "
            "a flag or open-question marker, not ratings"
        )
    return None


def _item_blocks(frame: pd.DataFrame, skip: set[str]) -> dict[str, Block]:
    """Numbered blocks (a stem ending in a number) with a common range, items checked one by one."""
    groups: dict[str, list[str]] = defaultdict(list)
    for column in frame.columns:
        match = NUMBERED.match(str(column))
        if match and column not in skip:
            groups[match.group("stem")].append(column)
    out = {}
    for stem, columns in groups.items():
        block = Block(stem=stem)
        for column in columns:
            reason = _why_not_an_item(frame[column])
            if reason:
                block.left_out[column] = reason
            else:
                block.items.append(column)
        if len(block.items) < MIN_ITEMS:
            continue
        _block_range(block, frame)
        out[stem] = block
    return out


def _block_range(block: Block, frame: pd.DataFrame) -> None:
    """The block's range and how many items share it (common missing codes set aside).

    The range runs from the lowest to the highest value that at least two items reach, so
    that one mistyped answer (a 7 on a 0-3 scale) does not widen it: validation reports
    that answer. An item shares the range when its own values span at least half of it.
    """
    spans, codes, n_missing = [], set(), 0
    for column in block.items:
        numbers = parse_numbers(frame[column])[0]
        n_missing += int(np.isnan(numbers).sum())
        present = numbers[np.isfinite(numbers)]
        item_codes = {int(v) for v in np.unique(present) if v in COMMON_MISSING_CODES}
        valid = present[~np.isin(present, list(item_codes))]
        # a code is a missing code only where it lies outside the item's other values
        item_codes = {c for c in item_codes if not valid.size or c < valid.min() or c > valid.max()}
        valid = present[~np.isin(present, list(item_codes))]
        codes |= item_codes
        if valid.size:
            spans.append((float(valid.min()), float(valid.max())))
    block.codes = sorted(codes)
    block.missing_share = n_missing / max(1, len(block.items) * len(frame))
    if not spans:
        return
    lows, highs = sorted(s[0] for s in spans), sorted(s[1] for s in spans)
    low = lows[1] if len(lows) > 1 else lows[0]
    high = highs[-2] if len(highs) > 1 else highs[-1]
    width = high - low
    block.range = (_plain_number(low), _plain_number(high))
    block.n_common = (
        sum((b - a) >= 0.5 * width and a >= low - width and b <= high + width for a, b in spans)
        if width > 0
        else 0
    )


def _role(stem: str) -> str | None:
    """problems / stressors when a whole token of the stem names such a questionnaire."""
    tokens = {t for t in re.split(r"[^a-z0-9]+", stem.lower()) if t}
    tokens |= {re.sub(r"\d+", "", t) for t in tokens}
    if tokens & PROBLEM_TOKENS:
        return "problems"
    if tokens & STRESSOR_TOKENS:
        return "stressors"
    return None


def _evidence(block: Block) -> str:
    first, last = block.items[0], block.items[-1]
    low, high = block.range
    codes = f"; codes {block.codes} set aside as missing" if block.codes else ""
    if block.outside:
        codes += f"; {', '.join(block.outside)} also outside it (validation will list those values)"
    return (
        f"{len(block.items)} items {first}..{last}, range {low}-{high} shared by "
        f"{block.n_common} of {len(block.items)} items, {block.missing_share:.1%} missing{codes}"
    )


def _instruments(blocks: dict[str, Block], evidence: list[str]) -> tuple[dict, set[int]]:
    """Instrument entries for the recognised blocks (the first problems block defines P)."""
    instruments: dict[str, dict] = {}
    codes: set[int] = set()
    problems_given = False
    for stem, block in blocks.items():
        role = _role(stem)
        if role == "problems" and problems_given:
            role = "covariate"  # a second problems questionnaire is scored and carried along
        if role is None:
            evidence.append(
                f"left out block {stem!r} ({_evidence(block)}): its name is not a known problems "
                "or stressor questionnaire; add it as an instrument if it is one"
            )
            continue
        if block.n_common < COMMON_RANGE_SHARE * len(block.items):
            evidence.append(
                f"left out block {stem!r} ({_evidence(block)}): its items do not share a range"
            )
            continue
        problems_given = problems_given or role == "problems"
        name = re.sub(r"[^A-Za-z0-9]", "", stem).lower() or "items"
        if not name[0].isalpha():
            name = "i" + name
        # a prefix would also take the columns left out: list the items then
        items = {"columns": block.items} if block.left_out else {"prefix": stem}
        entry = {"role": role, "items": items, "range": list(block.range), "score": "prorated_sum"}
        if role == "stressors":
            entry["method"] = "severity"
        instruments[name] = entry
        codes.update(block.codes)
        evidence.append(f"CHECK {name} ({role}): {_evidence(block)}")
    if not instruments:
        evidence.append(
            "CHECK: no block of columns is a known problems or stressor questionnaire; add your "
            "instruments (role, items, range) by hand, e.g. from the blocks left out above"
        )
    if not problems_given and instruments:
        first = next(iter(instruments))
        instruments[first]["role"] = "problems"
        instruments[first].pop("method", None)
        evidence.append(
            f"CHECK {first}: no known problems questionnaire; made problems to pass the schema"
        )
    return instruments, codes


def _covariates(
    frame: pd.DataFrame, participant: str, candidates: list[str], evidence: list[str]
) -> dict[str, str]:
    """Columns constant within every participant, proposed as covariates with their type."""
    out: dict[str, str] = {}
    if not candidates:
        return out
    within = frame.groupby(frame[participant], sort=False)[candidates].nunique(dropna=True).max()
    for column in candidates:
        values = frame[column]
        distinct = values.dropna().nunique()
        if distinct < 2:
            why = "all empty" if distinct == 0 else f"one value only ({values.dropna().iloc[0]})"
            evidence.append(f"left out {column}: {why}")
            continue
        if within[column] > 1:
            continue
        numbers, not_numeric = parse_numbers(values)
        present = values.notna().to_numpy()
        numeric = not not_numeric[present].any()
        kind = COVARIATE_NAMES.get(_normalised(column))
        if kind is None:
            if not numeric and distinct > 20:
                continue  # text with many values (names, notes): not a covariate
            kind = "numeric" if numeric and distinct > 10 else "category"
        out[column] = kind
        evidence.append(
            f"CHECK covariate {column} ({kind}): constant within every participant, {distinct} "
            f"distinct values, {1 - present.mean():.1%} missing"
        )
    return out


def _index_columns(frame: pd.DataFrame) -> dict[str, str]:
    """Columns that are a written-out row index (R's "" and X, pandas' Unnamed: 0)."""
    out = {}
    for name in frame.columns:
        if _UNNAMED_RE.match(name) or _INDEX_NAME_RE.match(name):
            kind = _is_row_index(frame[name])
            if kind:
                out[name] = f"a row index ({kind})"
    return out


def _stacked(frame: pd.DataFrame, stems: dict[str, list[str]]) -> pd.DataFrame:
    """A wide frame as one column per stem (its waves stacked), stable columns repeated."""
    per_wave = {c for cols in stems.values() for c in cols}
    blocks = max(len(cols) for cols in stems.values())
    stacked = {
        stem: pd.concat([frame[c] for c in cols], ignore_index=True) for stem, cols in stems.items()
    }
    stacked.update(
        {
            c: pd.concat([frame[c]] * blocks, ignore_index=True)
            for c in frame.columns
            if c not in per_wave
        }
    )
    return pd.DataFrame(stacked)


def _time_entry(frame: pd.DataFrame, date: str | None, evidence: list[str]) -> str | dict | None:
    """The time column; numbers in a plausible day range become days since 1970-01-01."""
    if date is None:
        return None
    numbers, not_numeric = parse_numbers(frame[date])
    present = np.isfinite(numbers)
    # 1990-01-01 .. 2060-01-01 in days since 1970: how R writes a Date read as a number
    if (
        present.any()
        and not not_numeric.any()
        and np.all((numbers[present] > 7305) & (numbers[present] < 32872))
    ):
        evidence.append(
            f"CHECK time {date}: numbers {int(numbers[present].min())}..{int(numbers[present].max())} "
            "read as days since 1970-01-01 (R's Date); for Excel serial dates use origin: excel"
        )
        return {"column": date, "type": "date", "origin": "1970-01-01", "unit": "days"}
    return date


def starter_config(path: Path, cohort_name: str = "mystudy") -> str:
    """Return the YAML text of a draft config for ``path``.

    Parameters
    ----------
    path
        The researcher's data file (any format srflow reads).
    cohort_name
        Name of the cohort in the config (used in output paths).

    Returns
    -------
    str
        A config with every guess marked ``CHECK`` and its evidence. It passes the schema
        when a known questionnaire was found; otherwise ``instruments`` is left empty and
        the header says so (srflow guesses no instrument it cannot name).
    """
    frame, notes = read_raw(path)
    evidence: list[str] = []
    index = _index_columns(frame)
    evidence += [f"left out {name}: {why}" for name, why in index.items()]
    frame = frame.drop(columns=list(index))
    wide = _wide_layout([str(c) for c in frame.columns])
    original = frame
    if wide is not None:
        frame = _stacked(frame, wide[1])
    columns = [str(c) for c in frame.columns]
    participant = _pick(columns, PARTICIPANT_NAMES) or columns[0]
    wave = None if wide is not None else _pick(columns, WAVE_NAMES)
    date = next((c for c in columns if "date" in c.lower()), None)
    blocks = _item_blocks(frame, skip={participant, wave or "", date or ""})
    instruments, codes = _instruments(blocks, evidence)
    for block in blocks.values():
        evidence += [f"left out {c}: {why}" for c, why in block.left_out.items()]
    taken = {participant, wave, date} | {
        c for b in blocks.values() for c in (*b.items, *b.left_out)
    }
    source = original if wide is not None else frame
    stable = [c for c in source.columns if c in columns and c not in taken]
    covariates = _covariates(source, participant, stable, evidence)
    cohort = {
        "input": str(path),
        "layout": "long" if wide is None else "wide",
        **({} if wide is None else {"wide_pattern": wide[0]}),
        "columns": {
            "participant": participant,
            "wave": wave,
            "time": _time_entry(frame, date, evidence),
            "covariates": covariates,
        },
        "missing_codes": sorted(codes),
        "on_invalid": "fail",
        "instruments": instruments,
        "exposure": {"combine": "sum"},
    }
    config = {"seed": 20261121, "cohorts": {cohort_name: cohort}}
    body = yaml.safe_dump(config, sort_keys=False, width=110, default_flow_style=None)
    return "\n".join(_header(path, notes, evidence, wide, wave)) + "\n" + _mark_checks(body)


def _header(
    path: Path, notes: list[str], evidence: list[str], wide: tuple | None, wave: str | None
) -> list[str]:
    header = [
        f"# Draft srflow config for {path.name}, written by `srflow init`.",
        "# CHECK every line: the columns, the instruments' roles, items and ranges are guesses from the data.",
        "# Ranges are the lowest and highest values two items reach: set the questionnaire's valid range.",
        "# Add reverse-scored items (reverse: [...]) and analyses (sr, mixed_models, trajectories);",
        "# config/README.md documents every key. Then run: srflow validate --config <this file>",
    ]
    header += [f"# note: {note}" for note in notes]
    header += [f"# {line}" for line in evidence]
    if wide is not None:
        header.append(
            f"# CHECK wide file: one row per participant, waves in columns named like {wide[0]!r}"
        )
    elif wave is None:
        header.append(
            "# CHECK: no wave column found; for a wide file set layout: wide and wide_pattern"
        )
    return header


def _mark_checks(body: str) -> str:
    """Append '# CHECK' to the guessed lines of the YAML body."""
    guessed = {
        "participant", "wave", "time", "role", "range", "missing_codes", "prefix", "columns",
        "wide_pattern", "covariates",
    }  # fmt: skip
    marked = []
    for line in body.splitlines():
        key = line.strip().split(":", 1)[0]
        if key in guessed:
            line += "  # CHECK"
        marked.append(line)
    return "\n".join(marked) + "\n"
