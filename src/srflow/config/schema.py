"""The config's JSON schema: defaults filled in, errors in words, the key reference."""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

from srflow.errors import shorten


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
        return (
            f"{where}: {shorten(repr(value))} has the wrong type; expected {error.validator_value}"
        )
    if error.validator == "pattern" and error.absolute_path and isinstance(value, str):
        return f"{where}: {shorten(repr(value))} is not allowed here (must match {error.validator_value})"
    if error.validator == "propertyNames":
        return f"{where}: name {shorten(repr(value))} is not allowed (letters, digits, '_' and '-', starting with a letter or digit)"
    if error.validator in {"oneOf", "anyOf"}:
        return f"{where}: {shorten(repr(value))} matches none of the allowed forms ({error.schema.get('description', '').strip()})"
    if error.validator in {"minProperties", "maxProperties"} and _key_path(
        error.absolute_path
    ).endswith("items"):
        return f"{where}: give exactly one of prefix, regex or columns"
    return f"{where}: {shorten(error.message, 300)}"


def _most_specific(errors: list[jsonschema.ValidationError]) -> list[jsonschema.ValidationError]:
    """Replace oneOf/anyOf errors by their most relevant sub-error where that is clearer."""
    out = []
    for error in errors:
        if error.validator in {"oneOf", "anyOf"} and error.context:
            out.append(jsonschema.exceptions.best_match([error]))
        else:
            out.append(error)
    return out


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
        if (
            not path
        ):  # list the shared blocks in full at the top level, cohort overrides refer to them
            properties.sort(key=lambda item: item[0] == "cohorts")
        for name, child in properties:
            child_resolved = resolve(child)
            here = f"{path}.{name}" if path else name
            default = child.get("default", child_resolved.get("default", ""))
            shown = "" if default == "" else f"`{json.dumps(default)}`"
            if name in sub.get("required", []):
                shown = "required"
            description = " ".join(
                str(child.get("description", child_resolved.get("description", ""))).split()
            )
            ref = child.get("$ref", "")
            if ref in expanded:
                description += f" Same keys as `{expanded[ref]}`."
            rows.append(
                (f"`{here}`", type_of(child_resolved), shown, description.replace("|", "\\|"))
            )
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


#: A validator that fills in the schema's defaults as it checks.
_FillingValidator = _with_defaults(jsonschema.Draft202012Validator)
