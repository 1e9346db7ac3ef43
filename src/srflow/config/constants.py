"""Names shared by the config modules."""

from __future__ import annotations

#: Names the pipeline itself gives to columns of the scored table.
RESERVED_NAMES = frozenset({"participant_id", "wave", "time", "P", "E", "source_row"})

#: SR levels with one score per (participant, wave): the only ones a trajectory can follow.
SR_WAVE_LEVELS = ("wave", "multilevel")

#: Blocks that apply to every cohort unless a cohort overrides them.
SHARED_BLOCKS = ("sr", "mixed_models", "regressions", "trajectories", "report")

#: Covariate types that are categorical in the scores table (the only ones contrasts apply to).
_CATEGORICAL_TYPES = ("category", "string")

#: Limits checked before a config is validated: a small file must not expand (YAML aliases
#: of aliases, "billion laughs") into a structure that takes minutes to check or print.
MAX_CONFIG_BYTES = 1_000_000

MAX_CONFIG_NODES = 100_000

MAX_CONFIG_DEPTH = 40

#: Covariate types whose values are not numbers: no z(), no power, never the outcome.
_NON_NUMERIC_COVARIATES = frozenset({"category", "string", "date"})
