"""Load, validate and view an srflow configuration.

The JSON schema (``schemas/config.schema.yaml``, also linked as
``workflow/schemas/config.schema.yaml``) is the single source of the keys, their
types and their defaults. This module fills the defaults, turns schema errors into
messages that name the key and the allowed values, adds the checks a schema cannot
express (exactly one problems instrument, references between specs), and offers a
typed, read-only view of each cohort.
"""

from __future__ import annotations

import codecs
import copy
import difflib
import json
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from srflow.errors import ConfigError, shorten

#: Names the pipeline itself gives to columns of the scored table.
RESERVED_NAMES = frozenset({"participant_id", "wave", "time", "P", "E", "source_row"})
#: SR levels with one score per (participant, wave): the only ones a trajectory can follow.
SR_WAVE_LEVELS = ("wave", "multilevel")
#: Blocks that apply to every cohort unless a cohort overrides them.
SHARED_BLOCKS = ("sr", "mixed_models", "regressions", "trajectories", "report")


@lru_cache(maxsize=1)
def config_schema() -> dict[str, Any]:
    """Return the config JSON schema shipped with srflow."""
    text = resources.files("srflow").joinpath("schemas/config.schema.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _with_defaults(validator_class: type) -> type:
    """Extend a jsonschema validator so it fills each property's ``default`` before checking."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if name not in instance and "default" in subschema:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_FillingValidator = _with_defaults(jsonschema.Draft202012Validator)


def _key_path(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _allowed_keys(schema: Mapping[str, Any]) -> list[str]:
    return sorted(schema.get("properties", {}))


def _describe(error: jsonschema.ValidationError) -> str:
    """One readable sentence for a schema violation: the key, the value, what is allowed."""
    where = _key_path(error.absolute_path)
    value = error.instance
    if error.validator == "additionalProperties":
        allowed = _allowed_keys(error.schema)
        unknown = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        parts = []
        for key in unknown:
            near = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            parts.append(f"unknown key '{shorten(key)}'{hint}")
        return f"{where}: {', '.join(parts)}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        near = difflib.get_close_matches(str(value), [str(v) for v in error.validator_value], n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"{where}: '{shorten(value)}' is not allowed{hint}; allowed values: {allowed}"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in (value or {})]
        return f"{where}: missing required key(s) {', '.join(missing)}"
    if error.validator == "type":
        return f"{where}: {shorten(repr(value))} has the wrong type; expected {error.validator_value}"
    if error.validator == "pattern" and error.absolute_path and isinstance(value, str):
        return f"{where}: {shorten(repr(value))} is not allowed here (must match {error.validator_value})"
    if error.validator == "propertyNames":
        return f"{where}: name {shorten(repr(value))} is not allowed (letters, digits, '_' and '-', starting with a letter or digit)"
    if error.validator in {"oneOf", "anyOf"}:
        return f"{where}: {shorten(repr(value))} matches none of the allowed forms ({error.schema.get('description', '').strip()})"
    if error.validator in {"minProperties", "maxProperties"} and _key_path(error.absolute_path).endswith("items"):
        return f"{where}: give exactly one of prefix, regex or columns"
    return f"{where}: {shorten(error.message, 300)}"


def validate_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a config mapping and return a copy with every default filled in.

    Parameters
    ----------
    raw
        The config as read from YAML.

    Returns
    -------
    dict
        The validated config with defaults.

    Raises
    ------
    ConfigError
        Listing every problem, each naming the key, the offending value and what is allowed.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError("the config must be a mapping of keys to values (a YAML document), got " + type(raw).__name__)
    _check_expanded_size(raw)
    filled = copy.deepcopy(dict(raw))
    validator = _FillingValidator(config_schema())
    errors = sorted(validator.iter_errors(filled), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        lines = [_describe(best) for best in _most_specific(errors)]
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(dict.fromkeys(lines)))
    problems = _semantic_problems(filled)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))
    return filled


def _most_specific(errors: list[jsonschema.ValidationError]) -> list[jsonschema.ValidationError]:
    """Replace oneOf/anyOf errors by their most relevant sub-error where that is clearer."""
    out = []
    for error in errors:
        if error.validator in {"oneOf", "anyOf"} and error.context:
            out.append(jsonschema.exceptions.best_match([error]))
        else:
            out.append(error)
    return out


def _score_columns(cohort: Mapping[str, Any]) -> set[str]:
    """Columns of a cohort's scores table that analyses may name."""
    return {"P", "E", "wave", "time", *cohort["instruments"], *cohort["columns"]["covariates"]}


def _renamed_hint(cohort: Mapping[str, Any]) -> str:
    """How source column names map to the scores table, for messages about unknown columns."""
    columns = cohort["columns"]
    pairs = [(columns["participant"], "participant_id"), (columns.get("wave"), "wave"), (time_column(columns), "time")]
    renamed = [f"{source} -> {canonical}" for source, canonical in pairs if source and source != canonical]
    return f"; source columns are renamed ({', '.join(renamed)})" if renamed else ""


def _mixed_problems(cohort_name: str, cohort: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    """Mixed-model specs may name only columns of the scores table, and compare only with existing models."""
    problems = []
    specs = cohort.get("mixed_models", cfg.get("mixed_models", {}))
    known = _score_columns(cohort)
    for model_name, spec in specs.items():
        where = f"mixed_models.{model_name}"
        named = [("outcome", spec["outcome"])] + [
            (key, part.split("^")[0]) for key in ("fixed", "random") for term in spec[key] for part in term.split(":")
        ]
        for key, column in named:
            if column not in known:
                problems.append(
                    f"{where}.{key}: '{column}' is not a column of the scores table of cohort {cohort_name} "
                    f"(columns: {', '.join(sorted(known))}){_renamed_hint(cohort)}"
                )
        other = spec.get("compare_to")
        if other is not None and other not in specs:
            problems.append(f"{where}.compare_to: no model named '{other}' (models: {', '.join(sorted(specs))})")
    return problems


def _trajectory_problems(cohort_name: str, cohort: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    """Trajectory specs must name a series the cohort has, and a bootstrap needs a likelihood."""
    problems = []
    sr_specs = cohort.get("sr", cfg.get("sr", {}))
    score_columns = _score_columns(cohort)
    for name, spec in cohort.get("trajectories", cfg.get("trajectories", {})).items():
        where = f"trajectories.{name}"
        variable = spec["variable"]
        if variable.startswith("sr:"):
            sr = sr_specs.get(variable[3:])
            if sr is None:
                problems.append(f"{where}.variable: no SR spec named '{variable[3:]}' (SR specs: {', '.join(sorted(sr_specs)) or 'none'})")
            elif sr["level"] not in SR_WAVE_LEVELS:
                problems.append(
                    f"{where}.variable: SR spec '{variable[3:]}' has level {sr['level']}; a trajectory needs one SR "
                    "score per wave (level wave or multilevel)"
                )
        elif variable not in score_columns:
            problems.append(f"{where}.variable: '{variable}' is not P, E, an instrument or a covariate of cohort {cohort_name}")
        if spec["bootstrap"] > 0 and spec["method"] == "kmeans":
            problems.append(f"{where}.bootstrap: the bootstrap LR test needs a likelihood (method lcga or gmm); set 0 for kmeans")
        if spec["classes"][0] > spec["classes"][1]:
            problems.append(f"{where}.classes: smallest {spec['classes'][0]} is above largest {spec['classes'][1]}")
    return problems


def _cohort_input_problems(cohort_name: str, cohort: Mapping[str, Any]) -> list[str]:
    """How the cohort's file is read: selectors that compile, a consistent time, one role per column."""
    where = f"cohorts.{cohort_name}"
    problems = []
    for name, inst in cohort["instruments"].items():
        regex = inst["items"].get("regex")
        if regex is not None:
            try:
                re.compile(regex)
            except re.error as exc:
                problems.append(
                    f"{where}.instruments.{name}.items.regex: {shorten(regex)!r} is not a valid "
                    f"regular expression ({exc})"
                )
        listed = inst["items"].get("columns", [])
        roles = _column_roles(cohort["columns"])
        for column in listed:
            if column in roles:
                problems.append(
                    f"{where}.instruments.{name}.items.columns: '{shorten(column)}' is also "
                    f"{roles[column]}; a column plays one role only (an item or a covariate, not both)"
                )
    columns = cohort["columns"]
    keys = {"participant": columns["participant"], "wave": columns.get("wave"), "time": time_column(columns)}
    if keys["wave"] and keys["wave"] == keys["participant"]:
        problems.append(f"{where}.columns.wave: '{keys['wave']}' is also columns.participant")
    if keys["time"] and keys["time"] == keys["participant"]:
        problems.append(f"{where}.columns.time: '{keys['time']}' is also columns.participant")
    for name in columns.get("covariates", {}):
        role = next((k for k, v in keys.items() if v == name), None)
        if role:
            problems.append(
                f"{where}.columns.covariates.{name}: '{shorten(name)}' is also columns.{role}; "
                "the scores table has it already (as participant_id, wave or time)"
            )
    careless = (cohort.get("careless") or {}).get("instruments") or []
    unknown = [n for n in careless if n not in cohort["instruments"]]
    if unknown:
        problems.append(
            f"{where}.careless.instruments: no instrument named "
            f"{', '.join(repr(shorten(n)) for n in unknown)} "
            f"(instruments: {', '.join(cohort['instruments'])})"
        )
    encoding = cohort.get("encoding")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            problems.append(
                f"{where}.encoding: unknown encoding {shorten(encoding)!r} (e.g. utf-8, cp1252, "
                "latin-1, utf-16; null = detect)"
            )
    fields = _format_fields(cohort["wide_pattern"])
    if fields is None or fields - {"item", "wave"}:
        shown = ", ".join("{" + f + "}" for f in sorted(fields or set()) if f not in ("item", "wave"))
        problems.append(
            f"{where}.wide_pattern: {shorten(cohort['wide_pattern'])!r} may hold only the "
            f"placeholders {{item}} and {{wave}}"
            + (f"; found {shown}" if shown else "; its braces do not pair")
            + " (write a literal brace as {{ or }})"
        )
    time = cohort["columns"].get("time")
    if isinstance(time, Mapping) and time.get("origin") is not None and time.get("type") == "number":
        problems.append(
            f"{where}.columns.time: origin {time['origin']!r} makes the numbers dates, "
            "but type is number; set type: date (or leave type out)"
        )
    return problems


def _format_fields(pattern: str) -> set[str] | None:
    """The placeholder names of a format pattern, or None when its braces do not pair."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
    except ValueError:
        return None


def _column_roles(columns: Mapping[str, Any]) -> dict[str, str]:
    """Source column -> the key that gives it a role other than item."""
    roles = {columns["participant"]: "columns.participant"}
    for key in ("wave",):
        if columns.get(key):
            roles[columns[key]] = f"columns.{key}"
    if time_column(columns):
        roles[time_column(columns)] = "columns.time"
    roles.update({c: f"columns.covariates.{c}" for c in columns.get("covariates", {})})
    return roles


def item_reference_problems(cohort: CohortConfig, items: Mapping[str, Sequence[str]]) -> list[str]:
    """Config keys that name item columns, checked once the items are resolved from the file.

    A prefix or regex selector is resolved against the data, so these checks cannot run
    on the config alone: ``srflow validate`` and the ingest job run them after reading.

    Parameters
    ----------
    cohort
        The cohort's config.
    items
        Instrument -> its item columns (:attr:`srflow.io.IngestResult.items`).

    Returns
    -------
    list of str
        One message per problem, naming the key and the value.
    """
    problems = []
    all_items = {c for names in items.values() for c in names}
    scores = {"P", "E", *cohort.instruments, *cohort.columns.covariates}
    for name, spec in cohort.trajectories.items():
        anchor = spec.get("anchor") or {}
        column = anchor.get("column")
        if column is not None and column not in scores | all_items:
            problems.append(
                f"trajectories.{name}.anchor.column: '{shorten(column)}' is not P, E, an "
                f"instrument, a covariate or an item of cohort {cohort.name} "
                f"(instruments: {', '.join(cohort.instruments)})"
            )
    return problems


def _semantic_problems(cfg: Mapping[str, Any]) -> list[str]:
    """Checks a JSON schema cannot express."""
    problems: list[str] = []
    for cohort_name, cohort in cfg["cohorts"].items():
        where = f"cohorts.{cohort_name}"
        roles = {name: inst["role"] for name, inst in cohort["instruments"].items()}
        n_problems = sum(role == "problems" for role in roles.values())
        if n_problems != 1:
            problems.append(
                f"{where}.instruments: exactly one instrument must have role 'problems' (it defines P); "
                f"found {n_problems}"
            )
        if cohort["layout"] == "long" and not cohort["columns"].get("wave"):
            problems.append(f"{where}.columns.wave: required for layout 'long' (the column holding the wave number)")
        for name, inst in cohort["instruments"].items():
            if name in RESERVED_NAMES:
                problems.append(f"{where}.instruments.{name}: the name is reserved ({', '.join(sorted(RESERVED_NAMES))})")
            low, high = inst["range"]
            if low >= high:
                problems.append(f"{where}.instruments.{name}.range: lowest {low} must be below highest {high}")
            if "columns" in inst["items"]:
                stray = sorted(set(inst["reverse"]) - set(inst["items"]["columns"]))
                if stray:
                    problems.append(f"{where}.instruments.{name}.reverse: {', '.join(stray)} not among the instrument's items")
        problems += _trajectory_problems(cohort_name, cohort, cfg)
        sr_block = cohort.get("sr", cfg.get("sr", {}))
        problems += [f"sr.{n}.{p}" for n, spec in sr_block.items() for p in _sr_problems(spec)]
        problems += _cohort_input_problems(cohort_name, cohort)
        clash = sorted(set(cohort["columns"]["covariates"]) & set(cohort["instruments"]))
        if clash:
            problems.append(f"{where}: {', '.join(clash)} is both a covariate and an instrument name")
        problems += _mixed_problems(cohort_name, cohort, cfg)
        problems += _regression_problems(cohort_name, cohort, cfg)
    return problems


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
    sr: Mapping[str, Any] = field(default_factory=dict)
    mixed_models: Mapping[str, Any] = field(default_factory=dict)
    regressions: Mapping[str, Any] = field(default_factory=dict)
    trajectories: Mapping[str, Any] = field(default_factory=dict)
    report: Mapping[str, Any] = field(default_factory=dict)

    @property
    def problems(self) -> Instrument:
        """The instrument that defines P."""
        return next(i for i in self.instruments.values() if i.role == "problems")

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
            raise ConfigError(f"no cohort named '{name}' in the config; cohorts: {', '.join(self.cohorts)}") from None


def _instrument(name: str, d: Mapping[str, Any]) -> Instrument:
    (kind, selector), = d["items"].items()
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
        **blocks,
    )


#: Limits checked before a config is validated: a small file must not expand (YAML aliases
#: of aliases, "billion laughs") into a structure that takes minutes to check or print.
MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_NODES = 100_000
MAX_CONFIG_DEPTH = 40


def read_config_file(path: str | Path) -> Any:
    """Parse a YAML config file safely: size, nesting and alias expansion are limited.

    Raises
    ------
    ConfigError
        The file is missing, not text, not YAML, or beyond one of the limits
        (:data:`MAX_CONFIG_BYTES`, :data:`MAX_CONFIG_DEPTH`, :data:`MAX_CONFIG_NODES`).
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError(f"config {path} is a folder; --config must name a YAML file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: {len(data)} bytes; a config is at most {MAX_CONFIG_BYTES} bytes "
            "(is this really the config file?)"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        _check_yaml_depth(path, text)
        loader = _UniqueKeyLoader(text)
        loader.name = str(path)
        try:
            raw = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {shorten(exc, 400)}") from None
    _check_expanded_size(raw, str(path))
    return raw


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.setdefault(key, line)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if first != line:
                raise ConfigError(
                    f"{self.name}, line {line}: key {shorten(key)!r} given twice in one mapping "
                    f"(first on line {first}); YAML would silently keep the last one"
                )
        return super().construct_mapping(node, deep=deep)


def _check_yaml_depth(path: Path, text: str) -> None:
    """Stop on nesting deeper than MAX_CONFIG_DEPTH, from the event stream (no recursion)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_CONFIG_DEPTH:
                line = event.start_mark.line + 1
                raise ConfigError(
                    f"{path}, line {line}: nesting deeper than {MAX_CONFIG_DEPTH} levels; "
                    "a config is a few levels deep"
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_expanded_size(raw: Any, where: str = "the config") -> None:
    """Stop when the config, with every YAML alias expanded, exceeds MAX_CONFIG_NODES values.

    Aliases make the parsed config a graph that shares its parts; counting each shared
    part once per use (memoised by identity) costs one visit per distinct part.
    """
    sizes: dict[int, int] = {}

    def size(value: Any, depth: int) -> int:
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{where}: nesting deeper than {MAX_CONFIG_DEPTH} levels")
        if not isinstance(value, (dict, list)):
            return 1
        key = id(value)
        if key not in sizes:
            sizes[key] = 0  # a cycle counts as nothing more; json schema would reject it anyway
            children = value.values() if isinstance(value, dict) else value
            sizes[key] = 1 + sum(size(child, depth + 1) for child in children)
            if sizes[key] > MAX_CONFIG_NODES:
                raise ConfigError(
                    f"{where}: more than {MAX_CONFIG_NODES} values once YAML aliases are expanded "
                    "(aliases of aliases?); write the config without nested aliases"
                )
        return sizes[key]

    size(raw, 0)


def load_config(source: str | Path | Mapping[str, Any]) -> Config:
    """Read (if a path), validate and view a config.

    Parameters
    ----------
    source
        Path of a YAML config file, or an already-parsed mapping (e.g. Snakemake's ``config``).

    Returns
    -------
    Config
        Typed view; ``Config.data`` holds the validated mapping with defaults.

    Raises
    ------
    ConfigError
        If the file cannot be read or parsed, or the config is invalid.
    """
    if isinstance(source, (str, Path)):
        raw = read_config_file(source)
    else:
        raw = source
    filled = validate_config(raw)
    cohorts = {name: _cohort(name, c, filled) for name, c in filled["cohorts"].items()}
    return Config(seed=filled["seed"], cohorts=cohorts, data=filled)


@dataclass(frozen=True)
class SRSpec:
    """One stressor-reactivity spec (an entry of the config's ``sr`` block), checked and complete.

    Build it with :func:`sr_spec`, never by hand: the keys, their allowed values and their
    defaults are those of ``sr_spec`` in the config schema. The meaning of each key is
    described in :mod:`srflow.sr` and in the schema.

    Attributes
    ----------
    name : str
        The spec's name (its key under ``sr:``); SR messages and outputs name it.
    level, form, outliers : str
        Unit of the score, shape of the normative line, outlier rule.
    alpha, k : float
        Level of the quadratic-vs-linear test; the outlier bound in SDs (kept as written
        in the config, so an integer stays an integer in the line JSON).
    waves : tuple of int or None
        Waves used at all (sorted, unique), or None for every wave.
    min_waves, window, min_in_window : int
        Settings of the levels period and sliding.
    adjust_previous : bool
        Level change: the previous P as a covariate.
    reference_waves : tuple of int or None
        Reference ``{waves: [...]}`` (sorted, unique).
    reference_column : str or None
        Reference ``{column, value}``: the column (``reference_value`` is the value).
    reference_value : str, float, int, bool or None
        The value of ``reference_column`` in the reference rows.
    outcome, exposure : str
        Columns of the scores table playing P and E.
    standardize : str
        ``sr_z`` within each normative line (``"line"``) or over all units (``"pooled"``).
    """

    name: str
    level: str
    form: str
    alpha: float
    outliers: str
    k: float
    waves: tuple[int, ...] | None
    min_waves: int
    window: int
    min_in_window: int
    adjust_previous: bool
    reference_waves: tuple[int, ...] | None
    reference_column: str | None
    reference_value: Any
    outcome: str
    exposure: str
    standardize: str

    @property
    def reference(self) -> str | dict[str, Any]:
        """The reference as written in the config: ``"all"``, ``{waves}`` or ``{column, value}``."""
        if self.reference_waves is not None:
            return {"waves": list(self.reference_waves)}
        if self.reference_column is not None:
            return {"column": self.reference_column, "value": self.reference_value}
        return "all"

    def renamed(self, name: str) -> SRSpec:
        """The same spec under another name."""
        return replace(self, name=name)

    @property
    def settings(self) -> dict[str, Any]:
        """The level-specific settings, as reported in the SR line JSON."""
        return {"min_waves": self.min_waves, "window": self.window,
                "min_in_window": self.min_in_window, "adjust_previous": self.adjust_previous}


@lru_cache(maxsize=1)
def _sr_spec_validator() -> jsonschema.protocols.Validator:
    """A default-filling validator of one SR spec (the schema's ``$defs/sr_spec``)."""
    schema = config_schema()
    return _FillingValidator({"$defs": schema["$defs"], "$ref": "#/$defs/sr_spec"})


def _sr_problems(spec: Mapping[str, Any]) -> list[str]:
    """Checks of a schema-filled SR spec that the schema cannot express (key: problem)."""
    if spec["min_in_window"] > spec["window"]:
        return [f"min_in_window: {spec['min_in_window']} cannot exceed window ({spec['window']})"]
    return []


def _plain(value: Any) -> Any:
    """A copy with JSON types, so a spec typed in a notebook validates like one read from YAML.

    Tuples, numpy arrays and pandas series become lists and numpy scalars Python numbers
    (all have ``tolist``).
    """
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def sr_spec(name: str, spec: Mapping[str, Any]) -> SRSpec:
    """Check one SR spec against the config schema, fill its defaults and freeze it.

    Parameters
    ----------
    name : str
        The spec's name (its key under ``sr:``).
    spec : Mapping
        The spec as written in a config (``cohort.sr[name]``, already default-filled) or
        by hand in a notebook, e.g. ``{"level": "period"}``.

    Returns
    -------
    SRSpec

    Raises
    ------
    ConfigError
        Naming the key ``sr.<name>.<key>``, the value and what is allowed.

    Examples
    --------
    >>> spec = sr_spec("person", {"level": "period", "waves": [3, 1, 2, 2]})
    >>> spec.form, spec.k, spec.waves, spec.reference
    ('linear', 3, (1, 2, 3), 'all')
    >>> try:
    ...     sr_spec("person", {"level": "period", "outlier": "huber"})
    ... except ConfigError as error:
    ...     print(str(error).splitlines()[1].split(";")[0])
      - sr.person: unknown key 'outlier' (did you mean 'outliers'?)
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"sr.{name}: an SR spec must be a mapping such as {{level: period}}; got {spec!r}"
        )
    filled = _plain(spec)
    errors = sorted(_sr_spec_validator().iter_errors(filled),
                    key=lambda e: (list(map(str, e.absolute_path)), e.message))
    problems = [_describe(best) for best in _most_specific(errors)]
    if not errors:
        problems += _sr_problems(filled)
    if problems:
        where = f"sr.{name}"
        lines = [
            where + p.removeprefix("(top level)") if p.startswith("(top level)") else f"{where}.{p}"
            for p in problems
        ]
        raise ConfigError("invalid SR spec:\n  - " + "\n  - ".join(dict.fromkeys(lines)))
    reference = filled["reference"]
    has_column = isinstance(reference, Mapping) and "column" in reference
    return SRSpec(
        name=name,
        level=filled["level"],
        form=filled["form"],
        alpha=filled["alpha"],
        outliers=filled["outliers"],
        k=filled["k"],
        waves=None if filled["waves"] is None else tuple(sorted(set(filled["waves"]))),
        min_waves=filled["min_waves"],
        window=filled["window"],
        min_in_window=filled["min_in_window"],
        adjust_previous=filled["adjust_previous"],
        reference_waves=(tuple(sorted(set(reference["waves"])))
                         if isinstance(reference, Mapping) and "waves" in reference else None),
        reference_column=reference["column"] if has_column else None,
        reference_value=reference["value"] if has_column else None,
        outcome=filled["outcome"],
        exposure=filled["exposure"],
        standardize=filled["standardize"],
    )


def canonical_json(data: Any) -> str:
    """Stable JSON text (sorted keys) used for hashing configs and writing JSON outputs."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def schema_reference() -> str:
    """A Markdown table of every config key (path, type, default, description), from the schema.

    ``config/README.md`` embeds this table between markers; a test keeps the two in sync.
    """
    schema = config_schema()
    rows: list[tuple[str, str, str, str]] = []

    def resolve(sub: Mapping[str, Any]) -> Mapping[str, Any]:
        if "$ref" in sub:
            target = schema["$defs"][sub["$ref"].split("/")[-1]]
            return {**target, **{k: v for k, v in sub.items() if k != "$ref"}}
        return sub

    def type_of(sub: Mapping[str, Any]) -> str:
        if "enum" in sub:
            return " \\| ".join(f"`{v}`" for v in sub["enum"])
        if "oneOf" in sub:
            return "see description"
        kind = sub.get("type", "object" if "properties" in sub else "")
        return " or ".join(kind) if isinstance(kind, list) else str(kind)

    expanded: dict[str, str] = {}  # $ref -> the path where its keys are listed

    def walk(sub: Mapping[str, Any], path: str) -> None:
        sub = resolve(sub)
        properties = list(sub.get("properties", {}).items())
        if not path:  # list the shared blocks in full at the top level, cohort overrides refer to them
            properties.sort(key=lambda item: item[0] == "cohorts")
        for name, child in properties:
            child_resolved = resolve(child)
            here = f"{path}.{name}" if path else name
            default = child.get("default", child_resolved.get("default", ""))
            shown = "" if default == "" else f"`{json.dumps(default)}`"
            if name in sub.get("required", []):
                shown = "required"
            description = " ".join(str(child.get("description", child_resolved.get("description", ""))).split())
            ref = child.get("$ref", "")
            if ref in expanded:
                description += f" Same keys as `{expanded[ref]}`."
            rows.append((f"`{here}`", type_of(child_resolved), shown, description.replace("|", "\\|")))
            if ref not in expanded:
                if ref:
                    expanded[ref] = here
                walk(child_resolved, here)
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, f"{path}.<name>")

    walk(schema, "")
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Person-level regressions (block ``regressions``)
# --------------------------------------------------------------------------------------

#: Covariate types whose values are not numbers: no z(), no power, never the outcome.
_NON_NUMERIC_COVARIATES = frozenset({"category", "string", "date"})


@dataclass(frozen=True)
class RegressionSpec:
    """A person-level OLS regression, as the ``regressions`` block declares it.

    Attributes
    ----------
    name : str
        The key under ``regressions``.
    outcome : str
        One variable of the variable grammar (``srflow.variables``); only ``z()`` allowed.
    predictors : tuple of str
        Terms (columns, ``sr:``/``sr_z:`` scores, ``z()``, powers, interactions ``a:b``).
    aggregate : str
        ``first`` (first wave with a value) or ``mean``, for variables that are not
        person-level SR scores.
    se : str
        ``classical`` or ``hc3``.
    """

    name: str
    outcome: str
    predictors: tuple[str, ...]
    aggregate: str
    se: str

    @classmethod
    def from_config(cls, name: str, data: Mapping[str, Any]) -> RegressionSpec:
        """Build the spec from one entry of the block; keys left out take the schema's defaults.

        Examples
        --------
        >>> spec = RegressionSpec.from_config("rf", {"outcome": "sr:person", "predictors": ["age"]})
        >>> spec.aggregate, spec.se, spec.sr_specs()
        ('first', 'classical', ['person'])
        """
        defaults = {key: sub["default"] for key, sub in
                    config_schema()["$defs"]["regression_spec"]["properties"].items() if "default" in sub}
        filled = {**defaults, **data}
        return cls(name=name, outcome=filled["outcome"], predictors=tuple(filled["predictors"]),
                   aggregate=filled["aggregate"], se=filled["se"])

    def sr_specs(self) -> list[str]:
        """Names of the SR specs the outcome and predictors use (sorted), for the job's inputs."""
        from srflow.variables.grammar import GrammarError, parse_term

        names = set()
        for text in (self.outcome, *self.predictors):
            try:
                names |= {f.base.name for f in parse_term(text).factors if f.base.kind != "column"}
            except GrammarError:
                continue  # reported by the config check
        return sorted(names)


def _regression_problems(cohort_name: str, cohort: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    """Regression terms must follow the grammar (only z()) and name columns and joinable SR specs."""
    from srflow.variables.grammar import parse_term, term_problems

    own = "regressions" in cohort
    specs = cohort["regressions"] if own else cfg.get("regressions", {})
    sr_levels = {n: s["level"] for n, s in cohort.get("sr", cfg.get("sr", {})).items()}
    columns = _score_columns(cohort)
    kinds = cohort["columns"]["covariates"]
    problems: list[str] = []
    for name, spec in specs.items():
        where = f"cohorts.{cohort_name}.regressions.{name}" if own else f"regressions.{name}"
        keyed = [("outcome", spec["outcome"])] + [("predictors", p) for p in spec["predictors"]]
        for key, text in keyed:
            found = term_problems(text, f"{where}.{key}", columns, sr_levels, transforms=("z",),
                                  single=key == "outcome")
            problems += found
            if found:
                continue
            for factor in parse_term(text).factors:
                kind = kinds.get(factor.base.name) if factor.base.kind == "column" else None
                numeric_use = key == "outcome" or kind == "date" or factor.transforms or factor.power != 1
                if kind in _NON_NUMERIC_COVARIATES and numeric_use:
                    how = "as the outcome" if key == "outcome" else "as a number"
                    problems.append(f"{where}.{key}: {text!r} uses the {kind} covariate "
                                    f"'{factor.base.name}' {how}; a category or text enters a "
                                    "regression only as a plain predictor (dummy coded), a date not at all")
        repeated = sorted({p for p in spec["predictors"] if spec["predictors"].count(p) > 1})
        if repeated:
            problems.append(f"{where}.predictors: {repeated[0]!r} is listed twice")
        if spec["outcome"] in spec["predictors"]:
            problems.append(f"{where}.predictors: the outcome {spec['outcome']!r} is also a predictor")
    return problems
