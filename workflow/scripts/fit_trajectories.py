"""Fit one trajectory spec with K classes for one cohort (see srflow.stages.trajectory_fit_stage)."""

from srflow.stages import run_logged, trajectory_fit_stage

run_logged(
    snakemake.log[0],
    trajectory_fit_stage,
    config_data=snakemake.config,
    cohort_name=snakemake.wildcards.cohort,
    spec_name=snakemake.wildcards.name,
    n_classes=int(snakemake.wildcards.k),
    scores_in=snakemake.input.scores,
    fit_out=snakemake.output.fit,
    classes_out=snakemake.output.classes,
)
