"""Model variables named as data: columns, SR scores and transforms, never evaluated.

``grammar`` parses and checks terms (pure Python, used by the config check); ``resolve``
turns them into columns on a model's rows. See each module's docstring for the rules.
"""

from importlib import import_module

from srflow.variables.grammar import (
    GRAMMAR_SUMMARY,
    PERSON_SR_LEVELS,
    ROW_SR_LEVELS,
    TRANSFORMS,
    Base,
    Factor,
    GrammarError,
    Term,
    parse_term,
    term_problems,
)

# The resolver needs pandas; it is loaded on first use so the config check stays light.
_LAZY = {"ResolvedVariables", "RowKeys", "base_values", "lag_values", "resolve_variables", "zscore"}

__all__ = [
    "GRAMMAR_SUMMARY",
    "PERSON_SR_LEVELS",
    "ROW_SR_LEVELS",
    "TRANSFORMS",
    "Base",
    "Factor",
    "GrammarError",
    "ResolvedVariables",
    "RowKeys",
    "Term",
    "base_values",
    "lag_values",
    "parse_term",
    "resolve_variables",
    "term_problems",
    "zscore",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'srflow.variables' has no attribute {name!r}")
    value = getattr(import_module("srflow.variables.resolve"), name)
    globals()[name] = value
    return value
