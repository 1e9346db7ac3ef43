"""Gather one trajectory spec's fits over K into the selection, classes and curves tables."""

from srflow.stages import run_logged, trajectory_select_stage

run_logged(
    snakemake.log[0],
    trajectory_select_stage,
    config_data=snakemake.config,
    cohort_name=snakemake.wildcards.cohort,
    spec_name=snakemake.wildcards.name,
    fits_in=list(snakemake.input.fits),
    classes_in=list(snakemake.input.classes),
    selection_out=snakemake.output.selection,
    classes_out=snakemake.output.classes,
    curves_out=snakemake.output.curves,
)
