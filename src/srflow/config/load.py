"""Validating a config (schema, then the checks the schema cannot express) and loading it."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from srflow.config.checks import _semantic_problems
from srflow.config.cohort import Config, _cohort
from srflow.config.schema import _describe, _FillingValidator, _most_specific, config_schema
from srflow.config.yaml_file import _check_expanded_size, read_config_file
from srflow.errors import ConfigError


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
        raise ConfigError(
            "the config must be a mapping of keys to values (a YAML document), got "
            + type(raw).__name__
        )
    _check_expanded_size(raw)
    filled = copy.deepcopy(dict(raw))
    validator = _FillingValidator(config_schema())
    errors = sorted(
        validator.iter_errors(filled), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    if errors:
        lines = [_describe(best) for best in _most_specific(errors)]
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(dict.fromkeys(lines)))
    problems = _semantic_problems(filled)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))
    return filled


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
