rule validate:
    input:
        table="results/{cohort}/ingest/canonical.parquet",
        meta="results/{cohort}/ingest/meta.json",
    output:
        validated="results/{cohort}/validated.parquet",
        failures="results/{cohort}/validation/failures.csv",
        ledger="results/{cohort}/validation/ledger.csv",
    log:
        "logs/validate/{cohort}.log",
    benchmark:
        "logs/benchmarks/validate/{cohort}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(20),
        runtime=30,
    params:
        # on failure the full tables go here (outputs of a failed job are removed)
        diagnostics="logs/validate/{cohort}",
    script:
        "../scripts/validate.py"
