rule report:
    input:
        unpack(report_inputs),
    output:
        html="results/{cohort}/report.html",
        overview=report(
            "results/{cohort}/figures/overview.svg",
            caption="../report/overview.rst",
            category="Data",
        ),
        scores=report(
            "results/{cohort}/figures/scores.svg",
            caption="../report/scores.rst",
            category="Scores",
        ),
    log:
        "logs/report/{cohort}.log",
    benchmark:
        "logs/benchmarks/report/{cohort}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/report.py"
