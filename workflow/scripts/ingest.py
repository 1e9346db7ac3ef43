"""Read one cohort's raw file into the canonical long table (see srflow.stages.ingest_stage)."""

from srflow.stages import ingest_stage, run_logged

run_logged(
    snakemake.log[0],
    ingest_stage,
    config_data=snakemake.config,
    cohort_name=snakemake.wildcards.cohort,
    table_out=snakemake.output.table,
    meta_out=snakemake.output.meta,
)
