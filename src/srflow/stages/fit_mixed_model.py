"""Stage of rule ``fit_mixed_model``: the scores table -> one mixed model's tables and fit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from srflow import results
from srflow.stages._common import cohort_config, say


def mixed_stage(
    config_data: Mapping[str, Any],
    cohort_name: str,
    model_name: str,
    scores_in: str,
    fixed_out: str,
    fit_out: str,
    random_out: str,
    anova_out: str | None = None,
    sr_tables_in: Sequence[str] = (),
    sr_lines_in: Sequence[str] = (),
) -> None:
    """Fit one mixed model (with its likelihood-ratio comparison if configured).

    Writes the fixed effects (t on the configured df), the fit (with R2 and profile
    intervals of the variance components), the random effects and, when ``anova_out``
    is given, the Type III tests. ``sr_tables_in`` and ``sr_lines_in`` are the
    ``results/<cohort>/sr/<spec>.csv`` and ``.line.json`` of the SR specs the model (and
    the model it is compared to) names; a model naming a failed spec is written as failed.
    """
    from srflow import mixed
    from srflow.stages.regressions import read_sr_inputs

    cohort = cohort_config(config_data, cohort_name)
    specs = cohort.mixed_models
    scores = pd.read_parquet(scores_in)
    tables, failures = read_sr_inputs(sr_tables_in, sr_lines_in)
    tables = tables or None  # no SR variable: plain models keep reading the scores table as it is
    large = mixed.MixedModelSpec.from_config(model_name, specs[model_name])
    result = mixed.fit_mixed_model(scores, large, sr_tables=tables, sr_failures=failures)
    fit = dict(result.fit)
    other = specs[model_name].get("compare_to")
    if other is not None and result.lmm is not None:  # ok or suspect: the test says which
        small = mixed.MixedModelSpec.from_config(other, specs[other])
        fit["comparison"] = mixed.likelihood_ratio_test(
            scores, small, large, sr_tables=tables, sr_failures=failures
        )
    random = result.random
    if result.status == "suspect":
        say(f"model '{model_name}' is suspect: {result.reason}")
    if result.lmm is not None:
        # each person's own coefficient (fixed + random); for E this is their stressor reactivity
        own = result.coefficients().drop(columns="participant_id").add_suffix("_person")
        random = pd.concat([random, own.set_axis(random.index)], axis=1)
    else:
        say(f"model '{model_name}' could not be fitted: {result.reason}")
    results.FIXED_TABLE.write(result.fixed, fixed_out)
    results.MixedFit.from_json(fit, fit_out).write(fit_out)
    results.RANDOM_TABLE.write(random, random_out)
    if anova_out is not None:
        results.ANOVA_TABLE.write(result.anova, anova_out)
