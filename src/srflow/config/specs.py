"""One frozen spec type per analysis block (SR, regressions), built from schema-filled data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import jsonschema

from srflow.config.cohort import _score_columns
from srflow.config.constants import _NON_NUMERIC_COVARIATES
from srflow.config.schema import _describe, _FillingValidator, _most_specific, config_schema
from srflow.errors import ConfigError


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
        return {
            "min_waves": self.min_waves,
            "window": self.window,
            "min_in_window": self.min_in_window,
            "adjust_previous": self.adjust_previous,
        }


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
    errors = sorted(
        _sr_spec_validator().iter_errors(filled),
        key=lambda e: (list(map(str, e.absolute_path)), e.message),
    )
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
        reference_waves=(
            tuple(sorted(set(reference["waves"])))
            if isinstance(reference, Mapping) and "waves" in reference
            else None
        ),
        reference_column=reference["column"] if has_column else None,
        reference_value=reference["value"] if has_column else None,
        outcome=filled["outcome"],
        exposure=filled["exposure"],
        standardize=filled["standardize"],
    )


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
        defaults = {
            key: sub["default"]
            for key, sub in config_schema()["$defs"]["regression_spec"]["properties"].items()
            if "default" in sub
        }
        filled = {**defaults, **data}
        return cls(
            name=name,
            outcome=filled["outcome"],
            predictors=tuple(filled["predictors"]),
            aggregate=filled["aggregate"],
            se=filled["se"],
        )

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


def _regression_problems(
    cohort_name: str, cohort: Mapping[str, Any], cfg: Mapping[str, Any]
) -> list[str]:
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
            found = term_problems(
                text,
                f"{where}.{key}",
                columns,
                sr_levels,
                transforms=("z",),
                single=key == "outcome",
            )
            problems += found
            if found:
                continue
            for factor in parse_term(text).factors:
                kind = kinds.get(factor.base.name) if factor.base.kind == "column" else None
                numeric_use = (
                    key == "outcome" or kind == "date" or factor.transforms or factor.power != 1
                )
                if kind in _NON_NUMERIC_COVARIATES and numeric_use:
                    how = "as the outcome" if key == "outcome" else "as a number"
                    problems.append(
                        f"{where}.{key}: {text!r} uses the {kind} covariate "
                        f"'{factor.base.name}' {how}; a category or text enters a "
                        "regression only as a plain predictor (dummy coded), a date not at all"
                    )
        repeated = sorted({p for p in spec["predictors"] if spec["predictors"].count(p) > 1})
        if repeated:
            problems.append(f"{where}.predictors: {repeated[0]!r} is listed twice")
        if spec["outcome"] in spec["predictors"]:
            problems.append(
                f"{where}.predictors: the outcome {spec['outcome']!r} is also a predictor"
            )
    return problems
