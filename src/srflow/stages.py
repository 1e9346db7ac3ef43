"""Pipeline stages as file-to-file functions.

Each stage reads its inputs from paths, calls the library, and writes its outputs.
The Snakemake scripts and the ``srflow`` command both call these, so a stage
behaves the same however it is run. Nothing here imports Snakemake.
"""

from __future__ import annotations

import json
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from srflow.config import CohortConfig, load_config
from srflow.tables import write_json, write_table

def say(message: str) -> None:
    """Write a progress line to stderr (the rule's log under Snakemake)."""
    print(message, file=sys.stderr, flush=True)


def _cohort(config_data: Mapping[str, Any], cohort_name: str) -> CohortConfig:
    return load_config(config_data).cohort(cohort_name)


def _mkparent(*paths: str | Path) -> None:
    for path in paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def run_logged(log_path: str | Path, stage, /, **kwargs: Any) -> None:
    """Run a stage with stderr sent to ``log_path``; srflow errors end the job without a traceback.

    A data or config problem is the user's to fix, so its message (which names the file,
    row, column, value and rule) goes to the log and to the console, and the process
    exits with status 1. Anything else is a bug and keeps its traceback.
    """
    from srflow.errors import SrflowError

    _mkparent(log_path)
    console = sys.stderr
    with open(log_path, "w", encoding="utf-8", buffering=1) as log:
        sys.stderr = log
        try:
            stage(**kwargs)
        except SrflowError as error:
            text = f"srflow: {type(error).__name__}: {error}"
            print(text, file=log)
            print(text, file=console)
            sys.exit(1)
        finally:
            sys.stderr = console


# --- ingest and validation -------------------------------------------------------------------


def ingest_stage(config_data: Mapping[str, Any], cohort_name: str, table_out: str, meta_out: str) -> None:
    """Read the cohort's raw file into the canonical long table plus a JSON of what was resolved."""
    from srflow import io

    cohort = _cohort(config_data, cohort_name)
    ingested = io.read_cohort(cohort)
    for note in ingested.notes:
        say(f"note: {note}")
    say(f"read {ingested.n_source_rows} rows from {cohort.input} -> {len(ingested.table)} canonical rows")
    write_table(ingested.table, table_out)
    write_json(ingested.meta(), meta_out)


def _load_ingested(table_in: str | Path, meta_in: str | Path):
    from srflow import io

    meta = json.loads(Path(meta_in).read_text(encoding="utf-8"))
    return io.IngestResult.from_meta(pd.read_parquet(table_in), meta)


def validate_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    table_in: str,
    meta_in: str,
    validated_out: str,
    failures_out: str,
    ledger_out: str,
    diagnostics_prefix: str,
) -> None:
    """Validate; write the validated table, failures and ledger, or stop with a readable message.

    Under ``on_invalid: fail`` nothing is written to ``results/`` when a rule is broken; the
    failures and ledger go to ``<diagnostics_prefix>.failures.csv`` / ``.ledger.csv`` so the
    user can see every problem.
    """
    from srflow import validation

    cohort = _cohort(config_data, cohort_name)
    result = validation.validate(_load_ingested(table_in, meta_in), cohort, raise_on_fail=False)
    say(result.summary_text())
    if cohort.on_invalid == "fail" and not result.ok:
        failures_path = f"{diagnostics_prefix}.failures.csv"
        write_table(result.failures, failures_path)
        write_table(result.ledger, f"{diagnostics_prefix}.ledger.csv")
        result.raise_for_failures(failures_path)
    write_table(result.failures, failures_out)
    write_table(result.ledger, ledger_out)
    write_table(result.table, validated_out)


@dataclass(frozen=True)
class CheckReport:
    """What ``srflow validate`` prints for one cohort, and whether a run would go on."""

    ok: bool
    text: str


def check_cohort(cohort: CohortConfig, failures_out: str | Path | None = None) -> CheckReport:
    """Ingest and validate one cohort without writing results; for ``srflow validate``.

    ``ok`` is False when a pipeline run would stop (``on_invalid: fail`` with failures).
    """
    from srflow import io, validation

    ingested = io.read_cohort(cohort)
    result = validation.validate(ingested, cohort, raise_on_fail=False)
    if failures_out is not None:
        write_table(result.failures, failures_out)
        write_table(result.ledger, Path(failures_out).with_suffix(".ledger.csv"))
    lines = [f"cohort {cohort.name}: {cohort.input}"]
    lines += [f"note: {note}" for note in ingested.notes]
    lines.append(result.summary_text())
    would_stop = cohort.on_invalid == "fail" and not result.ok
    if would_stop:
        lines.append(result.error_message(failures_out))
    elif not result.ok:
        lines.append("on_invalid is exclude: the failing rows are dropped and listed in the ledger")
    return CheckReport(ok=not would_stop, text="\n".join(lines))


def score_stage(config_data: Mapping[str, Any], cohort_name: str, validated_in: str, parquet_out: str, csv_out: str) -> None:
    """Score the questionnaires of a validated table into P, E and one column per instrument."""
    from srflow import scoring

    cohort = _cohort(config_data, cohort_name)
    scores = scoring.score(pd.read_parquet(validated_in), cohort)
    say(f"scored {len(scores)} rows; P missing in {int(scores['P'].isna().sum())}, E missing in {int(scores['E'].isna().sum())}")
    write_table(scores, parquet_out)
    write_table(scores, csv_out)


# --- models ------------------------------------------------------------------------------------


def sr_stage(config_data: Mapping[str, Any], cohort_name: str, spec_name: str, scores_in: str, table_out: str, line_out: str) -> None:
    """Compute one SR spec; a spec that cannot be computed is written as failed, with the reason."""
    from srflow import sr

    cohort = _cohort(config_data, cohort_name)
    result = sr.safe_compute_sr(pd.read_parquet(scores_in), cohort.sr[spec_name], spec_name)
    if result.status != "ok":
        say(f"SR spec '{spec_name}' could not be computed: {result.reason}")
    result.write(table_out, line_out)


def mixed_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    model_name: str,
    scores_in: str,
    fixed_out: str,
    fit_out: str,
    random_out: str,
) -> None:
    """Fit one mixed model (with its likelihood-ratio comparison if configured)."""
    from srflow import mixed

    cohort = _cohort(config_data, cohort_name)
    specs = cohort.mixed_models
    scores = pd.read_parquet(scores_in)
    result = mixed.fit_mixed_model(scores, mixed.MixedModelSpec.from_config(model_name, specs[model_name]))
    fit = dict(result.fit)
    other = specs[model_name].get("compare_to")
    if other is not None and result.status == "ok":
        small = mixed.MixedModelSpec.from_config(other, specs[other])
        large = mixed.MixedModelSpec.from_config(model_name, specs[model_name])
        fit["comparison"] = mixed.likelihood_ratio_test(scores, small, large)
    random = result.random
    if result.status == "ok":
        # each person's own coefficient (fixed + random); for E this is their stressor reactivity
        own = result.coefficients().drop(columns="participant_id").add_suffix("_person")
        random = pd.concat([random, own.set_axis(random.index)], axis=1)
    else:
        say(f"model '{model_name}' could not be fitted: {result.reason}")
    write_table(result.fixed, fixed_out)
    write_json(fit, fit_out)
    write_table(random, random_out)


# --- trajectories ------------------------------------------------------------------------------


def job_seed(config_seed: int, *identity: str) -> int:
    """A seed from the config's seed and a job's identity (never from the order jobs run in)."""
    keys = [int(config_seed)] + [zlib.crc32(part.encode("utf-8")) for part in identity]
    return int(np.random.SeedSequence(keys).generate_state(1)[0])


def trajectory_series(scores: pd.DataFrame, spec: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """The long series a trajectory spec models: (table, outcome column name)."""
    from srflow.errors import ModelError

    variable = spec["variable"]
    if variable not in scores.columns:
        raise ModelError(f"trajectory variable '{variable}' is not a column of the scores table ({', '.join(scores.columns)})")
    return scores[["participant_id", spec["time"], variable]].dropna(), variable


def trajectory_fit_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    spec_name: str,
    n_classes: int,
    scores_in: str,
    fit_out: str,
    classes_out: str,
) -> None:
    """Fit one trajectory spec with K classes; a fit that is impossible is recorded, not raised."""
    from srflow import trajectories
    from srflow.errors import ModelError

    config = load_config(config_data)
    spec = config.cohort(cohort_name).trajectories[spec_name]
    series, outcome = trajectory_series(pd.read_parquet(scores_in), spec)
    seed = job_seed(config.seed, cohort_name, spec_name)
    record: dict[str, Any] = {"spec": spec_name, "K": n_classes, "status": "ok", "reason": None}
    classes = pd.DataFrame({"participant_id": pd.Series(dtype="str"), "K": pd.Series(dtype="int64"), "class": pd.Series(dtype="int64")})
    try:
        selection, models = trajectories.fit_trajectory_grid(
            series, participant="participant_id", time=spec["time"], outcome=outcome, classes=[n_classes],
            method=spec["method"], degree=spec["degree"], variance=spec["variance"], starts=spec["starts"], seed=seed,
        )
    except ModelError as error:
        record.update(status="failed", reason=f"trajectory spec '{spec_name}' with K={n_classes}: {error}")
        say(record["reason"])
    else:
        model = models[n_classes]
        # column lists keep the tables' column order (the JSON's keys are sorted)
        record["selection"] = selection.to_dict(orient="split", index=False)
        record["curves"] = trajectories.curves_table(models).to_dict(orient="split", index=False)
        classes = pd.DataFrame({"participant_id": model.participants_, "K": n_classes, "class": model.classes_})
        for j in range(n_classes):
            classes[f"post_{j + 1}"] = np.asarray(model.posterior_)[:, j]
        say(f"K={n_classes}: loglik {selection['loglik'].iloc[0]}")
    write_json(record, fit_out)
    write_table(classes, classes_out)


def trajectory_select_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    spec_name: str,
    fits_in: list[str],
    classes_in: list[str],
    selection_out: str,
    classes_out: str,
    curves_out: str,
) -> None:
    """Gather the per-K fits of a spec into the selection, classes (with labels) and curves tables."""
    from srflow import trajectories

    spec = load_config(config_data).cohort(cohort_name).trajectories[spec_name]
    records = [json.loads(Path(path).read_text(encoding="utf-8")) for path in fits_in]
    records.sort(key=lambda r: r["K"])

    def frame(split: Mapping[str, Any]) -> pd.DataFrame:
        return pd.DataFrame(split["data"], columns=split["columns"])

    fitted = [r for r in records if r["status"] == "ok"]
    failed = [{"K": r["K"], "error": r["reason"]} for r in records if r["status"] != "ok"]
    selection = pd.concat([frame(r["selection"]) for r in fitted] + [pd.DataFrame(failed)], ignore_index=True)
    selection = selection.sort_values("K", kind="stable").reset_index(drop=True)
    curves = pd.concat([frame(r["curves"]) for r in fitted], ignore_index=True) if fitted else pd.DataFrame(
        columns=["K", "class", "time", "fitted", "observed_mean", "observed_sd", "n_observed"]
    )
    classes = pd.concat([pd.read_parquet(path) for path in classes_in], ignore_index=True)
    if fitted:
        thresholds = {key: value for key, value in spec["labels"].items() if value is not None}
        labels = trajectories.label_classes(curves, thresholds)
        classes = classes.merge(labels[["K", "class", "label"]], on=["K", "class"], how="left", sort=False)
        curves = curves.merge(labels[["K", "class", "label"]], on=["K", "class"], how="left", sort=False)
    else:
        classes["label"] = pd.Series(dtype="str")
    posterior = sorted((c for c in classes.columns if c.startswith("post_")), key=lambda c: int(c.split("_")[1]))
    classes = classes[["participant_id", "K", "class", "label", *posterior]].sort_values(["K", "participant_id"], kind="stable")
    write_table(selection, selection_out)
    write_table(classes, classes_out)
    write_table(curves, curves_out)


# --- report ------------------------------------------------------------------------------------


def report_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    results_dir: str,
    html_out: str,
    figures_out: Mapping[str, str],
) -> None:
    """Render the cohort's self-contained HTML report and the key figures flagged for Snakemake's report."""
    from srflow import report

    cohort = _cohort(config_data, cohort_name)
    provenance = report.collect_provenance(config_data, cohort.input)
    inputs = report.load_report_inputs(results_dir, cohort, config_data, provenance)
    report.write_report(inputs, html_out)
    report.write_key_figures(inputs, figures_out)
    say(f"wrote {html_out}")
