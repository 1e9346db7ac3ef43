"""Compute one SR spec for one cohort (see srflow.stages.sr_stage)."""

from srflow.stages import run_logged, sr_stage

run_logged(
    snakemake.log[0],
    sr_stage,
    config_data=snakemake.config,
    cohort_name=snakemake.wildcards.cohort,
    spec_name=snakemake.wildcards.spec,
    scores_in=snakemake.input.scores,
    table_out=snakemake.output.table,
    line_out=snakemake.output.line,
)
