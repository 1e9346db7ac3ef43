"""The report's input paths: how the report rule names each output, grouped by spec."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from srflow.errors import InputError

#: The file name of each SR, mixed-model and trajectory output, as ``report_inputs`` lists them.
SR_FILE = re.compile(r"(?:^|.*/)sr/(?P<name>[^/]+?)\.(?P<part>csv|line\.json)$")
MIXED_FILE = re.compile(
    r"(?:^|.*/)mixed/(?P<name>[^/]+?)\.(?P<part>fixed\.csv|anova\.csv|fit\.json|random\.csv)$"
)
REGRESSION_FILE = re.compile(
    r"(?:^|.*/)regressions/(?P<name>[^/]+?)\.(?P<part>coefficients\.csv|fit\.json)$"
)
TRAJECTORY_FILE = re.compile(
    r"(?:^|.*/)trajectories/(?P<name>[^/]+)/(?P<part>selection|classes|curves|anchors|classification|predictors|distal)\.csv$"
)
PARTS = {
    "sr": {"csv": "table", "line.json": "line"},
    "mixed": {
        "fixed.csv": "fixed",
        "anova.csv": "anova",
        "fit.json": "fit",
        "random.csv": "random",
    },
    "regressions": {"coefficients.csv": "coefficients", "fit.json": "fit"},
    "trajectories": {
        p: p
        for p in (
            "selection",
            "classes",
            "curves",
            "anchors",
            "classification",
            "predictors",
            "distal",
        )
    },
}


#: The score stage's files beside the scores table: ReportFiles field -> file name.
SCORE_FILES = {
    "scoring": "scoring.json",
    "reliability": "reliability.csv",
    "attrition": "attrition.csv",
    "attrition_fit": "attrition.json",
}


def one_path(inputs: Mapping[str, Any], key: str) -> Path | None:
    """One named input path, or None when the rule does not give it."""
    paths = named_paths(inputs, key)
    return Path(paths[0]) if paths else None


def named_paths(inputs: Mapping[str, Any], key: str) -> list[str]:
    value = inputs.get(key, []) if hasattr(inputs, "get") else getattr(inputs, key, [])
    if isinstance(value, (str, Path)):
        return [str(value)]
    return [str(v) for v in value]


def group_paths(
    paths: Iterable[str], pattern: re.Pattern, kind: str, required: tuple[str, ...]
) -> dict:
    grouped: dict[str, dict[str, Path]] = {}
    for path in paths:
        match = pattern.fullmatch(path.replace("\\", "/"))
        if match is None:
            raise InputError(
                f"report input '{path}' is not a {kind} output (see report_inputs in common.smk)"
            )
        part = PARTS[kind][match["part"]]
        grouped.setdefault(match["name"], {})[part] = Path(path)
    for name, parts in grouped.items():
        missing = [p for p in required if p not in parts]
        if missing:
            raise InputError(
                f"report inputs of {kind} '{name}' lack the {', '.join(missing)} file(s)"
            )
    return grouped
