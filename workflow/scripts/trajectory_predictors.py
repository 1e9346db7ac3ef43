"""Predictors of class membership for one trajectory spec (see srflow.stages.trajectory_predictors.trajectory_predictors_stage)."""

from srflow.stages._common import run_logged
from srflow.stages.trajectory_predictors import trajectory_predictors_stage

run_logged(
    snakemake.log[0],
    trajectory_predictors_stage,
    spec=snakemake.params.spec,
    config_seed=snakemake.params.seed,
    cohort_name=snakemake.wildcards.cohort,
    spec_name=snakemake.wildcards.name,
    classes_in=snakemake.input.classes,
    scores_in=snakemake.input.scores,
    series_in=snakemake.input.series,
    predictors_out=snakemake.output.predictors,
)
