"""Stage that fits one person-level regression of a cohort."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from srflow.stages._common import cohort_config, say


def _spec_name(path: str | Path, suffix: str) -> str:
    name = Path(path).name
    return name[: -len(suffix)] if name.endswith(suffix) else name


def read_sr_inputs(
    tables_in: Sequence[str], lines_in: Sequence[str]
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """SR tables by spec name (participant_id as text), and the reasons of the specs that failed."""
    tables = {
        _spec_name(p, ".csv"): pd.read_csv(p, dtype={"participant_id": str}) for p in tables_in
    }
    failures = {}
    for path in lines_in:
        line = json.loads(Path(path).read_text(encoding="utf-8"))
        if line.get("status") != "ok":
            failures[_spec_name(path, ".line.json")] = line.get("reason") or "no reason recorded"
    return tables, failures


def regression_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    regression_name: str,
    scores_in: str,
    sr_tables_in: Sequence[str],
    sr_lines_in: Sequence[str],
    coefficients_out: str,
    fit_out: str,
) -> None:
    """Fit one regression; one the data cannot support is written as failed, with the reason.

    Parameters
    ----------
    config_data : mapping
        The config (as Snakemake passes it).
    cohort_name, regression_name : str
        Which cohort and which entry of its ``regressions`` block.
    scores_in : str
        ``results/<cohort>/scores.parquet``.
    sr_tables_in, sr_lines_in : sequence of str
        ``results/<cohort>/sr/<spec>.csv`` and ``.line.json`` of the SR specs the regression names.
    coefficients_out, fit_out : str
        ``results/<cohort>/regressions/<name>.coefficients.csv`` and ``.fit.json``.
    """
    from srflow import results
    from srflow.config import RegressionSpec
    from srflow.regression import safe_fit_regression

    cohort = cohort_config(config_data, cohort_name)
    spec = RegressionSpec.from_config(regression_name, cohort.regressions[regression_name])
    tables, failures = read_sr_inputs(sr_tables_in, sr_lines_in)
    result = safe_fit_regression(pd.read_parquet(scores_in), tables, spec, failures)
    if result.status == "failed":
        say(f"regression '{regression_name}' could not be fitted: {result.reason}")
    elif result.status != "ok":
        say(f"regression '{regression_name}' is {result.status}: {result.reason}")
    # through the contract: the same bytes as RegressionResult.write, checked on the way out
    results.REGRESSION_COEFFICIENTS_TABLE.write(result.coefficients, coefficients_out)
    results.RegressionFit.from_json(result.fit, fit_out).write(fit_out)
