"""The variable grammar: how a config names a model variable, parsed without ever evaluating it.

A *term* is one or more *factors* joined by ``:`` (an interaction, their product). A factor
is an *atom*, optionally raised to a power ``^2`` or ``^3``. An atom is a base variable,
optionally wrapped in transforms::

    term      := factor (":" factor)*
    factor    := atom ("^2" | "^3")?
    atom      := "z(" atom ")" | "within(" atom ")" | "between(" atom ")" | "lag(" atom ")" | base
    base      := "sr:" SPEC | "sr_z:" SPEC | COLUMN
    COLUMN    := [A-Za-z_][A-Za-z0-9_.]*        SPEC := [A-Za-z][A-Za-z0-9_]*

Transforms nest only in one order, each at most once: ``z( within|between( lag( base ) ) )``
(any of the three layers may be left out; ``within`` and ``between`` exclude each other).
So ``z(within(lag(GSE)))`` and ``between(sr:observation)`` are allowed, ``lag(z(E))`` and
``within(between(E))`` are not: ``lag`` looks at another wave of the data, so it comes
first, and ``z`` standardises the finished variable, so it comes last. ``sr:`` and
``sr_z:`` are always read as the SR prefix (a column named ``sr`` cannot start an
interaction). No spaces are allowed. This module is pure Python so the config check can use
it without loading pandas.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping

#: Transforms, from the outermost allowed position to the innermost.
TRANSFORMS = ("z", "within", "between", "lag")
#: Nesting layer of each transform: a transform may only wrap transforms of a higher layer.
_LAYER = {"z": 0, "within": 1, "between": 1, "lag": 2}
#: SR levels whose scores join on (participant, wave): ``change`` at the interval's end wave.
ROW_SR_LEVELS = ("wave", "multilevel", "change")
#: SR levels with one score per participant: every row of the participant gets it.
PERSON_SR_LEVELS = ("period",)
SR_PREFIXES = ("sr", "sr_z")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_SPEC = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
GRAMMAR_SUMMARY = (
    "a column (E, an instrument, a covariate), sr:<spec> or sr_z:<spec>, optionally wrapped as "
    "z(within|between(lag(x))) (each layer optional), raised to ^2 or ^3, and joined by ':' into "
    "an interaction, e.g. z(E):optimism"
)


@dataclasses.dataclass(frozen=True)
class Base:
    """A base variable: a column of the scores table, or the SR score of a spec.

    ``kind`` is ``"column"``, ``"sr"`` (raw SR) or ``"sr_z"`` (its z-score); ``name`` is the
    column or the SR spec's name.
    """

    kind: str
    name: str

    @property
    def text(self) -> str:
        """The base as written."""
        return self.name if self.kind == "column" else f"{self.kind}:{self.name}"


@dataclasses.dataclass(frozen=True)
class Factor:
    """A base variable with its transforms (outermost first) and power."""

    base: Base
    transforms: tuple[str, ...] = ()
    power: int = 1

    @property
    def atom_text(self) -> str:
        """The transformed variable without its power, e.g. ``z(lag(E))``."""
        text = self.base.text
        for name in reversed(self.transforms):
            text = f"{name}({text})"
        return text

    @property
    def text(self) -> str:
        """The factor as written, e.g. ``z(E)^2``."""
        return self.atom_text if self.power == 1 else f"{self.atom_text}^{self.power}"


@dataclasses.dataclass(frozen=True)
class Term:
    """A parsed term: its factors, and the text that names it in every output."""

    text: str
    factors: tuple[Factor, ...]

    @property
    def is_interaction(self) -> bool:
        """True for a product of two or more factors."""
        return len(self.factors) > 1


class GrammarError(ValueError):
    """A term does not follow the grammar; the message says where and what was expected."""


class _Parser:
    """Recursive descent over one term string (positions are 0-based characters)."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, expected: str) -> GrammarError:
        found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
        return GrammarError(f"expected {expected} at position {self.pos}, found {found}")

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def name(self, pattern: re.Pattern, what: str) -> str:
        match = pattern.match(self.text, self.pos)
        if not match:
            raise self.fail(what)
        self.pos = match.end()
        return match.group()

    def term(self) -> tuple[Factor, ...]:
        factors = [self.factor()]
        while self.take(":"):
            factors.append(self.factor())
        if self.pos != len(self.text):
            raise self.fail("':' or the end of the term")
        return tuple(factors)

    def factor(self) -> Factor:
        transforms, base = self.atom()
        power = 1
        if self.take("^"):
            if not (self.take("2") or self.take("3")):
                raise self.fail("the power 2 or 3 after '^'")
            power = int(self.text[self.pos - 1])
        return Factor(base, transforms, power)

    def atom(self) -> tuple[tuple[str, ...], Base]:
        for name in TRANSFORMS:
            if self.take(f"{name}("):
                inner, base = self.atom()
                if not self.take(")"):
                    raise self.fail(f"')' closing {name}(")
                return (name, *inner), base
        for prefix in SR_PREFIXES:
            if self.take(f"{prefix}:"):
                return (), Base(prefix, self.name(_SPEC, f"an SR spec name after '{prefix}:'"))
        column = self.name(
            _COLUMN, "a column name, sr:<spec>, sr_z:<spec> or z( within( between( lag("
        )
        if self.text.startswith("(", self.pos):
            raise GrammarError(
                f"unknown transform '{column}(' at position {self.pos - len(column)} "
                f"(transforms: {', '.join(TRANSFORMS)})"
            )
        return (), Base("column", column)


def _check_nesting(transforms: tuple[str, ...]) -> None:
    layers = [_LAYER[name] for name in transforms]
    if any(outer >= inner for outer, inner in zip(layers, layers[1:], strict=False)):
        written = "(".join(transforms)
        raise GrammarError(
            f"transforms {written}(...) nest in a way the grammar does not allow; the order is "
            "z(within|between(lag(x))), each at most once, within and between not together"
        )


def parse_term(text: object) -> Term:
    """Parse one term of the variable grammar (see the module docstring).

    Parameters
    ----------
    text : str
        E.g. ``"E"``, ``"sr_z:person"``, ``"z(E):optimism"``, ``"within(lag(GSE))^2"``.

    Returns
    -------
    Term

    Raises
    ------
    GrammarError
        Not a string, spaces, an unbalanced parenthesis, a transform nesting the grammar
        forbids, or a factor repeated in an interaction.

    Examples
    --------
    >>> term = parse_term("z(E):sr:person")
    >>> [f.text for f in term.factors]
    ['z(E)', 'sr:person']
    >>> term.factors[0].transforms, term.factors[1].base
    (('z',), Base(kind='sr', name='person'))
    >>> parse_term("z(within(lag(GSE)))").factors[0].transforms
    ('z', 'within', 'lag')
    """
    if not isinstance(text, str) or not text:
        raise GrammarError(f"a term must be a non-empty text; got {text!r}")
    if any(ch.isspace() for ch in text):
        raise GrammarError("a term may not contain spaces; remove them")
    factors = _Parser(text).term()
    for factor in factors:
        _check_nesting(factor.transforms)
    atoms = [f.atom_text for f in factors]
    repeated = sorted({a for a in atoms if atoms.count(a) > 1})
    if repeated:
        raise GrammarError(
            f"{repeated[0]} appears twice in the interaction; write a power such as "
            f"{repeated[0]}^2 instead"
        )
    return Term(text, factors)


def term_problems(
    text: object,
    where: str,
    columns: Collection[str],
    sr_levels: Mapping[str, str],
    *,
    transforms: Collection[str] = TRANSFORMS,
    single: bool = False,
) -> list[str]:
    """Config-time problems of one term: grammar, unknown names, SR levels, disallowed forms.

    Parameters
    ----------
    text : str
        The term as the config writes it.
    where : str
        Config key of the term, e.g. ``regressions.rf.predictors``; starts every message.
    columns : collection of str
        Columns of the scores table the term may name.
    sr_levels : mapping
        SR spec name -> its level, for the cohort.
    transforms : collection of str
        The transforms allowed in this place.
    single : bool
        True where an interaction or a power is not allowed (an outcome).

    Returns
    -------
    list of str
        One message per problem; empty when the term is fine.

    Examples
    --------
    >>> term_problems("z(E):age", "m.fixed", {"E", "age"}, {})
    []
    >>> term_problems("sr:win", "m.fixed", {"E"}, {"win": "sliding"})[0][:52]
    "m.fixed: 'sr:win' names SR spec 'win' of level slidi"
    """
    try:
        term = parse_term(text)
    except GrammarError as exc:
        return [f"{where}: {text!r} is not a valid term: {exc}. A term is {GRAMMAR_SUMMARY}"]
    problems = []
    if single and (term.is_interaction or term.factors[0].power != 1):
        problems.append(f"{where}: {text!r} must be a single variable (no interaction, no power)")
    for factor in term.factors:
        banned = [name for name in factor.transforms if name not in transforms]
        if banned:
            allowed = ", ".join(f"{name}()" for name in transforms) or "none"
            problems.append(
                f"{where}: {text!r} uses {banned[0]}(), which is not allowed here "
                f"(allowed transforms: {allowed})"
            )
        problems += _base_problems(factor.base, text, where, columns, sr_levels)
    return problems


def _base_problems(
    base: Base, text: str, where: str, columns: Collection[str], sr_levels: Mapping[str, str]
) -> list[str]:
    if base.kind == "column":
        if base.name in columns:
            return []
        return [
            f"{where}: {text!r} names '{base.name}', which is not a column of the scores table "
            f"(columns: {', '.join(sorted(columns))}) nor sr:<spec>"
        ]
    level = sr_levels.get(base.name)
    if level is None:
        known = ", ".join(sorted(sr_levels)) or "none"
        return [
            f"{where}: {text!r} names SR spec '{base.name}', which does not exist (SR specs: {known})"
        ]
    if level not in ROW_SR_LEVELS + PERSON_SR_LEVELS:
        return [
            f"{where}: {text!r} names SR spec '{base.name}' of level {level}, whose scores cannot be "
            "joined to a model's rows (one score per participant and window); use a spec of level "
            f"{', '.join(ROW_SR_LEVELS)} (per wave) or {', '.join(PERSON_SR_LEVELS)} (per participant)"
        ]
    return []
