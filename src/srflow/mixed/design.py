"""Mixed-model specs as data, and the design matrices built from them.

Outcome and terms follow the variable grammar of :mod:`srflow.variables` (one grammar for
every model block): a term is one or more factors joined by ``:`` (an interaction), each a
column, ``sr:<spec>`` or ``sr_z:<spec>``, optionally transformed (``z()``, ``within()``,
``between()``, ``lag()``) and raised to ``^2`` or ``^3``. Each factor's variable (its text
without the power, e.g. ``z(E)``) is a column of the model's data: a plain column of the
scores table as it is, anything else resolved onto the model's rows by
:func:`srflow.variables.resolve_variables` (see :func:`srflow.mixed.models.fit_mixed_model`).
Terms are parsed, never evaluated, and never reach patsy or formulaic.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from srflow.errors import ConfigError
from srflow.variables.grammar import GRAMMAR_SUMMARY, GrammarError
from srflow.variables.grammar import parse_term as parse_variable_term

_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
ALLOWED_FORMS = f"{GRAMMAR_SUMMARY}; the intercept is always included"
METHODS = ("reml", "ml")
#: How the fixed effects are tested: t/F on Satterthwaite or Kenward-Roger df, or Wald z/chi-square.
DF_METHODS = ("satterthwaite", "kenward_roger", "wald")
SPEC_KEYS = (
    "outcome",
    "fixed",
    "random",
    "method",
    "group",
    "compare_to",
    "df",
    "contrasts",
    "nested_in",
)
INTERCEPT = "Intercept"


@dataclasses.dataclass(frozen=True)
class TermPart:
    """One factor of a term: a variable (a data column, named as written), raised to ``power``.

    ``column`` is the factor's variable text without the power (``E``, ``z(E)``,
    ``sr_z:observation``); ``base`` is its base column or SR reference (``E``,
    ``sr_z:observation``) and ``transforms`` its transforms, outermost first.
    """

    column: str
    power: int = 1
    base: str = ""
    transforms: tuple[str, ...] = ()

    @property
    def is_plain(self) -> bool:
        """True for a column of the data as it is (no transform, not an SR score)."""
        return not self.transforms and self.base == self.column and ":" not in self.base


def parse_term(term: Any, model: str = "model", where: str = "fixed") -> tuple[TermPart, ...]:
    """Validate one term string and split it into its parts (factors).

    Parameters
    ----------
    term : str
        E.g. ``"E"``, ``"E:wave"``, ``"wave^2"``, ``"z(E):optimism"``, ``"within(GSE)"``.
    model, where : str
        Model name and config key (e.g. ``fixed[1]``), used in error messages.

    Returns
    -------
    tuple of TermPart

    Raises
    ------
    ConfigError
        The term does not follow the variable grammar, or repeats a factor.

    Examples
    --------
    >>> [(p.column, p.power) for p in parse_term("z(E):wave^2")]
    [('z(E)', 1), ('wave', 2)]
    >>> parse_term("within(lag(GSE))")[0].transforms
    ('within', 'lag')
    """
    try:
        parsed = parse_variable_term(term)
    except GrammarError as exc:
        raise ConfigError(
            f"mixed_models.{model}.{where}: term {term!r} is not allowed: {exc}. "
            f"A term is {ALLOWED_FORMS}."
        ) from None
    return tuple(TermPart(f.atom_text, f.power, f.base.text, f.transforms) for f in parsed.factors)


def _term_key(parts: tuple[TermPart, ...]) -> tuple[tuple[str, int], ...]:
    """Order-free identity of a term, so that a:b and b:a count as the same term."""
    return tuple(sorted((p.column, p.power) for p in parts))


@dataclasses.dataclass(frozen=True)
class MixedModelSpec:
    """A linear mixed model declared as data.

    Parameters
    ----------
    outcome : str
        Outcome column.
    fixed : sequence of str
        Fixed-effect terms (the intercept is always included).
    random : sequence of str
        Random slopes by group; a random intercept is always included, so ``[]`` means
        a random-intercept model.
    method : {"reml", "ml"}
        Restricted or full maximum likelihood.
    group : str
        Grouping column, default ``participant_id``.
    name : str
        Model name, used in messages and outputs.
    df : {"satterthwaite", "kenward_roger", "wald"}
        Degrees of freedom of the fixed-effect tests (Kenward-Roger needs REML, as in
        lmerTest); ``wald`` gives z and chi-square tests (df infinite).
    contrasts : tuple of (column, reference level) pairs
        Treatment-coding reference of categorical columns; others use their first level
        in sorted order. A mapping ``{column: {"reference": level}}`` is accepted too.
    nested_in : str or None
        A categorical column (sites, countries) the groups are nested in: adds its random
        intercept, as lme4's ``(1 | site) + (... | participant)``. Each group must lie in
        one level of it.

    Raises
    ------
    ConfigError
        A term of the wrong form, a duplicate term, an unknown method or df method,
        Kenward-Roger with ML or with ``nested_in``, a contrast for a column no fixed term
        uses, ``nested_in`` naming the group or the outcome.
    """

    outcome: str
    fixed: tuple[str, ...] = ()
    random: tuple[str, ...] = ()
    method: str = "reml"
    group: str = "participant_id"
    name: str = "model"
    df: str = "satterthwaite"
    contrasts: tuple[tuple[str, Any], ...] = ()
    nested_in: str | None = None

    def __post_init__(self) -> None:
        model = self.name
        for key in ("fixed", "random"):
            value = getattr(self, key)
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise ConfigError(
                    f"mixed_models.{model}.{key} must be a list of terms, got {value!r}."
                )
            object.__setattr__(self, key, tuple(value))
        if not isinstance(self.group, str) or not re.fullmatch(_NAME, self.group):
            raise ConfigError(
                f"mixed_models.{model}.group: {self.group!r} is not a column name (letters, digits, "
                "'_' and '.', not starting with a digit)."
            )
        outcome = parse_term(self.outcome, model, "outcome")
        if len(outcome) != 1 or outcome[0].power != 1:
            raise ConfigError(
                f"mixed_models.{model}.outcome: {self.outcome!r} must be a single variable (no "
                "interaction, no power)."
            )
        method = self.method.lower() if isinstance(self.method, str) else self.method
        if method not in METHODS:
            raise ConfigError(
                f"mixed_models.{model}.method: {self.method!r} is not one of {', '.join(METHODS)}."
            )
        object.__setattr__(self, "method", method)
        for key in ("fixed", "random"):
            seen: dict[tuple, str] = {}
            for index, term in enumerate(getattr(self, key)):
                parts = parse_term(term, model, f"{key}[{index}]")
                if any(p.column == self.outcome or p.base == self.group for p in parts):
                    raise ConfigError(
                        f"mixed_models.{model}.{key}[{index}]: term {term!r} uses the outcome or the "
                        f"grouping column ({self.outcome!r}, {self.group!r}) as a predictor."
                    )
                if _term_key(parts) in seen:
                    raise ConfigError(
                        f"mixed_models.{model}.{key}[{index}]: term {term!r} duplicates "
                        f"{seen[_term_key(parts)]!r}."
                    )
                seen[_term_key(parts)] = term
        for index, term in enumerate(self.random):
            between = [p.column for p in parse_term(term, model) if "between" in p.transforms]
            if between:
                raise ConfigError(
                    f"mixed_models.{model}.random[{index}]: {term!r} uses {between[0]}, which is "
                    "constant within each participant; a random term must be a row-varying "
                    "variable (use within() or the variable itself)."
                )
        self._check_inference_keys()
        self._check_nested_in()

    def _check_nested_in(self) -> None:
        """``nested_in`` is a plain column other than the group, the outcome and the terms'."""
        if self.nested_in is None:
            return
        where = f"mixed_models.{self.name}.nested_in"
        if not isinstance(self.nested_in, str) or not re.fullmatch(_NAME, self.nested_in):
            raise ConfigError(
                f"{where}: {self.nested_in!r} is not a column name (letters, digits, '_' and '.', "
                "not starting with a digit)."
            )
        if self.nested_in in (self.group, self.outcome):
            raise ConfigError(
                f"{where}: {self.nested_in!r} is the model's group or outcome; name the column "
                f"of the upper level (e.g. site) that the {self.group} values are nested in."
            )
        if self.df == "kenward_roger":
            raise ConfigError(
                f"mixed_models.{self.name}.df: kenward_roger is not available with nested_in; "
                "use satterthwaite."
            )

    def _check_inference_keys(self) -> None:
        """Validate ``df`` and ``contrasts`` (normalising contrasts to sorted pairs)."""
        model = self.name
        if self.df not in DF_METHODS:
            raise ConfigError(
                f"mixed_models.{model}.df: {self.df!r} is not one of {', '.join(DF_METHODS)}."
            )
        if self.df == "kenward_roger" and self.method != "reml":
            raise ConfigError(
                f"mixed_models.{model}.df: kenward_roger is defined for REML fits only (as in pbkrtest and "
                "lmerTest); use method reml, or df satterthwaite with method ml."
            )
        contrasts = self.contrasts
        if isinstance(contrasts, Mapping):
            pairs = []
            for column, setting in contrasts.items():
                if not isinstance(setting, Mapping) or set(setting) != {"reference"}:
                    raise ConfigError(
                        f"mixed_models.{model}.contrasts.{column} must be a mapping {{reference: <level>}}."
                    )
                pairs.append((column, setting["reference"]))
            contrasts = pairs
        contrasts = tuple(sorted((str(c), r) for c, r in contrasts))
        fixed_columns = {part.column for term in self.fixed for part in parse_term(term, model)}
        for column, _ in contrasts:
            if column not in fixed_columns:
                raise ConfigError(
                    f"mixed_models.{model}.contrasts.{column}: no fixed term uses column {column!r} "
                    f"(fixed: {', '.join(self.fixed) or 'intercept only'})."
                )
        object.__setattr__(self, "contrasts", contrasts)

    def reference(self, column: str) -> Any:
        """The configured reference level of ``column``, or None (first sorted level)."""
        return dict(self.contrasts).get(column)

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> MixedModelSpec:
        """Build a spec from a config mapping (keys as in the config's ``mixed_models``).

        Parameters
        ----------
        name : str
            The model's name in the config.
        config : mapping
            ``outcome`` (default ``"P"``), ``fixed``, ``random`` (default ``[]``),
            ``method`` (default ``"reml"``), ``group`` (default ``"participant_id"``),
            ``df`` (default ``"satterthwaite"``), ``contrasts`` (default none),
            ``nested_in`` (default none);
            ``compare_to`` is accepted and ignored here.

        Returns
        -------
        MixedModelSpec
        """
        if not isinstance(config, Mapping):
            raise ConfigError(
                f"mixed_models.{name} must be a mapping of keys {', '.join(SPEC_KEYS)}."
            )
        unknown = sorted(set(config) - set(SPEC_KEYS))
        if unknown:
            raise ConfigError(
                f"mixed_models.{name}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(SPEC_KEYS)}."
            )
        if "fixed" not in config:
            raise ConfigError(
                f"mixed_models.{name}: 'fixed' is required (use [] for an intercept-only model)."
            )
        return cls(
            outcome=config.get("outcome", "P"),
            fixed=config["fixed"] if config["fixed"] is not None else (),
            random=config.get("random") or (),
            method=config.get("method", "reml"),
            group=config.get("group", "participant_id"),
            name=name,
            df=config.get("df", "satterthwaite"),
            contrasts=config.get("contrasts") or (),
            nested_in=config.get("nested_in"),
        )

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], name: str = "model") -> MixedModelSpec:
        """Same as :meth:`from_config` with the name second (and optional)."""
        return cls.from_config(name, config)

    def with_method(self, method: str) -> MixedModelSpec:
        """A copy of the spec fitted by ``method`` instead."""
        return dataclasses.replace(self, method=method)

    def used_columns(self) -> list[str]:
        """Every data column the model reads (variables named as written), in first-use order."""
        columns = [self.group, self.outcome]
        for term in (*self.fixed, *self.random):
            for part in parse_term(term, self.name):
                if part.column not in columns:
                    columns.append(part.column)
        if self.nested_in is not None and self.nested_in not in columns:
            columns.append(self.nested_in)
        return columns

    def variables(self) -> list[str]:
        """The model's variables (outcome, then each factor without its power), first-use order.

        Examples
        --------
        >>> MixedModelSpec("z(P)", ["z(E)", "z(E):arm", "wave^2"]).variables()
        ['z(P)', 'z(E)', 'arm', 'wave']
        """
        return self.used_columns()[1:]

    def needs_resolving(self) -> bool:
        """True when a variable is not a plain data column (a transform or an SR score)."""
        parts = [parse_term(self.outcome, self.name)[0]]
        parts += [p for term in (*self.fixed, *self.random) for p in parse_term(term, self.name)]
        return not all(p.is_plain for p in parts)

    def sr_specs(self) -> list[str]:
        """Names of the SR specs the model's variables use (sorted), for the job's inputs.

        Examples
        --------
        >>> MixedModelSpec("sr_z:observation", ["within(E)", "sr:person"]).sr_specs()
        ['observation', 'person']
        """
        parts = [parse_term(self.outcome, self.name)[0]]
        parts += [p for term in (*self.fixed, *self.random) for p in parse_term(term, self.name)]
        return sorted({p.base.split(":", 1)[1] for p in parts if ":" in p.base})


# --------------------------------------------------------------------------------------
# Design matrices
# --------------------------------------------------------------------------------------
