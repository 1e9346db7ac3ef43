"""Fit one person-level regression for one cohort (see srflow.stages.regression_stage)."""

from srflow.stages import regression_stage, run_logged

run_logged(
    snakemake.log[0],
    regression_stage,
    config_data=snakemake.config,
    cohort_name=snakemake.wildcards.cohort,
    regression_name=snakemake.wildcards.name,
    scores_in=snakemake.input.scores,
    sr_tables_in=list(snakemake.input.sr),
    sr_lines_in=list(snakemake.input.sr_lines),
    coefficients_out=snakemake.output.coefficients,
    fit_out=snakemake.output.fit,
)
