"""Draft a config for a researcher's own data file (``srflow init``).

The draft guesses the participant, wave and date columns and groups item columns by their
shared stem (``GHQ_01..GHQ_12``). Every guess is marked ``CHECK`` in the YAML: the draft is a
starting point that passes the schema, not a decision made for the researcher.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from srflow.io import parse_numbers, read_raw

PARTICIPANT_NAMES = ("participant_id", "participant", "subject_id", "subject", "id", "pid", "record_id", "code")
WAVE_NAMES = ("wave", "visit", "timepoint", "time_point", "session", "occasion", "assessment", "beep", "t")
COVARIATE_NAMES = {"age": "numeric", "sex": "category", "gender": "category", "arm": "category", "group": "category"}
PROBLEM_STEMS = re.compile(r"ghq|phq|gad|ces|dass|k10|bdi|mhi|cm|sym", re.IGNORECASE)
STRESSOR_STEMS = re.compile(r"ge|le|ce|dh|stress|hassl|event|mil", re.IGNORECASE)
NUMBERED = re.compile(r"^(?P<stem>.*?[A-Za-z][_.]?)(?P<number>\d+)$")
COMMON_MISSING_CODES = (-99, -999, -9, 99, 999, -77, -88)
#: wave suffixes recognised in wide files, tried in this order: GHQ_01_t1, GHQ_01_w1, GHQ_01.t1, GHQ_01_wave1
WIDE_PATTERNS = ("{item}_t{wave}", "{item}_w{wave}", "{item}.t{wave}", "{item}_wave{wave}", "{item}_T{wave}")


def _wide_layout(columns: list[str]) -> tuple[str, dict[str, list[str]]] | None:
    """The wave pattern most columns follow, with stem -> its per-wave columns; None for long files."""
    best = None
    for pattern in WIDE_PATTERNS:
        regex = re.compile("^" + re.escape(pattern).replace(r"\{item\}", "(?P<item>.+?)").replace(r"\{wave\}", r"(?P<wave>\d+)") + "$")
        stems: dict[str, list[str]] = defaultdict(list)
        waves = set()
        for column in columns:
            match = regex.match(column)
            if match:
                stems[match.group("item")].append(column)
                waves.add(int(match.group("wave")))
        matched = sum(len(v) for v in stems.values())
        if len(waves) >= 2 and matched >= 0.3 * len(columns) and (best is None or matched > best[2]):
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


def _numeric_share(values: pd.Series) -> float:
    _, not_numeric = parse_numbers(values)
    present = values.notna().to_numpy()
    return 1.0 - float(not_numeric[present].mean()) if present.any() else 0.0


def _plain_number(value: float) -> int | float:
    """3.0 -> 3 (as a questionnaire range is written), 2.5 stays 2.5."""
    return int(value) if float(value).is_integer() else float(value)


def _item_groups(frame: pd.DataFrame, skip: set[str]) -> dict[str, dict]:
    """Columns that share a stem and end in a number, split into numeric items and text columns."""
    groups: dict[str, list[str]] = defaultdict(list)
    for column in frame.columns:
        match = NUMBERED.match(str(column))
        if match and column not in skip:
            groups[match.group("stem")].append(column)
    out = {}
    for stem, columns in groups.items():
        numeric = [c for c in columns if _numeric_share(frame[c]) >= 0.95]
        if len(numeric) >= 3:
            values = np.concatenate([parse_numbers(frame[c])[0] for c in numeric])
            values = values[np.isfinite(values)]
            codes = sorted({int(v) for v in values if v in COMMON_MISSING_CODES})
            valid = values[~np.isin(values, codes)]
            out[stem] = {
                "items": numeric,
                "text": [c for c in columns if c not in numeric],
                "range": [_plain_number(valid.min()), _plain_number(valid.max())] if valid.size else [0, 1],
                "codes": codes,
            }
    return out


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
        A config that passes the schema, with every guess marked ``CHECK``.
    """
    frame, notes = read_raw(path)
    wide = _wide_layout([str(c) for c in frame.columns])
    if wide is not None:
        # one column per item (its waves stacked), so items are grouped as in a long file
        pattern, stems = wide
        per_wave = {c for cols in stems.values() for c in cols}
        blocks = max(len(cols) for cols in stems.values())
        stacked = {stem: pd.concat([frame[c] for c in cols], ignore_index=True) for stem, cols in stems.items()}
        stacked.update(
            {c: pd.concat([frame[c]] * blocks, ignore_index=True) for c in frame.columns if c not in per_wave}
        )
        frame = pd.DataFrame(stacked)
    columns = [str(c) for c in frame.columns]
    participant = _pick(columns, PARTICIPANT_NAMES) or columns[0]
    wave = None if wide is not None else _pick(columns, WAVE_NAMES)
    date = next((c for c in columns if "date" in c.lower()), None)
    covariates = {c: COVARIATE_NAMES[_normalised(c)] for c in columns if _normalised(c) in COVARIATE_NAMES}
    groups = _item_groups(frame, skip={participant, wave or "", date or ""})

    instruments: dict[str, dict] = {}
    problems_given = False
    codes: set[int] = set()
    for stem, group in groups.items():
        name = re.sub(r"[^A-Za-z0-9]", "", stem).lower() or "items"
        if not name[0].isalpha():
            name = "i" + name
        if PROBLEM_STEMS.search(stem) and not problems_given:
            role, problems_given = "problems", True
        elif STRESSOR_STEMS.search(stem):
            role = "stressors"
        else:
            continue  # other questionnaires: the researcher adds them if wanted
        items = {"columns": group["items"]} if group["text"] else {"prefix": stem}
        entry = {"role": role, "items": items, "range": group["range"], "score": "prorated_sum"}
        if role == "stressors":
            entry["method"] = "severity"
        instruments[name] = entry
        codes.update(group["codes"])
    if not problems_given and instruments:
        first = next(iter(instruments))
        instruments[first]["role"] = "problems"
        instruments[first].pop("method", None)

    cohort = {
        "input": str(path),
        "layout": "long" if wide is None else "wide",
        **({} if wide is None else {"wide_pattern": wide[0]}),
        "columns": {"participant": participant, "wave": wave, "time": date, "covariates": covariates},
        "missing_codes": sorted(codes),
        "on_invalid": "fail",
        "instruments": instruments,
        "exposure": {"combine": "sum"},
    }
    body = yaml.safe_dump({"seed": 20261121, "cohorts": {cohort_name: cohort}}, sort_keys=False, width=110, default_flow_style=None)
    header = [
        f"# Draft srflow config for {path.name}, written by `srflow init`.",
        "# CHECK every line: the columns, the instruments' roles, items and ranges are guesses from the data.",
        "# Ranges are the observed minimum and maximum: set them to the questionnaire's valid range.",
        "# Add reverse-scored items (reverse: [...]) and analyses (sr, mixed_models, trajectories);",
        "# config/README.md documents every key. Then run: srflow validate --config <this file>",
    ]
    header += [f"# note: {note}" for note in notes]
    for stem, group in groups.items():
        if group["text"]:
            header.append(f"# note: {', '.join(group['text'])} share the stem {stem!r} but hold text; left out of the items")
    if wide is not None:
        header.append(f"# wide file: one row per participant, waves in columns named like {wide[0]!r} (CHECK)")
    elif wave is None:
        header.append("# CHECK: no wave column found; for a wide file set layout: wide and wide_pattern")
    return "\n".join(header) + "\n" + _mark_checks(body)


def _mark_checks(body: str) -> str:
    """Append '# CHECK' to the guessed lines of the YAML body."""
    marked = []
    for line in body.splitlines():
        key = line.strip().split(":", 1)[0]
        if key in {"participant", "wave", "time", "role", "range", "missing_codes", "prefix", "columns", "wide_pattern"}:
            line += "  # CHECK"
        marked.append(line)
    return "\n".join(marked) + "\n"
