rule fit_mixed_model:
    input:
        unpack(mixed_inputs),
    output:
        fixed="results/{cohort}/mixed/{model}.fixed.csv",
        anova="results/{cohort}/mixed/{model}.anova.csv",
        fit="results/{cohort}/mixed/{model}.fit.json",
        random="results/{cohort}/mixed/{model}.random.csv",
    log:
        "logs/fit_mixed_model/{cohort}.{model}.log",
    benchmark:
        "logs/benchmarks/fit_mixed_model/{cohort}.{model}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(40),
        runtime=60,
    params:
        settings=mixed_settings,
    script:
        "../scripts/fit_mixed_model.py"
