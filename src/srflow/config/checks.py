"""Checks the schema cannot express: columns, instruments, and each analysis block's keys."""

from __future__ import annotations

import codecs
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

from srflow.config.cohort import CohortConfig, _score_columns, time_column
from srflow.config.constants import _CATEGORICAL_TYPES, RESERVED_NAMES, SR_WAVE_LEVELS
from srflow.config.specs import _regression_problems, _sr_problems
from srflow.errors import shorten


def _renamed_hint(cohort: Mapping[str, Any]) -> str:
    """How source column names map to the scores table, for messages about unknown columns."""
    columns = cohort["columns"]
    pairs = [
        (columns["participant"], "participant_id"),
        (columns.get("wave"), "wave"),
        (time_column(columns), "time"),
    ]
    renamed = [
        f"{source} -> {canonical}" for source, canonical in pairs if source and source != canonical
    ]
    return f"; source columns are renamed ({', '.join(renamed)})" if renamed else ""


def _mixed_problems(
    cohort_name: str, cohort: Mapping[str, Any], cfg: Mapping[str, Any]
) -> list[str]:
    """Mixed-model variables follow the grammar and name scores columns and joinable SR specs."""
    from srflow.variables.grammar import term_problems

    problems = []
    own = "mixed_models" in cohort
    specs = cohort["mixed_models"] if own else cfg.get("mixed_models", {})
    sr_levels = {n: s["level"] for n, s in cohort.get("sr", cfg.get("sr", {})).items()}
    known = _score_columns(cohort)
    for model_name, spec in specs.items():
        where = f"mixed_models.{model_name}"
        if own:
            where = f"cohorts.{cohort_name}.{where}"
        keyed = [("outcome", spec["outcome"])] + [
            (f"{key}[{index}]", term)
            for key in ("fixed", "random")
            for index, term in enumerate(spec[key])
        ]
        for key, text in keyed:
            found = term_problems(text, f"{where}.{key}", known, sr_levels, single=key == "outcome")
            hint = _renamed_hint(cohort)
            problems += [p + hint if "not a column" in p else p for p in found]
            if not found and key.startswith("random"):
                problems += _random_term_problems(f"{where}.{key}", text, sr_levels)
        other = spec.get("compare_to")
        if other is not None and other not in specs:
            problems.append(
                f"{where}.compare_to: no model named '{other}' (models: {', '.join(sorted(specs))})"
            )
        problems += _mixed_inference_problems(where, spec, cohort)
    return problems


def _random_term_problems(where: str, text: str, sr_levels: Mapping[str, str]) -> list[str]:
    """A random term must vary within participants: no between(), no person-level SR score."""
    from srflow.variables.grammar import PERSON_SR_LEVELS, parse_term

    for factor in parse_term(text).factors:
        person_sr = factor.base.kind != "column" and sr_levels[factor.base.name] in PERSON_SR_LEVELS
        if "between" in factor.transforms:
            why = "between() is constant within each participant"
        elif person_sr and "within" not in factor.transforms:
            why = f"SR spec '{factor.base.name}' has one score per participant"
        else:
            continue
        return [
            f"{where}: {text!r} cannot be a random term: {why}; a random term must be a "
            "row-varying variable"
        ]
    return []


def _mixed_inference_problems(
    where: str, spec: Mapping[str, Any], cohort: Mapping[str, Any]
) -> list[str]:
    """df needs the right method; contrasts must name a categorical column a fixed term uses."""
    from srflow.variables.grammar import GrammarError, parse_term

    problems = []
    if spec.get("df") == "kenward_roger" and spec.get("method") == "ml":
        problems.append(
            f"{where}.df: kenward_roger is defined for REML fits only (as in pbkrtest and lmerTest); "
            "use method reml, or df satterthwaite with method ml"
        )
    if spec.get("df") == "kenward_roger" and spec.get("nested_in") is not None:
        problems.append(
            f"{where}.df: kenward_roger is not available with nested_in; use satterthwaite"
        )
    problems += _nested_in_problems(where, spec.get("nested_in"), cohort)
    fixed_columns = set()
    for term in spec["fixed"]:
        try:
            fixed_columns |= {f.atom_text for f in parse_term(term).factors}
        except GrammarError:
            continue  # reported by _mixed_problems
    covariates = cohort["columns"]["covariates"]
    for column in spec.get("contrasts", {}):
        if column not in fixed_columns:
            problems.append(
                f"{where}.contrasts.{column}: no fixed term uses column '{column}' "
                f"(fixed: {', '.join(spec['fixed']) or 'intercept only'})"
            )
        elif column in _score_columns(cohort) and covariates.get(column) not in _CATEGORICAL_TYPES:
            kind = (
                f"a covariate of type {covariates[column]}"
                if column in covariates
                else "a numeric score"
            )
            problems.append(
                f"{where}.contrasts.{column}: '{column}' is {kind}; contrasts apply to categorical "
                f"covariates (type {' or '.join(_CATEGORICAL_TYPES)}) only"
            )
    return problems


def _nested_in_problems(where: str, column: str | None, cohort: Mapping[str, Any]) -> list[str]:
    """The upper grouping level must be a categorical covariate of the scores table."""
    if column is None:
        return []
    covariates = cohort["columns"]["covariates"]
    if column not in covariates:
        return [
            f"{where}.nested_in: '{column}' is not a covariate of the cohort (columns.covariates: "
            f"{', '.join(covariates) or 'none'}); name a categorical covariate such as a site"
        ]
    if covariates[column] not in _CATEGORICAL_TYPES:
        return [
            f"{where}.nested_in: '{column}' is a covariate of type {covariates[column]}; "
            f"nested_in names a categorical covariate (type {' or '.join(_CATEGORICAL_TYPES)})"
        ]
    return []


def _trajectory_problems(
    cohort_name: str, cohort: Mapping[str, Any], cfg: Mapping[str, Any]
) -> list[str]:
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
                problems.append(
                    f"{where}.variable: no SR spec named '{variable[3:]}' (SR specs: {', '.join(sorted(sr_specs)) or 'none'})"
                )
            elif sr["level"] not in SR_WAVE_LEVELS:
                problems.append(
                    f"{where}.variable: SR spec '{variable[3:]}' has level {sr['level']}; a trajectory needs one SR "
                    "score per wave (level wave or multilevel)"
                )
        elif variable not in score_columns:
            problems.append(
                f"{where}.variable: '{variable}' is not P, E, an instrument or a covariate of cohort {cohort_name}"
            )
        if spec["bootstrap"] > 0 and spec["method"] == "kmeans":
            problems.append(
                f"{where}.bootstrap: the bootstrap LR test needs a likelihood (method lcga or gmm); set 0 for kmeans"
            )
        for key in ("predictors", "distal"):
            stray = [p for p in spec[key] if p not in score_columns]
            if stray:
                problems.append(
                    f"{where}.{key}: {', '.join(stray)} not P, E, an instrument or a covariate "
                    f"of cohort {cohort_name}"
                )
        if (spec["predictors"] or spec["distal"]) and spec["method"] == "kmeans":
            problems.append(
                f"{where}: predictors and distal outcomes need class posteriors (method lcga or gmm)"
            )
        if list(spec["random"]) not in (["intercept"], ["intercept", "slope"]):
            problems.append(
                f"{where}.random: {list(spec['random'])} must be [intercept] or [intercept, slope]"
            )
        if spec["classes"][0] > spec["classes"][1]:
            problems.append(
                f"{where}.classes: smallest {spec['classes'][0]} is above largest {spec['classes'][1]}"
            )
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
    keys = {
        "participant": columns["participant"],
        "wave": columns.get("wave"),
        "time": time_column(columns),
    }
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
        shown = ", ".join(
            "{" + f + "}" for f in sorted(fields or set()) if f not in ("item", "wave")
        )
        problems.append(
            f"{where}.wide_pattern: {shorten(cohort['wide_pattern'])!r} may hold only the "
            f"placeholders {{item}} and {{wave}}"
            + (f"; found {shown}" if shown else "; its braces do not pair")
            + " (write a literal brace as {{ or }})"
        )
    time = cohort["columns"].get("time")
    if (
        isinstance(time, Mapping)
        and time.get("origin") is not None
        and time.get("type") == "number"
    ):
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


def _composite_problems_problems(where: str, cohort: Mapping[str, Any]) -> list[str]:
    """A composite P (key ``problems``) combines two or more existing instruments of role problems."""
    key = f"{where}.problems.instruments"
    instruments = cohort["instruments"]
    listed = cohort["problems"]["instruments"]
    if listed is None:
        listed = [name for name, inst in instruments.items() if inst["role"] == "problems"]
        key += " (null: every instrument of role problems)"
    problems = []
    unknown = [name for name in listed if name not in instruments]
    if unknown:
        problems.append(
            f"{key}: no instrument named {', '.join(repr(shorten(n)) for n in unknown)} "
            f"(instruments: {', '.join(instruments)})"
        )
    other = [
        f"'{n}' has role {instruments[n]['role']}"
        for n in listed
        if n in instruments and instruments[n]["role"] != "problems"
    ]
    if other:
        problems.append(
            f"{key}: {'; '.join(other)}; a composite P combines instruments of role problems only"
        )
    repeated = sorted({n for n in listed if listed.count(n) > 1})
    if repeated:
        problems.append(f"{key}: {', '.join(repeated)} listed more than once")
    if len(set(listed)) < 2:
        problems.append(
            f"{key}: a composite P needs at least two instruments of role problems, found "
            f"{len(set(listed))} ({', '.join(listed) or 'none'}); with one, leave problems out (null)"
        )
    return problems


def _semantic_problems(cfg: Mapping[str, Any]) -> list[str]:
    """Checks a JSON schema cannot express."""
    problems: list[str] = []
    for cohort_name, cohort in cfg["cohorts"].items():
        where = f"cohorts.{cohort_name}"
        if cohort.get("problems") is None:
            roles = {name: inst["role"] for name, inst in cohort["instruments"].items()}
            n_problems = sum(role == "problems" for role in roles.values())
            if n_problems != 1:
                problems.append(
                    f"{where}.instruments: exactly one instrument must have role 'problems' (it defines P); "
                    f"found {n_problems} (to combine several into P, list them in {where}.problems.instruments)"
                )
        else:
            problems += _composite_problems_problems(where, cohort)
        if cohort["layout"] == "long" and not cohort["columns"].get("wave"):
            problems.append(
                f"{where}.columns.wave: required for layout 'long' (the column holding the wave number)"
            )
        for name, inst in cohort["instruments"].items():
            if name in RESERVED_NAMES:
                problems.append(
                    f"{where}.instruments.{name}: the name is reserved ({', '.join(sorted(RESERVED_NAMES))})"
                )
            low, high = inst["range"]
            if low >= high:
                problems.append(
                    f"{where}.instruments.{name}.range: lowest {low} must be below highest {high}"
                )
            if "columns" in inst["items"]:
                stray = sorted(set(inst["reverse"]) - set(inst["items"]["columns"]))
                if stray:
                    problems.append(
                        f"{where}.instruments.{name}.reverse: {', '.join(stray)} not among the instrument's items"
                    )
        problems += _trajectory_problems(cohort_name, cohort, cfg)
        sr_block = cohort.get("sr", cfg.get("sr", {}))
        problems += [f"sr.{n}.{p}" for n, spec in sr_block.items() for p in _sr_problems(spec)]
        problems += _cohort_input_problems(cohort_name, cohort)
        clash = sorted(set(cohort["columns"]["covariates"]) & set(cohort["instruments"]))
        if clash:
            problems.append(
                f"{where}: {', '.join(clash)} is both a covariate and an instrument name"
            )
        problems += _mixed_problems(cohort_name, cohort, cfg)
        problems += _regression_problems(cohort_name, cohort, cfg)
    return problems
