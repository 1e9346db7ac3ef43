"""Render one cohort's self-contained HTML report (see srflow.stages.report_stage)."""

from srflow.stages import report_stage, run_logged

run_logged(
    snakemake.log[0],
    report_stage,
    config_data=snakemake.config,
    cohort_name=snakemake.wildcards.cohort,
    inputs=snakemake.input,
    html_out=snakemake.output.html,
    figures_out={"overview": snakemake.output.overview, "scores": snakemake.output.scores},
)
