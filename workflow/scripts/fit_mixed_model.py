"""Fit one mixed model for one cohort (see srflow.stages.mixed_stage)."""

from srflow.stages import mixed_stage, run_logged

run_logged(
    snakemake.log[0],
    mixed_stage,
    config_data=snakemake.config,
    cohort_name=snakemake.wildcards.cohort,
    model_name=snakemake.wildcards.model,
    scores_in=snakemake.input.scores,
    fixed_out=snakemake.output.fixed,
    anova_out=snakemake.output.anova,
    fit_out=snakemake.output.fit,
    random_out=snakemake.output.random,
    sr_tables_in=list(snakemake.input.sr),
    sr_lines_in=list(snakemake.input.sr_lines),
)
