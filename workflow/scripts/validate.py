"""Validate one cohort's canonical table (see srflow.stages.validate_stage)."""

from srflow.stages import run_logged, validate_stage

run_logged(
    snakemake.log[0],
    validate_stage,
    config_data=snakemake.config,
    cohort_name=snakemake.wildcards.cohort,
    table_in=snakemake.input.table,
    meta_in=snakemake.input.meta,
    validated_out=snakemake.output.validated,
    failures_out=snakemake.output.failures,
    ledger_out=snakemake.output.ledger,
    diagnostics_prefix=snakemake.params.diagnostics,
)
