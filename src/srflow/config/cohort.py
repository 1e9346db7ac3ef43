"""The typed view of a validated config: cohorts, instruments, columns, and load_config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srflow.config.constants import SHARED_BLOCKS
from srflow.errors import ConfigError


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: which items, their valid range, and how they are scored."""

    name: str
    role: str
    selector_kind: str  # "prefix", "regex" or "columns"
    selector: str | tuple[str, ...]
    range: tuple[float, float]
    score: str
    min_answered: float
    reverse: tuple[str, ...]
    method: str
    missing_codes: tuple[Any, ...]


@dataclass(frozen=True)
class Columns:
    """Source columns that play the canonical roles."""

    participant: str
    wave: str | None
    time: str | None
    time_type: str
    covariates: Mapping[str, str]
    time_origin: str | None = None
    time_unit: str = "days"


@dataclass(frozen=True)
class Careless:
    """Careless-responding checks."""

    straightlining: str
    min_items: int
    instruments: tuple[str, ...]


@dataclass(frozen=True)
class CohortConfig:
    """A validated cohort, with the shared blocks resolved (cohort overrides win)."""

    name: str
    input: Path
    layout: str
    wide_pattern: str
    sheet: str | int
    delimiter: str | None
    encoding: str | None
    columns: Columns
    missing_codes: tuple[Any, ...]
    on_invalid: str
    careless: Careless
    instruments: Mapping[str, Instrument]
    exposure_combine: str
    #: problems.combine (zmean, pca1) of a composite P; None = P is one instrument's score.
    problems_combine: str | None = None
    #: The instruments a composite P combines (config order); empty for a single instrument.
    problems_instruments: tuple[str, ...] = ()
    sr: Mapping[str, Any] = field(default_factory=dict)
    mixed_models: Mapping[str, Any] = field(default_factory=dict)
    regressions: Mapping[str, Any] = field(default_factory=dict)
    trajectories: Mapping[str, Any] = field(default_factory=dict)
    report: Mapping[str, Any] = field(default_factory=dict)

    @property
    def problems(self) -> Instrument:
        """The instrument that defines P (of a composite P, the first it combines)."""
        if self.problems_instruments:
            return self.instruments[self.problems_instruments[0]]
        return next(i for i in self.instruments.values() if i.role == "problems")

    @property
    def problems_parts(self) -> list[Instrument]:
        """The instruments that make up P, in config order (one unless P is a composite)."""
        if self.problems_instruments:
            return [self.instruments[name] for name in self.problems_instruments]
        return [self.problems]

    @property
    def stressors(self) -> list[Instrument]:
        """The instruments that make up E, in config order."""
        return [i for i in self.instruments.values() if i.role == "stressors"]


@dataclass(frozen=True)
class Config:
    """A validated srflow config."""

    seed: int
    cohorts: Mapping[str, CohortConfig]
    data: Mapping[str, Any]

    def cohort(self, name: str) -> CohortConfig:
        """Return one cohort's config, or a ConfigError listing the known cohorts."""
        try:
            return self.cohorts[name]
        except KeyError:
            raise ConfigError(
                f"no cohort named '{name}' in the config; cohorts: {', '.join(self.cohorts)}"
            ) from None


def _instrument(name: str, d: Mapping[str, Any]) -> Instrument:
    ((kind, selector),) = d["items"].items()
    return Instrument(
        name=name,
        role=d["role"],
        selector_kind=kind,
        selector=tuple(selector) if kind == "columns" else selector,
        range=(float(d["range"][0]), float(d["range"][1])),
        score=d["score"],
        min_answered=float(d["min_answered"]),
        reverse=tuple(d["reverse"]),
        method=d["method"],
        missing_codes=tuple(d["missing_codes"]),
    )


def time_column(columns: Mapping[str, Any]) -> str | None:
    """The source column of ``columns.time``, given as a name or as {column, type, origin, unit}."""
    time = columns.get("time")
    return time.get("column") if isinstance(time, Mapping) else time


def _columns(cols: Mapping[str, Any]) -> Columns:
    """The typed ``columns`` block; a time given as a mapping carries how to read it."""
    time = cols["time"]
    time_type, origin, unit = cols["time_type"], None, "days"
    if isinstance(time, Mapping):
        origin, unit = time.get("origin"), time.get("unit", "days")
        time_type = time.get("type") or ("date" if origin is not None else time_type)
    return Columns(
        participant=cols["participant"],
        wave=cols["wave"],
        time=time_column(cols),
        time_type=time_type,
        covariates=dict(cols["covariates"]),
        time_origin=origin,
        time_unit=unit,
    )


def _cohort(name: str, d: Mapping[str, Any], top: Mapping[str, Any]) -> CohortConfig:
    cols = d["columns"]
    careless = d["careless"]
    problems_name = next(n for n, i in d["instruments"].items() if i["role"] == "problems")
    blocks = {block: d.get(block, top.get(block, {})) for block in SHARED_BLOCKS}
    if "report" in d:  # a partial cohort report block still inherits the top-level keys
        blocks["report"] = {**top.get("report", {}), **d["report"]}
    return CohortConfig(
        name=name,
        input=Path(d["input"]),
        layout=d["layout"],
        wide_pattern=d["wide_pattern"],
        sheet=d["sheet"],
        delimiter=d["delimiter"],
        encoding=d["encoding"],
        columns=_columns(cols),
        missing_codes=tuple(d["missing_codes"]),
        on_invalid=d["on_invalid"],
        careless=Careless(
            straightlining=careless["straightlining"],
            min_items=careless["min_items"],
            instruments=tuple(careless["instruments"] or (problems_name,)),
        ),
        instruments={n: _instrument(n, i) for n, i in d["instruments"].items()},
        exposure_combine=d["exposure"]["combine"],
        **_problems_composite(d),
        **blocks,
    )


def _problems_composite(d: Mapping[str, Any]) -> dict[str, Any]:
    """problems_combine and problems_instruments of a cohort (a composite P, or none)."""
    block = d.get("problems")
    if block is None:
        return {}
    names = block["instruments"]
    if names is None:  # every instrument of role problems, in config order
        names = [n for n, i in d["instruments"].items() if i["role"] == "problems"]
    return {"problems_combine": block["combine"], "problems_instruments": tuple(names)}


def _score_columns(cohort: Mapping[str, Any]) -> set[str]:
    """Columns of a cohort's scores table that analyses may name."""
    return {"P", "E", "wave", "time", *cohort["instruments"], *cohort["columns"]["covariates"]}
