rule regressions:
    input:
        unpack(regression_inputs),
    output:
        coefficients="results/{cohort}/regressions/{name}.coefficients.csv",
        fit="results/{cohort}/regressions/{name}.fit.json",
    log:
        "logs/regressions/{cohort}.{name}.log",
    benchmark:
        "logs/benchmarks/regressions/{cohort}.{name}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(20),
        runtime=30,
    params:
        settings=regression_settings,
    script:
        "../scripts/regressions.py"
