"""Load, validate and view an srflow configuration.

The JSON schema (``schemas/config.schema.yaml``, also linked as
``workflow/schemas/config.schema.yaml``) is the single source of the keys, their
types and their defaults. This module fills the defaults, turns schema errors into
messages that name the key and the allowed values, adds the checks a schema cannot
express (exactly one problems instrument, references between specs), and offers a
typed, read-only view of each cohort.
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from srflow.errors import ConfigError

#: Names the pipeline itself gives to columns of the scored table.
RESERVED_NAMES = frozenset({"participant_id", "wave", "time", "P", "E", "source_row"})
#: SR levels with one score per (participant, wave): the only ones a trajectory can follow.
SR_WAVE_LEVELS = ("wave", "multilevel")
#: Blocks that apply to every cohort unless a cohort overrides them.
SHARED_BLOCKS = ("sr", "mixed_models", "trajectories", "report")


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
            parts.append(f"unknown key '{key}'{hint}")
        return f"{where}: {', '.join(parts)}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        near = difflib.get_close_matches(str(value), [str(v) for v in error.validator_value], n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"{where}: '{value}' is not allowed{hint}; allowed values: {allowed}"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in (value or {})]
        return f"{where}: missing required key(s) {', '.join(missing)}"
    if error.validator == "type":
        return f"{where}: {value!r} has the wrong type; expected {error.validator_value}"
    if error.validator == "pattern" and error.absolute_path and isinstance(value, str):
        return f"{where}: {value!r} is not allowed here (must match {error.validator_value})"
    if error.validator == "propertyNames":
        return f"{where}: name {value!r} is not allowed (letters, digits, '_' and '-', starting with a letter or digit)"
    if error.validator in {"oneOf", "anyOf"}:
        return f"{where}: {value!r} matches none of the allowed forms ({error.schema.get('description', '').strip()})"
    if error.validator in {"minProperties", "maxProperties"} and _key_path(error.absolute_path).endswith("items"):
        return f"{where}: give exactly one of prefix, regex or columns"
    return f"{where}: {error.message}"


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
    pairs = [(columns["participant"], "participant_id"), (columns.get("wave"), "wave"), (columns.get("time"), "time")]
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
        stray = [p for p in spec["predictors"] if p not in score_columns]
        if stray:
            problems.append(f"{where}.predictors: {', '.join(stray)} not P, E, an instrument or a covariate of cohort {cohort_name}")
        stray = [p for p in spec["distal"] if p not in score_columns]
        if stray:
            problems.append(f"{where}.distal: {', '.join(stray)} not P, E, an instrument or a covariate of cohort {cohort_name}")
        if (spec["predictors"] or spec["distal"]) and spec["method"] == "kmeans":
            problems.append(f"{where}: predictors and distal outcomes need class posteriors (method lcga or gmm)")
        if list(spec["random"]) not in (["intercept"], ["intercept", "slope"]):
            problems.append(f"{where}.random: {list(spec['random'])} must be [intercept] or [intercept, slope]")
        if spec["classes"][0] > spec["classes"][1]:
            problems.append(f"{where}.classes: smallest {spec['classes'][0]} is above largest {spec['classes'][1]}")
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
        clash = sorted(set(cohort["columns"]["covariates"]) & set(cohort["instruments"]))
        if clash:
            problems.append(f"{where}: {', '.join(clash)} is both a covariate and an instrument name")
        problems += _mixed_problems(cohort_name, cohort, cfg)
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
        columns=Columns(
            participant=cols["participant"],
            wave=cols["wave"],
            time=cols["time"],
            time_type=cols["time_type"],
            covariates=dict(cols["covariates"]),
        ),
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
        path = Path(source)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    else:
        raw = source
    filled = validate_config(raw)
    cohorts = {name: _cohort(name, c, filled) for name, c in filled["cohorts"].items()}
    return Config(seed=filled["seed"], cohorts=cohorts, data=filled)


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
