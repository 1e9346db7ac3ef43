"""Stages that compute SR scores and fit mixed models."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from srflow.stages._common import cohort_config, say
from srflow.tables import write_json, write_table


def sr_stage(config_data: Mapping[str, Any], cohort_name: str, spec_name: str, scores_in: str, table_out: str, line_out: str) -> None:
    """Compute one SR spec; a spec that cannot be computed is written as failed, with the reason."""
    from srflow import sr

    cohort = cohort_config(config_data, cohort_name)
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

    cohort = cohort_config(config_data, cohort_name)
    specs = cohort.mixed_models
    scores = pd.read_parquet(scores_in)
    result = mixed.fit_mixed_model(scores, mixed.MixedModelSpec.from_config(model_name, specs[model_name]))
    fit = dict(result.fit)
    other = specs[model_name].get("compare_to")
    if other is not None and result.lmm is not None:  # ok or suspect: the test says which
        small = mixed.MixedModelSpec.from_config(other, specs[other])
        large = mixed.MixedModelSpec.from_config(model_name, specs[model_name])
        fit["comparison"] = mixed.likelihood_ratio_test(scores, small, large)
    random = result.random
    if result.status == "suspect":
        say(f"model '{model_name}' is suspect: {result.reason}")
    if result.lmm is not None:
        # each person's own coefficient (fixed + random); for E this is their stressor reactivity
        own = result.coefficients().drop(columns="participant_id").add_suffix("_person")
        random = pd.concat([random, own.set_axis(random.index)], axis=1)
    else:
        say(f"model '{model_name}' could not be fitted: {result.reason}")
    write_table(result.fixed, fixed_out)
    write_json(fit, fit_out)
    write_table(random, random_out)
