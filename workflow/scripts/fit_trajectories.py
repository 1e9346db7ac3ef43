"""Fit one trajectory spec with K classes for one cohort (see srflow.stages.fit_trajectories.trajectory_fit_stage)."""

from srflow.stages._common import run_logged
from srflow.stages.fit_trajectories import trajectory_fit_stage

run_logged(
    snakemake.log[0],
    trajectory_fit_stage,
    spec=snakemake.params.spec,
    config_seed=snakemake.params.seed,
    cohort_name=snakemake.wildcards.cohort,
    spec_name=snakemake.wildcards.name,
    n_classes=int(snakemake.wildcards.k),
    series_in=snakemake.input.series,
    fit_out=snakemake.output.fit,
    classes_out=snakemake.output.classes,
)
