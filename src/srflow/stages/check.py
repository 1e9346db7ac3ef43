"""``srflow validate``: every check a run would make, without running it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from srflow import results
from srflow.config import CohortConfig, item_reference_problems
from srflow.errors import SrflowError


@dataclass(frozen=True)
class CheckReport:
    """What ``srflow validate`` prints for one cohort, and whether a run would go on."""

    ok: bool
    text: str


def check_cohort(cohort: CohortConfig, failures_out: str | Path | None = None) -> CheckReport:
    """Ingest, validate and score one cohort without writing results; for ``srflow validate``.

    Runs every check the pipeline's jobs would make later for a config reason (items named
    by other keys, scores missing in every row, the specs of every analysis against the
    scores table), so that a config that passes here does not stop a later job.
    ``ok`` is False when a pipeline run would stop.
    """
    from srflow import io, validation

    ingested = io.read_cohort(cohort)
    result = validation.validate(ingested, cohort, raise_on_fail=False)
    if failures_out is not None:
        results.FAILURES_TABLE.write(result.failures, failures_out)
        results.LEDGER_TABLE.write(result.ledger, Path(failures_out).with_suffix(".ledger.csv"))
    lines = [f"cohort {cohort.name}: {cohort.input}"]
    lines += [f"note: {note}" for note in ingested.notes]
    lines.append(result.summary_text())
    would_stop = cohort.on_invalid == "fail" and not result.ok
    if would_stop:
        lines.append(result.error_message(failures_out))
        if failures_out is None and len(result.failures) > 0:
            lines.append(
                "Add --failures FILE to write every failure (and the row ledger beside it)."
            )
    elif not result.ok:
        lines.append("on_invalid is exclude: the failing rows are dropped and listed in the ledger")
    problems = item_reference_problems(cohort, ingested.items)
    if not would_stop and not problems:
        problems += _later_job_problems(cohort, result.table)
    if problems:
        lines.append("a run would stop at a later job:")
        lines += [f"  - {problem}" for problem in problems]
    return CheckReport(ok=not would_stop and not problems, text="\n".join(lines))


def _later_job_problems(cohort: CohortConfig, validated: pd.DataFrame) -> list[str]:
    """What the score, SR, mixed-model and trajectory jobs would reject, as messages."""
    from srflow import mixed, scoring
    from srflow.config import sr_spec

    try:
        scores = scoring.score(validated, cohort)
    except SrflowError as error:
        return [str(error)]
    problems: list[str] = []
    for name, spec in cohort.sr.items():
        problems += _caught(lambda spec=spec, name=name: sr_spec(name, spec))
    for name, spec in cohort.mixed_models.items():

        def design(name=name, spec=spec):
            model = mixed.MixedModelSpec.from_config(name, spec)
            mixed.DesignRecipe.from_data(model, scores)

        problems += _caught(design)
    has_time = "time" in scores.columns and bool(scores["time"].notna().any())
    for name, spec in cohort.trajectories.items():
        if spec.get("time") == "time" and not has_time:
            problems.append(
                f"trajectories.{name}.time: 'time' needs assessment times, but cohort "
                f"{cohort.name} has {'no columns.time' if not cohort.columns.time else 'none'}; "
                "set columns.time or use time: wave"
            )
        elif not str(spec.get("variable", "")).startswith("sr:"):
            problems += _caught(lambda spec=spec: _series(scores, validated, spec))
    return problems


def _series(scores: pd.DataFrame, validated: pd.DataFrame, spec: Mapping[str, Any]) -> None:
    """Build a trajectory spec's series as its job would (an SR variable needs the SR job)."""
    from srflow.trajectories.series import trajectory_series

    anchor = spec.get("anchor")
    items = None
    if anchor and anchor["column"] not in scores.columns and anchor["column"] in validated:
        items = validated[["participant_id", "wave", anchor["column"]]]
    trajectory_series(scores, spec, items=items, anchor=bool(anchor))


def _caught(check) -> list[str]:
    """The message of the srflow error a check raises, as a one-item list (empty if none)."""
    try:
        check()
    except SrflowError as error:
        return [str(error)]
    return []
