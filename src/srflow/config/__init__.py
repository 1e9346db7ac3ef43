"""Load, validate and view an srflow configuration.

The JSON schema (``schemas/config.schema.yaml``, also linked as
``workflow/schemas/config.schema.yaml``) is the single source of the keys, their
types and their defaults. This module fills the defaults, turns schema errors into
messages that name the key and the allowed values, adds the checks a schema cannot
express (exactly one problems instrument, references between specs), and offers a
typed, read-only view of each cohort."""

from srflow.config.checks import item_reference_problems
from srflow.config.cohort import Careless, CohortConfig, Columns, Config, Instrument, time_column
from srflow.config.constants import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_DEPTH,
    MAX_CONFIG_NODES,
    RESERVED_NAMES,
    SHARED_BLOCKS,
    SR_WAVE_LEVELS,
)
from srflow.config.load import load_config, validate_config
from srflow.config.schema import canonical_json, config_schema, schema_reference
from srflow.config.specs import RegressionSpec, SRSpec, sr_spec
from srflow.config.yaml_file import read_config_file

__all__ = [
    "Careless",
    "CohortConfig",
    "Columns",
    "Config",
    "Instrument",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_DEPTH",
    "MAX_CONFIG_NODES",
    "RESERVED_NAMES",
    "RegressionSpec",
    "SHARED_BLOCKS",
    "SRSpec",
    "SR_WAVE_LEVELS",
    "canonical_json",
    "config_schema",
    "item_reference_problems",
    "load_config",
    "read_config_file",
    "schema_reference",
    "sr_spec",
    "time_column",
    "validate_config",
]
